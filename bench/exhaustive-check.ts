// The independent formulation of f32 → bf16 RNE used by `npm run exhaustive` (and tested to
// catch a wrong fast path in test/exhaustive-check.test.ts).

/** the per-element form of the same rule (used to print mismatches) */
export function independent(u: number): number {
  const hi = u >>> 16;
  const lo = u & 0xffff;
  if ((hi & 0x7f80) === 0x7f80 && (u & 0x7fffff) !== 0) return hi | 0x40; // NaN: quieted, sign and top payload kept
  return lo > 0x8000 || (lo === 0x8000 && (hi & 1) === 1) ? hi + 1 : hi;
}

/**
 * The independent formulation, block-wise: the 65,536 inputs sharing a top half `hi` round to
 * hi below the tie (low half < 0x8000), to hi + 1 above it, and to the even one of the two at
 * the tie; a NaN block (exponent all ones, nonzero fraction bits in hi) gives the quieted top
 * half, and so do the NaNs of the ±Inf block (low half ≠ 0). Counts the outputs that differ.
 */
export function checkBlock(hi: number, out: Uint16Array, at: number): number {
  let bad = 0;
  const expAllOnes = (hi & 0x7f80) === 0x7f80;
  if (expAllOnes && (hi & 0x7f) !== 0) {
    const nan = hi | 0x40;
    for (let lo = 0; lo < 0x10000; lo++) if (out[at + lo] !== nan) bad++;
    return bad;
  }
  if (expAllOnes) {
    if (out[at] !== hi) bad++; // ±Inf itself
    const nan = hi | 0x40;
    for (let lo = 1; lo < 0x10000; lo++) if (out[at + lo] !== nan) bad++;
    return bad;
  }
  for (let lo = 0; lo < 0x8000; lo++) if (out[at + lo] !== hi) bad++;
  if (out[at + 0x8000] !== ((hi & 1) === 1 ? hi + 1 : hi)) bad++;
  const up = hi + 1;
  for (let lo = 0x8001; lo < 0x10000; lo++) if (out[at + lo] !== up) bad++;
  return bad;
}


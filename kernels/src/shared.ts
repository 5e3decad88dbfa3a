// Pieces of kernel code shared by several kernels, each written once and tagged `@inline`:
// codegen pastes the body at every call site (codegen/inline.ts) before lowering, because
// gpu.js's webasm emitter runs a helper call lane by lane. Run as plain TypeScript they are
// ordinary functions. They compute nothing on their own: each is validated through the
// kernels that use it (test/kernels.test.ts, test/kernels-model.test.ts, test/kernels-train.test.ts
// against the reference) and benchmarked with them (bench/kernels.bench.ts).
import type { Arr, int } from './precision.ts';

/**
 * The score of a masked (query, key) pair in attnScores' result: −3e38 (an exact float32), far
 * below any real logit and finite, so max() and the row statistics need no special case.
 * @inline
 */
export function masked(): number {
  return -3.0000000054977558e38;
}

/**
 * Whether a score is the masked sentinel (below −1e38, which no real logit reaches).
 * @inline
 */
export function isMasked(s: number): boolean {
  return s < -9.999999680285692e37;
}

/**
 * Whether a score is a real one (above −1e38). Not !isMasked(s): a NaN is neither.
 * @inline
 */
export function isScore(s: number): boolean {
  return s > -9.999999680285692e37;
}

/**
 * expf(z) for z ∈ [−104, 0] (the caller clamps): kf = floor(z·log2 e + 1/2); r = z − kf·ln2_hi −
 * kf·ln2_lo (Cody–Waite, ln2_hi has 16 significant bits, so kf·ln2_hi is exact);
 * p = 1 + r + r²·P(r) (degree-5 minimax P); result p · 2^kf with 2^kf read from the table
 * pow2[kf + 149] = 2^kf (kf ∈ [−150, 0]; kernels/ops.ts POW2_TABLE). Every constant is an exact
 * float32, so all backends round the same literals.
 * @inline
 */
export function expfNeg(z: number, pow2: Arr): number {
  const kf: int = Math.floor(z * 1.4426950216293335 + 0.5);
  const rr = z - kf * 0.693145751953125 - kf * 1.428606765330187e-6;
  return expfPoly(rr) * pow2[kf + 149];
}

/**
 * expf's polynomial on the reduced argument r (|r| ≤ ln2/2): 1 + r + r²·P(r), P the degree-5
 * minimax polynomial (float32 coefficients, Horner order); shared by expfNeg and expfWide.
 * @inline
 */
export function expfPoly(r: number): number {
  let p = 1.9875691214110702e-4;
  p = p * r + 1.398199936375022e-3;
  p = p * r + 8.333452045917511e-3;
  p = p * r + 4.166579619050026e-2;
  p = p * r + 1.666666567325592e-1;
  p = p * r + 0.5;
  p = p * r * r + r + 1;
  return p;
}

/**
 * expf(z) for any float32 z: z is clamped to [−104, 89] (outside, f32 exp is 0 or +Inf and so is
 * this); kf and p (expfPoly) as in expfNeg; result (p · 2^a) · 2^(kf − a), a = floor(kf / 2), both powers
 * read from pow2[i] = 2^(i − 75), i = 0 … 139 (kernels/ops.ts POW2_LAYERS: normal floats, so p·2^a
 * is exact and the one rounding is the last product, gradual underflow and overflow included).
 * @inline
 */
export function expfWide(z: number, pow2: Arr): number {
  const zc = Math.min(Math.max(z, -104), 89);
  const zk: int = Math.floor(zc * 1.4426950216293335 + 0.5);
  const za: int = Math.floor(zk / 2);
  const zr = zc - zk * 0.693145751953125 - zk * 1.428606765330187e-6;
  return expfPoly(zr) * pow2[za + 75] * pow2[zk - za + 75];
}

/**
 * The least of a[min(i0 + c, L − 1)], c = 0 … 3: over a quad of rows (rows past L read row
 * L − 1), e.g. the first key any of four query rows may attend to (a = rowLo).
 * @inline
 */
export function quadMin(a: Arr, i0: int, L: int): int {
  return Math.min(Math.min(a[Math.min(i0, L - 1)], a[Math.min(i0 + 1, L - 1)]), Math.min(a[Math.min(i0 + 2, L - 1)], a[Math.min(i0 + 3, L - 1)]));
}

/**
 * The greatest of a[min(j0 + c, L − 1)], c = 0 … 3, e.g. the last row that may attend to one
 * of four keys (a = colHi).
 * @inline
 */
export function quadMax(a: Arr, j0: int, L: int): int {
  return Math.max(Math.max(a[Math.min(j0, L - 1)], a[Math.min(j0 + 1, L - 1)]), Math.max(a[Math.min(j0 + 2, L - 1)], a[Math.min(j0 + 3, L - 1)]));
}

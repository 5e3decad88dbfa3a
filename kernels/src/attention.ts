// Block-sparse attention forward in four kernels, driven by a block table so that empty
// B×B tiles are never visited and full tiles skip the mask. A chunk is a list of
// (head, query block) entries, each with its tiles (key blocks in increasing order):
//   attnScores    4 query rows × 1 key per cell: s = f32(f32(Σ_d q·k, d = 0..D−1 in order) ·
//                 scale), the reference's logit bit for bit; MASKED where the pair is not allowed
//   attnRowStats  per chunk row [m, l]: m = max_j s_j, l = Σ_j e_j in key order,
//                 e_j = exp(s_j − m) rounded to f32 (the polynomial expf below)
//   attnProbs     4 query rows × 1 key per cell: e_j (bf16(e_j) on the bf16 path), 0 where masked
//   attnOut       4 output rows × 1 column per cell: acc = Σ_j p_j·v_j in key order, out = acc / l,
//                 rounded to the output (bf16 or f32)
// Several outputs per cell (register blocking) because gpu.js webasm reads a lane-varying
// index as 4 scalar loads, a lane-uniform one as 1: each key (or v) element read serves 4 rows.
// Scores and probabilities are laid out [tile][ii div 4][jj][ii mod 4] (element (t, ii, jj) at
// t·B² + (ii − ii mod 4)·B + 4·jj + ii mod 4); B is a multiple of 4.
// The host computes lse = f32(m + f32(log l)). This is the reference's two-pass softmax
// (reference/attention.ts attentionForwardPartial) with its roundings and orders; the one
// difference is exp: expf instead of f32(Math.exp(x)) (≤ 1 ulp apart, SPEC.md).
// Variants: 0 = full (causal), 1 = intra_doc (and intra_doc_reset), 2 = anchor (doc id 0).
// GQA: query head h reads key/value head floor(h / group).
//
// expf(z) for z ≤ 0 is expfNeg (kernels/src/shared.ts, @inline: pasted by codegen where used,
// as a helper call would run lane by lane on webasm); the callers clamp z to −104 (below, exp
// underflows to 0 in f32 anyway: the result is then below 2^−149·2). MASKED is masked() there.
//
// Validated: test/kernels.test.ts (attentionForward against reference/attention.ts on every
// backend, bit for bit up to the expf contract). Benchmarked: bench/kernels.bench.ts.
// Versions: gpu.js's lowering per backend (generated/<kernel>.<backend>.ts); on webasm the kernels
// tagged @simd run codegen's wasm SIMD lowering instead (generated/<kernel>.simd.ts), the same
// float32 operations in the same order, held to gpu.js's webasm bits by test/simd.test.ts.
import { bf16, ROUNDING, type Arr, type int, type Thread } from './precision.ts';
import { expfNeg, isMasked, isScore, masked, quadMin } from './shared.ts';

/** the mask variant code attnScores takes (intra_doc_reset masks as intra_doc) */
export const ATTN_VARIANT = { full: 0, intra_doc: 1, intra_doc_reset: 1, anchor: 2 } as const;
/** a tile's kind in the block table (tileFull): every pair allowed, some, or a padding tile (no pair) */
export const TILE_KIND = { padding: -1, partial: 0, full: 1 } as const;

/**
 * Scores of four query rows against one key (register blocking: the key row is read once
 * for four dot products); cell (x = jj, y = iq, z = tile) returns s for rows ii = 4·iq + c,
 * c = 0 … 3. The result, stride 4, is laid out [tile][iq][jj][c]: element (t, ii, jj) sits at
 * t·B² + (ii − ii mod 4)·B + 4·jj + ii mod 4. Tiles: tileH, tileQb, tileKb, tileFull (1 full,
 * 0 partial, −1 padding). MASKED (−3e38) where the pair is not allowed. rowLo[i] is the first key
 * row i may attend to, colHi[j] the last row that may attend to key j (kernels/ops.ts keyBounds);
 * docIds and colHi are padded to Lp (colHi with −1).
 * The keys come transposed and padded, kT [Hkv, D, Lp] (Lp = nb·B, zeros past L; kernels/ops.ts
 * keysTransposed): neighbouring cells (keys j, j + 1, …) read neighbouring values, one vector
 * load on webasm's SIMD lowering where k [Hkv, L, D] took a 4-load gather.
 * @kernel
 * @simd 2
 * @reference reference/attention.ts logit (bf16_flash / f32)
 */
export function attnScores(this: Thread, q: Arr, kT: Arr, docIds: Arr, rowLo: Arr, colHi: Arr, tileH: Arr, tileQb: Arr, tileKb: Arr, tileFull: Arr, L: int, Lp: int, D: int, B: int, group: int, variant: int, scale: number): number[] {
  const jj: int = this.thread.x;
  const iq: int = this.thread.y;
  const t: int = this.thread.z;
  const full: int = tileFull[t];
  // a padding tile (TILE_KIND.padding; uniform per cell quad: a real branch, no dot products)
  if (full < TILE_KIND.partial) return [masked(), masked(), masked(), masked()];
  const h: int = tileH[t];
  const i0: int = tileQb[t] * B + iq * 4;
  const k0: int = tileKb[t] * B; // the tile's first key: uniform, so that j (below) is x-affine
  const j: int = k0 + jj;
  const g: int = Math.floor(h / group);
  // rows past L (the last block's padding) read row L − 1, keys past L the zero padding of kT;
  // both are masked below
  const ko: int = g * D * Lp + j;
  const q0: int = (h * L + Math.min(i0, L - 1)) * D;
  const q1: int = (h * L + Math.min(i0 + 1, L - 1)) * D;
  const q2: int = (h * L + Math.min(i0 + 2, L - 1)) * D;
  const q3: int = (h * L + Math.min(i0 + 3, L - 1)) * D;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  if (full === TILE_KIND.full) {
    // @unroll 4
    for (let e: int = 0; e < D; e++) {
      const kv = kT[ko + e * Lp];
      s0 += q[q0 + e] * kv;
      s1 += q[q1 + e] * kv;
      s2 += q[q2 + e] * kv;
      s3 += q[q3 + e] * kv;
    }
  } else {
    // a partial tile: no dot products where the key is masked for all four rows (after the
    // last row, before every row's first allowed key, or after its last allowed row; colHi is
    // padded to Lp with −1, so a padding key has none either, and colHi[j] is one vector load)
    const lo: int = quadMin(rowLo, i0, L);
    if (j <= i0 + 3 && j >= lo && i0 <= colHi[j]) {
      // @unroll 4
      for (let e: int = 0; e < D; e++) {
        const kv = kT[ko + e * Lp];
        s0 += q[q0 + e] * kv;
        s1 += q[q1 + e] * kv;
        s2 += q[q2 + e] * kv;
        s3 += q[q3 + e] * kv;
      }
    }
  }
  s0 = s0 * scale;
  s1 = s1 * scale;
  s2 = s2 * scale;
  s3 = s3 * scale;
  if (full !== 1) {
    const dj = docIds[j]; // padded to Lp (a padding key is masked by j > i0 below)
    // allowed: causal, inside L, and (full | same document | anchor key on the anchor variant)
    const any: int = variant === ATTN_VARIANT.full || (variant === ATTN_VARIANT.anchor && dj === 0) ? 1 : 0;
    if (j > i0 || i0 >= L || (any === 0 && docIds[Math.min(i0, L - 1)] !== dj)) s0 = masked();
    if (j > i0 + 1 || i0 + 1 >= L || (any === 0 && docIds[Math.min(i0 + 1, L - 1)] !== dj)) s1 = masked();
    if (j > i0 + 2 || i0 + 2 >= L || (any === 0 && docIds[Math.min(i0 + 2, L - 1)] !== dj)) s2 = masked();
    if (j > i0 + 3 || i0 + 3 >= L || (any === 0 && docIds[Math.min(i0 + 3, L - 1)] !== dj)) s3 = masked();
  }
  return [s0, s1, s2, s3];
}

/**
 * Row statistics of chunk row r = e·B + ii (entry e's tiles are cStart[e] … cEnd[e] − 1 of
 * the scores, in attnScores' layout): cell (x = ii, y = e) returns [m, l]: m = max s (−3e38 for
 * a row without allowed keys), l = Σ f32(exp(s − m)) in key order (one max pass for both; the
 * result, stride 2, holds m at 2r and l at 2r + 1: cell (ii, e) is element e·B + ii of the grid).
 * The entry is the cell's y, so the tile loops are the same for all lanes (x = ii) and the
 * kernel runs on the wasm SIMD lowering (`@simd 2`). Only a tile's attended keys, tileJ0[t] …
 * tileJ1[t] − 1, are read: the others are masked for every row (a masked score changes neither
 * m nor l).
 * @kernel
 * @simd 2
 * @reference reference/attention.ts attentionForwardPartial (m, l)
 */
export function attnRowStats(this: Thread, s: Arr, cStart: Arr, cEnd: Arr, tileJ0: Arr, tileJ1: Arr, pow2: Arr, B: int): number[] {
  const ii: int = this.thread.x;
  const e: int = this.thread.y;
  const c4: int = ii - Math.floor(ii / 4) * 4;
  const t0: int = cStart[e];
  const t1: int = cEnd[e];
  let m = masked();
  for (let t: int = t0; t < t1; t++) {
    const o: int = (t * B + ii - c4) * B + c4;
    const j1: int = tileJ1[t];
    for (let jj: int = tileJ0[t]; jj < j1; jj++) {
      m = Math.max(m, s[o + jj * 4]);
    }
  }
  let l = 0;
  for (let u: int = t0; u < t1; u++) {
    const o2: int = (u * B + ii - c4) * B + c4;
    const k1: int = tileJ1[u];
    for (let kk: int = tileJ0[u]; kk < k1; kk++) {
      const x = s[o2 + kk * 4];
      if (isScore(x)) {
        const z = Math.max(x - m, -104);
        l += expfNeg(z, pow2);
      }
    }
  }
  return [m, l];
}

/**
 * e = exp(s − m) of four scores (rows ii = 4·iq + c against key jj), rounded to bf16 when
 * bf16io = 1; 0 where masked, without an exp (on webasm's SIMD lowering a group of lanes all
 * masked skips it; a NaN score is not masked, so its NaN goes on as before). Cell (x = jj, y = iq, z = tile), the result in attnScores' layout;
 * tileRow[t] = the chunk row of the tile's first query.
 * @kernel
 * @simd 2
 * @reference reference/attention.ts attentionForwardPartial (the weight P·V sees)
 */
export function attnProbs(this: Thread, s: Arr, stats: Arr, tileRow: Arr, pow2: Arr, B: int, bf16io: int): number[] {
  const jj: int = this.thread.x;
  const iq: int = this.thread.y;
  const t: int = this.thread.z;
  const n: int = ((t * B + iq * 4) * B + jj * 4);
  const r: int = tileRow[t] + iq * 4;
  let w0 = 0;
  if (!isMasked(s[n + 0])) {
    const z0 = Math.max(s[n + 0] - stats[2 * (r + 0)], -104);
    w0 = expfNeg(z0, pow2);
  }
  let w1 = 0;
  if (!isMasked(s[n + 1])) {
    const z1 = Math.max(s[n + 1] - stats[2 * (r + 1)], -104);
    w1 = expfNeg(z1, pow2);
  }
  let w2 = 0;
  if (!isMasked(s[n + 2])) {
    const z2 = Math.max(s[n + 2] - stats[2 * (r + 2)], -104);
    w2 = expfNeg(z2, pow2);
  }
  let w3 = 0;
  if (!isMasked(s[n + 3])) {
    const z3 = Math.max(s[n + 3] - stats[2 * (r + 3)], -104);
    w3 = expfNeg(z3, pow2);
  }
  if (bf16io === ROUNDING.bf16) {
    w0 = bf16(w0);
    w1 = bf16(w1);
    w2 = bf16(w2);
    w3 = bf16(w3);
  }
  return [w0, w1, w2, w3];
}

/**
 * Four output rows of one head-dim column (register blocking: each v element is read once
 * for four rows); cell (x = d, y = rq) returns out for chunk rows r = 4·rq + c, c = 0 … 3 (row
 * r = e·B + ii of entry e: head cH[e], tiles cStart[e] … cEnd[e] − 1). out = (Σ p·v in key
 * order) / l, the sum over the keys from min rowLo (the first allowed key of a row) of the
 * four rows to the last row, within the tile's attended keys tileJ0[t] … tileJ1[t] − 1 (p = 0
 * outside: the reference sums allowed keys only, so they are skipped),
 * rounded to bf16 when bf16io = 1; p in attnScores' layout; stats is attnRowStats' result
 * (l of row r at 2r + 1). The result, stride 4, is laid out [rq][d][c].
 * On webasm it runs codegen's wasm SIMD lowering (`@simd 2`: 8 columns d per step, each v row
 * read as two float32x4, p splatted): the same sums in the same order, bit for bit.
 * @kernel
 * @simd 2
 * @reference reference/attention.ts attentionForward (out)
 */
export function attnOut(this: Thread, p: Arr, v: Arr, stats: Arr, cH: Arr, cStart: Arr, cEnd: Arr, tileQb: Arr, tileKb: Arr, tileJ0: Arr, tileJ1: Arr, rowLo: Arr, L: int, D: int, B: int, group: int, bf16io: int): number[] {
  const d: int = this.thread.x;
  const rq: int = this.thread.y;
  const r: int = rq * 4;
  const e: int = Math.floor(r / B);
  const ii: int = r - e * B;
  const g: int = Math.floor(cH[e] / group);
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const t0: int = cStart[e];
  const t1: int = cEnd[e];
  // the quad's keys: from the least first allowed key of its rows to its last row (causal)
  const i0: int = tileQb[t0] * B + ii;
  const lo: int = quadMin(rowLo, i0, L);
  for (let t: int = t0; t < t1; t++) {
    const kb: int = tileKb[t];
    const po: int = (t * B + ii) * B;
    const vo: int = (g * L + kb * B) * D + d;
    let n: int = B;
    if (kb * B + B > L) n = L - kb * B;
    if (i0 + 4 - kb * B < n) n = i0 + 4 - kb * B;
    if (tileJ1[t] < n) n = tileJ1[t];
    let j0: int = tileJ0[t];
    if (lo - kb * B > j0) j0 = lo - kb * B;
    // @unroll 4
    for (let jj: int = j0; jj < n; jj++) {
      const vv = v[vo + jj * D];
      const pj: int = po + jj * 4;
      a0 += p[pj] * vv;
      a1 += p[pj + 1] * vv;
      a2 += p[pj + 2] * vv;
      a3 += p[pj + 3] * vv;
    }
  }
  if (t1 === t0) return [0, 0, 0, 0];
  let o0 = a0 / stats[2 * r + 1];
  let o1 = a1 / stats[2 * r + 3];
  let o2 = a2 / stats[2 * r + 5];
  let o3 = a3 / stats[2 * r + 7];
  if (bf16io === ROUNDING.bf16) {
    o0 = bf16(o0);
    o1 = bf16(o1);
    o2 = bf16(o2);
    o3 = bf16(o3);
  }
  return [o0, o1, o2, o3];
}

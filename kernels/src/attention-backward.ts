// Block-sparse attention backward (reference/attention.ts attentionBackward, paths f32 and
// bf16_flash) in four kernels after attnScores, driven by the same block table and chunks:
//   attnBwdProbs  per score: P = exp(f32(s − lse_i)) (expf below) and the weight dV sees,
//                 w = bf16(P) on the bf16 path (P on f32); 0 where masked
//   attnBwdDs     per score, four query rows per cell: dP = Σ_d dO_i·v_j in order, then
//                 dS = f32(P·f32(dP − D_i)), rounded to bf16 on the bf16 path
//   attnBwdRows   dQ accumulators: Σ_j dS_ij·k_j over the row's tiles in key order
//   attnBwdCols   dK / dV accumulators of one key: continues the previous chunk's sum over
//                 (query head, query row) in increasing order with dS·q (dK) or w·dO (dV)
// The host computes D_i = Σ_d dO·O (f32, in order) and the final roundings: dq = act(f32(acc ·
// scale)), dk = act(f32(acc · scale)), dv = act(acc), act = bf16 on the bf16 path, the
// reference's formulas. Every sum has the reference's order; the one difference is exp.
// Scores, dS and the probabilities use attnScores' layout (tile, ii div 4, jj, ii mod 4).
// exp is expfNeg, the quad bounds quadMin / quadMax (kernels/src/shared.ts, @inline).
//
// Validated: test/kernels.test.ts and test/kernels-train.test.ts (attentionBackward against
// reference/attention.ts). Benchmarked: bench/kernels.bench.ts.
// Versions: gpu.js's lowering per backend (generated/<kernel>.<backend>.ts); on webasm the kernels
// tagged @simd run codegen's wasm SIMD lowering instead (generated/<kernel>.simd.ts), the same
// float32 operations in the same order, held to gpu.js's webasm bits by test/simd.test.ts.
import { bf16, ROUNDING, type Arr, type int, type Thread } from './precision.ts';
import { TILE_KIND } from './attention.ts';
import { expfNeg, isMasked, quadMax, quadMin } from './shared.ts';

/**
 * [P, w] of one score; cell x = n, the score's index in attnScores' layout; rowLse[r] is the
 * lse of chunk row r, tileRow[t] the chunk row of tile t's first query. The result is stride 2.
 * @kernel
 * @simd 2
 * @reference reference/attention.ts attentionBackward (probs, w)
 */
export function attnBwdProbs(this: Thread, s: Arr, rowLse: Arr, tileRow: Arr, pow2: Arr, B: int, bf16io: int): number[] {
  const n: int = this.thread.x;
  const t: int = Math.floor(n / (B * B));
  const w4: int = n - t * B * B;
  const iq: int = Math.floor(w4 / (4 * B));
  const ii: int = iq * 4 + (w4 - Math.floor(w4 / 4) * 4);
  const x = s[n];
  // a masked score gives [0, 0]; its exponent is taken as 0 (no subnormal work), and its results
  // are replaced at the end (no early return, so lanes never diverge: the SIMD lowering takes it)
  let z = Math.min(Math.max(x - rowLse[tileRow[t] + ii], -104), 0);
  if (isMasked(x)) z = 0;
  let e = expfNeg(z, pow2);
  let w = e;
  if (bf16io === ROUNDING.bf16) w = bf16(e);
  if (isMasked(x)) {
    e = 0;
    w = 0;
  }
  return [e, w];
}

/**
 * dS of four query rows against one key; cell (x = jj, y = iq, z = tile), rows ii = 4·iq + c.
 * probs = attnBwdProbs' result (P at 2n); rowDot[r] = D_i of chunk row r; rowLo / colHi as in
 * attnScores. Laid out like the scores. The values come transposed and padded like attnScores'
 * keys, vT [Hkv, D, Lp] (one vector load per step on webasm's SIMD lowering).
 * @kernel
 * @simd 2
 * @reference reference/attention.ts attentionBackward (dS)
 */
export function attnBwdDs(this: Thread, probs: Arr, dO: Arr, vT: Arr, rowDot: Arr, rowLo: Arr, colHi: Arr, tileH: Arr, tileQb: Arr, tileKb: Arr, tileFull: Arr, tileRow: Arr, L: int, Lp: int, D: int, B: int, group: int, bf16io: int): number[] {
  const jj: int = this.thread.x;
  const iq: int = this.thread.y;
  const t: int = this.thread.z;
  const h: int = tileH[t];
  const i0: int = tileQb[t] * B + iq * 4;
  const k0: int = tileKb[t] * B; // the tile's first key: uniform, so that j (below) is x-affine
  const j: int = k0 + jj;
  const g: int = Math.floor(h / group);
  const vo: int = g * D * Lp + j;
  const o0: int = (h * L + Math.min(i0, L - 1)) * D;
  const o1: int = (h * L + Math.min(i0 + 1, L - 1)) * D;
  const o2: int = (h * L + Math.min(i0 + 2, L - 1)) * D;
  const o3: int = (h * L + Math.min(i0 + 3, L - 1)) * D;
  let d0 = 0;
  let d1 = 0;
  let d2 = 0;
  let d3 = 0;
  const full: int = tileFull[t];
  if (full === TILE_KIND.full) {
    // @unroll 2
    for (let e: int = 0; e < D; e++) {
      const vv = vT[vo + e * Lp];
      d0 += dO[o0 + e] * vv;
      d1 += dO[o1 + e] * vv;
      d2 += dO[o2 + e] * vv;
      d3 += dO[o3 + e] * vv;
    }
  } else {
    // a partial tile: no dot products where the key is masked for all four rows (P = 0 there,
    // so dS is a zero either way); padding tiles (−1) have no allowed pair; colHi is padded to
    // Lp with −1 (attnScores)
    const lo: int = quadMin(rowLo, i0, L);
    if (full === TILE_KIND.partial && j <= i0 + 3 && j >= lo && i0 <= colHi[j]) {
      // @unroll 2
      for (let e: int = 0; e < D; e++) {
        const vv = vT[vo + e * Lp];
        d0 += dO[o0 + e] * vv;
        d1 += dO[o1 + e] * vv;
        d2 += dO[o2 + e] * vv;
        d3 += dO[o3 + e] * vv;
      }
    }
  }
  const n: int = ((t * B + iq * 4) * B + jj * 4) * 2;
  const r: int = tileRow[t] + iq * 4;
  let s0 = probs[n] * (d0 - rowDot[r]);
  let s1 = probs[n + 2] * (d1 - rowDot[r + 1]);
  let s2 = probs[n + 4] * (d2 - rowDot[r + 2]);
  let s3 = probs[n + 6] * (d3 - rowDot[r + 3]);
  if (bf16io === ROUNDING.bf16) {
    s0 = bf16(s0);
    s1 = bf16(s1);
    s2 = bf16(s2);
    s3 = bf16(s3);
  }
  return [s0, s1, s2, s3];
}

/**
 * dQ accumulators of four chunk rows r = 4·rq + c for column d: Σ_j dS_ij·k_j[d] over the
 * row's tiles (cStart[e] … cEnd[e] − 1, keys in increasing order; keys before min rowLo of the
 * four rows or after the last row are skipped: dS = 0 there); cell (x = d, y = rq).
 * The result, stride 4, is laid out [rq][d][c].
 * @kernel
 * @simd 2
 * @reference reference/attention.ts attentionBackward (dQ before the scale)
 */
export function attnBwdRows(this: Thread, ds: Arr, k: Arr, cH: Arr, cStart: Arr, cEnd: Arr, tileQb: Arr, tileKb: Arr, rowLo: Arr, L: int, D: int, B: int, group: int): number[] {
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
  // the quad's keys: from the least first allowed key of its rows to its last row (dS = 0 outside)
  const i0: int = tileQb[t0] * B + ii;
  const lo: int = quadMin(rowLo, i0, L);
  for (let t: int = t0; t < t1; t++) {
    const kb: int = tileKb[t];
    const po: int = (t * B + ii) * B;
    const ko: int = (g * L + kb * B) * D + d;
    let n: int = B;
    if (kb * B + B > L) n = L - kb * B;
    if (i0 + 4 - kb * B < n) n = i0 + 4 - kb * B;
    let j0: int = 0;
    if (lo > kb * B) j0 = lo - kb * B;
    // @unroll 2
    for (let jj: int = j0; jj < n; jj++) {
      const kv = k[ko + jj * D];
      const pj: int = po + jj * 4;
      a0 += ds[pj] * kv;
      a1 += ds[pj + 1] * kv;
      a2 += ds[pj + 2] * kv;
      a3 += ds[pj + 3] * kv;
    }
  }
  return [a0, a1, a2, a3];
}

/** attnBwdCols' (aStride, aOff) for dK (a = dS) and for dV (a = w, the odd entries of attnBwdProbs' result) */
export const COLS_DK = { aStride: 1, aOff: 0 } as const;
export const COLS_DV = { aStride: 2, aOff: 1 } as const;

/**
 * dK or dV accumulators of four keys j = 4·kq + c (c = 0 … 3) of key/value head g (key row
 * g·Lp + j, Lp = nb·B) for column d: prev (the previous chunk's result, same layout) plus
 * Σ a_ij·x_i[d] over the chunk's tiles of the key's column block (colTile[colStart[g·nb + kb]
 * … colEnd − 1], in increasing (head, query block)), rows in increasing order from the quad's
 * first key to the last row colHi allows for one of its keys (a = 0 elsewhere). a = dS (aStride
 * 1, aOff 0) with x = q for dK; a = w (the probabilities, aStride 2, aOff 1) with x = dO for dV.
 * Cell (x = d, y = kq); the result, stride 4, is laid out [kq][d][c].
 * @kernel
 * @simd 2
 * @reference reference/attention.ts attentionBackward (dK before the scale, dV)
 */
export function attnBwdCols(this: Thread, a: Arr, x: Arr, prev: Arr, colStart: Arr, colEnd: Arr, colTile: Arr, tileH: Arr, tileQb: Arr, colHi: Arr, L: int, D: int, B: int, nb: int, aStride: int, aOff: int): number[] {
  const d: int = this.thread.x;
  const kq: int = this.thread.y;
  const kr: int = kq * 4;
  const gb: int = Math.floor(kr / B);
  const jj: int = kr - gb * B;
  const po: int = (kq * D + d) * 4;
  let a0 = prev[po];
  let a1 = prev[po + 1];
  let a2 = prev[po + 2];
  let a3 = prev[po + 3];
  const c0: int = colStart[gb];
  const c1: int = colEnd[gb];
  // the quad's rows: from its first key (causal) to the last row that may attend to one of
  // its keys (a = 0 outside)
  const j0: int = (gb - Math.floor(gb / nb) * nb) * B + jj;
  const hi: int = quadMax(colHi, j0, L);
  for (let c: int = c0; c < c1; c++) {
    const t: int = colTile[c];
    const qb: int = tileQb[t];
    const xo: int = (tileH[t] * L + qb * B) * D + d;
    let n: int = B;
    if (qb * B + B > L) n = L - qb * B;
    if (hi + 1 - qb * B < n) n = hi + 1 - qb * B;
    let i0: int = 0;
    if (j0 > qb * B) i0 = j0 - qb * B;
    const ao: int = t * B * B + jj * 4;
    for (let ii: int = i0; ii < n; ii++) {
      const xv = x[xo + ii * D];
      const ai: int = (ao + (ii - Math.floor(ii / 4) * 4) + Math.floor(ii / 4) * 4 * B) * aStride + aOff;
      a0 += a[ai] * xv;
      a1 += a[ai + 4 * aStride] * xv;
      a2 += a[ai + 8 * aStride] * xv;
      a3 += a[ai + 12 * aStride] * xv;
    }
  }
  return [a0, a1, a2, a3];
}

// Block-sparse attention forward in three kernels, driven by a block table so that empty
// B×B tiles are never visited and full tiles skip the mask:
//   attnLse     per query row: online softmax (running max, rescaled sum) over the row's
//               tiles → LSE = m + log(l)
//   attnProbs   per tile element: P = exp(s − LSE), rounded to bf16 on the bf16 path, 0 where
//               masked; tiles are listed (head, query block, key block, full)
//   attnOut     per output element: out = Σ_j P·v over the row's tiles, rounded to the output
// Scores are the reference's: s = f32(f32(Σ_d q·k, in order d = 0..D−1) · scale).
// Variants: 0 = full (causal), 1 = intra_doc (and intra_doc_reset), 2 = anchor (doc id 0).
// GQA: query head h reads key/value head floor(h / group).
import { bf16, type Arr, type int, type Thread } from './precision.ts';

/**
 * One query row's LSE; cell (x = i, y = h). rowStart/rowTiles: the block table as CSR over
 * query blocks (key block kb = tileKb[t], fully allowed when tileFull[t] = 1).
 * @kernel
 * @reference reference/attention.ts attentionForward (lse)
 */
export function attnLse(this: Thread, q: Arr, k: Arr, docIds: Arr, rowStart: Arr, tileKb: Arr, tileFull: Arr, L: int, D: int, B: int, group: int, variant: int, scale: number): number {
  const i: int = this.thread.x;
  const h: int = this.thread.y;
  const g: int = Math.floor(h / group);
  const qb: int = Math.floor(i / B);
  const qo: int = (h * L + i) * D;
  const di = docIds[i];
  let m = -3.0e38;
  let l = 0;
  const t0: int = rowStart[qb];
  const t1: int = rowStart[qb + 1];
  for (let t: int = t0; t < t1; t++) {
    const kb: int = tileKb[t];
    const full: int = tileFull[t];
    for (let jj: int = 0; jj < B; jj++) {
      const j: int = kb * B + jj;
      let ok: int = full;
      if (full === 0 && j <= i && j < L) {
        const dj = docIds[j];
        if (variant === 0 || dj === di || (variant === 2 && dj === 0)) ok = 1;
      }
      if (ok === 1) {
        const ko: int = (g * L + j) * D;
        let s = 0;
        // @unroll 4
        for (let e: int = 0; e < D; e++) {
          s += q[qo + e] * k[ko + e];
        }
        s = s * scale;
        if (s > m) {
          l = l * Math.exp(m - s);
          m = s;
        }
        l += Math.exp(s - m);
      }
    }
  }
  return m + Math.log(l);
}

/**
 * P for one tile element; cell (x = jj, y = ii, z = tile). Tiles: tileH, tileQb, tileKb,
 * tileFull (1 full, 0 partial, −1 padding → 0). bf16io = 1 rounds P to bf16.
 * @kernel
 * @reference reference/attention.ts attentionScores (probs)
 */
export function attnProbs(this: Thread, q: Arr, k: Arr, lse: Arr, docIds: Arr, tileH: Arr, tileQb: Arr, tileKb: Arr, tileFull: Arr, L: int, D: int, B: int, group: int, variant: int, scale: number, bf16io: int): number {
  const jj: int = this.thread.x;
  const ii: int = this.thread.y;
  const t: int = this.thread.z;
  const full: int = tileFull[t];
  const h: int = tileH[t];
  const i: int = tileQb[t] * B + ii;
  const j: int = tileKb[t] * B + jj;
  let ok: int = 0;
  if (full === 1 && i < L) ok = 1;
  if (full === 0 && j <= i && i < L) {
    const di = docIds[i];
    const dj = docIds[j];
    if (variant === 0 || dj === di || (variant === 2 && dj === 0)) ok = 1;
  }
  if (ok === 0) return 0;
  const g: int = Math.floor(h / group);
  const qo: int = (h * L + i) * D;
  const ko: int = (g * L + j) * D;
  let s = 0;
  // @unroll 4
  for (let e: int = 0; e < D; e++) {
    s += q[qo + e] * k[ko + e];
  }
  s = s * scale;
  const p = Math.exp(s - lse[h * L + i]);
  if (bf16io === 1) return bf16(p);
  return p;
}

/**
 * One output element; cell (x = d, y = r) for chunk row r = e·B + ii of query-block entry e
 * (its tiles are probs tiles cStart[e] … cEnd[e] − 1, head cH[e]). bf16io = 1 rounds to bf16.
 * @kernel
 * @reference reference/attention.ts attentionForward (out)
 */
export function attnOut(this: Thread, p: Arr, v: Arr, cH: Arr, cStart: Arr, cEnd: Arr, tileKb: Arr, L: int, D: int, B: int, group: int, bf16io: int): number {
  const d: int = this.thread.x;
  const r: int = this.thread.y;
  const e: int = Math.floor(r / B);
  const ii: int = r - e * B;
  const g: int = Math.floor(cH[e] / group);
  let acc = 0;
  const t0: int = cStart[e];
  const t1: int = cEnd[e];
  for (let t: int = t0; t < t1; t++) {
    const kb: int = tileKb[t];
    const po: int = (t * B + ii) * B;
    for (let jj: int = 0; jj < B; jj++) {
      const j: int = kb * B + jj;
      if (j < L) acc += p[po + jj] * v[(g * L + j) * D + d];
    }
  }
  if (bf16io === 1) return bf16(acc);
  return acc;
}

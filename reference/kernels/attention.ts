// Block-sparse attention forward in four kernels, driven by a block table so that empty
// B×B tiles are never visited and full tiles skip the mask. A chunk is a list of
// (head, query block) entries, each with its tiles (key blocks in increasing order):
//   attnScores    per tile element: s = f32(f32(Σ_d q·k, d = 0..D−1 in order) · scale), the
//                 reference's logit bit for bit; MASKED where the pair is not allowed
//   attnRowStats  per chunk row: y = 0 → m = max_j s_j; y = 1 → l = Σ_j e_j in key order,
//                 e_j = exp(s_j − m) rounded to f32 (the polynomial expf below)
//   attnProbs     per tile element: e_j (bf16(e_j) on the bf16 path), 0 where masked
//   attnOut       per output element: acc = Σ_j p_j·v_j in key order, out = acc / l,
//                 rounded to the output (bf16 or f32)
// The host computes lse = f32(m + f32(log l)). This is the reference's two-pass softmax
// (reference/attention.ts attentionForwardPartial) with its roundings and orders; the one
// difference is exp: expf instead of f32(Math.exp(x)) (≤ 1 ulp apart, SPEC.md).
// Variants: 0 = full (causal), 1 = intra_doc (and intra_doc_reset), 2 = anchor (doc id 0).
// GQA: query head h reads key/value head floor(h / group).
//
// expf(z) for z ≤ 0 (inlined where used: a helper call would run lane by lane on webasm):
// z is clamped to −104 (below, exp underflows to 0 in f32 anyway: the result is then below
// 2^−149·2); kf = floor(z·log2 e + 1/2); r = z − kf·ln2_hi − kf·ln2_lo (Cody–Waite, ln2_hi has
// 16 significant bits, so kf·ln2_hi is exact); p = 1 + r + r²·P(r) (degree-5 minimax P);
// (every constant is an exact float32, so all backends round the same literals)
// result p · 2^kf with 2^kf read from the table pow2[kf + 149] = 2^(kf) (kf ∈ [−150, 0]).
import { bf16, type Arr, type int, type Thread } from './precision.ts';

/**
 * Score of one tile element; cell (x = jj, y = ii, z = tile). Tiles: tileH, tileQb, tileKb,
 * tileFull (1 full, 0 partial, −1 padding). Returns −3e38 (MASKED) where the pair is not allowed.
 * @kernel
 * @reference reference/attention.ts logit (bf16_flash / f32)
 */
export function attnScores(this: Thread, q: Arr, k: Arr, docIds: Arr, tileH: Arr, tileQb: Arr, tileKb: Arr, tileFull: Arr, L: int, D: int, B: int, group: int, variant: int, scale: number): number {
  const jj: int = this.thread.x;
  const ii: int = this.thread.y;
  const t: int = this.thread.z;
  const full: int = tileFull[t];
  const h: int = tileH[t];
  const i: int = tileQb[t] * B + ii;
  const j: int = tileKb[t] * B + jj;
  let ok: int = 0;
  if (full === 1) ok = 1;
  if (full === 0 && j <= i && i < L) {
    const di = docIds[i];
    const dj = docIds[j];
    if (variant === 0 || dj === di || (variant === 2 && dj === 0)) ok = 1;
  }
  if (ok === 0) return -3.0000000054977558e38;
  const g: int = Math.floor(h / group);
  const qo: int = (h * L + i) * D;
  const ko: int = (g * L + j) * D;
  let s = 0;
  // @unroll 8
  for (let e: int = 0; e < D; e++) {
    s += q[qo + e] * k[ko + e];
  }
  return s * scale;
}

/**
 * Row statistics of chunk row r = e·B + ii (entry e's tiles are cStart[e] … cEnd[e] − 1 of
 * the scores): cell (x = r, y = c); c = 0 → m (−3e38 for a row without allowed keys),
 * c = 1 → l = Σ f32(exp(s − m)) in key order.
 * @kernel
 * @reference reference/attention.ts attentionForwardPartial (m, l)
 */
export function attnRowStats(this: Thread, s: Arr, cStart: Arr, cEnd: Arr, pow2: Arr, B: int): number {
  const r: int = this.thread.x;
  const c: int = this.thread.y;
  const e: int = Math.floor(r / B);
  const ii: int = r - e * B;
  const t0: int = cStart[e];
  const t1: int = cEnd[e];
  let m = -3.0000000054977558e38;
  for (let t: int = t0; t < t1; t++) {
    const o: int = (t * B + ii) * B;
    for (let jj: int = 0; jj < B; jj++) {
      m = Math.max(m, s[o + jj]);
    }
  }
  if (c === 0) return m;
  let l = 0;
  for (let u: int = t0; u < t1; u++) {
    const o2: int = (u * B + ii) * B;
    for (let kk: int = 0; kk < B; kk++) {
      const x = s[o2 + kk];
      if (x > -9.999999680285692e37) {
        const z = Math.max(x - m, -104);
        const kf: int = Math.floor(z * 1.4426950216293335 + 0.5);
        const rr = z - kf * 0.693145751953125 - kf * 1.428606765330187e-6;
        let p = 1.9875691214110702e-4;
        p = p * rr + 1.398199936375022e-3;
        p = p * rr + 8.333452045917511e-3;
        p = p * rr + 4.166579619050026e-2;
        p = p * rr + 1.666666567325592e-1;
        p = p * rr + 0.5;
        p = p * rr * rr + rr + 1;
        l += p * pow2[kf + 149];
      }
    }
  }
  return l;
}

/**
 * e = exp(s − m) of one tile element, rounded to bf16 when bf16io = 1; 0 where masked.
 * Cell (x = jj, y = ii, z = tile); tileRow[t] = the chunk row of the tile's first query.
 * @kernel
 * @reference reference/attention.ts attentionForwardPartial (the weight P·V sees)
 */
export function attnProbs(this: Thread, s: Arr, stats: Arr, tileRow: Arr, pow2: Arr, B: int, bf16io: int): number {
  const jj: int = this.thread.x;
  const ii: int = this.thread.y;
  const t: int = this.thread.z;
  const x = s[(t * B + ii) * B + jj];
  if (x < -9.999999680285692e37) return 0;
  const m = stats[tileRow[t] + ii];
  const z = Math.max(x - m, -104);
  const kf: int = Math.floor(z * 1.4426950216293335 + 0.5);
  const rr = z - kf * 0.693145751953125 - kf * 1.428606765330187e-6;
  let p = 1.9875691214110702e-4;
  p = p * rr + 1.398199936375022e-3;
  p = p * rr + 8.333452045917511e-3;
  p = p * rr + 4.166579619050026e-2;
  p = p * rr + 1.666666567325592e-1;
  p = p * rr + 0.5;
  p = p * rr * rr + rr + 1;
  const w = p * pow2[kf + 149];
  if (bf16io === 1) return bf16(w);
  return w;
}

/**
 * One output element; cell (x = d, y = r) for chunk row r = e·B + ii of entry e (head cH[e],
 * query block cQb[e], tiles cStart[e] … cEnd[e] − 1). out = (Σ p·v in key order) / l, rounded
 * to bf16 when bf16io = 1. stats holds m for rows 0 … R−1 and l for rows R … 2R−1.
 * @kernel
 * @reference reference/attention.ts attentionForward (out)
 */
export function attnOut(this: Thread, p: Arr, v: Arr, stats: Arr, cH: Arr, cStart: Arr, cEnd: Arr, tileKb: Arr, L: int, D: int, B: int, group: int, R: int, bf16io: int): number {
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
    const vo: int = (g * L + kb * B) * D + d;
    let n: int = B;
    if (kb * B + B > L) n = L - kb * B;
    for (let jj: int = 0; jj < n; jj++) {
      acc += p[po + jj] * v[vo + jj * D];
    }
  }
  const l = stats[R + r];
  if (t1 === t0) return 0;
  const o = acc / l;
  if (bf16io === 1) return bf16(o);
  return o;
}

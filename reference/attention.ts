// Reference attention (SPEC.md, "Attention"): masked, grouped-query softmax attention,
// forward (out and LSE) and backward (dQ, dK, dV), on four precision paths.
//
// Tensors are Float64Array VALUES, row-major: q [Hq, L, D], k and v [Hkv, L, D]; query head h
// reads key/value head floor(h / (Hq/Hkv)) (torch's repeat_interleave / enable_gqa).
// Every rounding is explicit: Math.fround for a float32 result, bf16Value for a bf16 one.
//
// Pinned reduction orders (the reference is deterministic; kernels that reorder are held
// to a tolerance, see SPEC.md):
//   dot products      sequentially over d = 0..D-1
//   softmax max/sum   sequentially over the allowed keys in increasing key index
//   P·V, dP, dQ       sequentially over the allowed keys in increasing key index
//   dK, dV            over the query heads of the group in increasing order, then over
//                     the query rows in increasing index (one accumulator per group)
//   rowsum(dO∘O)      sequentially over d
//
// Paths:
//   f64         everything in float64; exp/log are JS Math.exp/Math.log
//   f32         inputs rounded to f32 and every op result rounded to f32 (exp/log computed
//               in f64 and rounded once to f32)
//   bf16_flash  FlashAttention-2: bf16 q/k/v; QKᵀ with f32 accumulation; scale, max, exp, sum
//               in f32; the unnormalised P rounded to bf16 for P·V (f32 accumulation); the
//               output divided by the f32 row sum and rounded to bf16; LSE in f32
//   bf16_eager  transformers' eager_attention_forward: matmul(q, kᵀ) rounded to bf16, × scale
//               as a bf16 op, softmax in f32 and cast to bf16, matmul(P, v) rounded to bf16;
//               LSE (not produced by the eager code) is the f32 m + log(l) of its softmax

import { bf16Value } from './bf16.ts';
import { isAllowed, type Variant } from './masks.ts';

export type AttnPrecision = 'f64' | 'f32' | 'bf16_flash' | 'bf16_eager';
export const PRECISIONS: readonly AttnPrecision[] = ['f64', 'f32', 'bf16_flash', 'bf16_eager'];
export interface AttnShape {
  Hq: number;
  Hkv: number;
  L: number;
  D: number;
}
export interface AttnOptions {
  variant: Variant;
  precision: AttnPrecision;
  /** softmax scale; default 1/sqrt(D) */
  scale?: number;
  /**
   * the drift decomposition's 'qk' stage made exact: q and k are used as given (not re-cast
   * to the path's input dtype), QKᵀ is accumulated and scaled exactly, and the logit is not
   * rounded; v, the softmax and P·V keep the path's rounding
   */
  exactQK?: boolean;
}
export interface AttnResult {
  out: Float64Array;
  lse: Float64Array;
}

/** a shape for a partial computation: Lq query rows against Lk key rows */
export interface PartialShape {
  Hq: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  D: number;
}

const id = (x: number): number => x;
const f32 = Math.fround;

/** the rounding applied to an input value on a path */
export function inputRounding(p: AttnPrecision): (x: number) => number {
  return p === 'f64' ? id : p === 'f32' ? f32 : bf16Value;
}
/** the rounding of an accumulator / scalar op result on a path (f32 for every non-f64 path) */
function opRounding(p: AttnPrecision): (x: number) => number {
  return p === 'f64' ? id : f32;
}

export function checkShape(shape: AttnShape | PartialShape, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, where = 'attention'): void {
  const { Hq, Hkv, D } = shape;
  const Lq = 'L' in shape ? shape.L : shape.Lq;
  const Lk = 'L' in shape ? shape.L : shape.Lk;
  for (const [name, n] of Object.entries({ Hq, Hkv, D, Lq, Lk }))
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${where}: ${name} must be a positive integer, got ${n}`);
  if (Hq % Hkv !== 0) throw new RangeError(`${where}: Hq (${Hq}) must be a multiple of Hkv (${Hkv})`);
  if (q.length !== Hq * Lq * D) throw new RangeError(`${where}: q has ${q.length} values, expected Hq*L*D = ${Hq * Lq * D}`);
  if (k.length !== Hkv * Lk * D) throw new RangeError(`${where}: k has ${k.length} values, expected Hkv*L*D = ${Hkv * Lk * D}`);
  if (v.length !== Hkv * Lk * D) throw new RangeError(`${where}: v has ${v.length} values, expected Hkv*L*D = ${Hkv * Lk * D}`);
}

/** x rounded elementwise; x itself when no element changes (inputs already in the path's dtype: no copy) */
function roundAll(x: Float64Array, r: (x: number) => number): Float64Array {
  if (r === id) return x;
  let i = 0;
  while (i < x.length && (r(x[i]) === x[i] || x[i] !== x[i])) i++;
  if (i === x.length) return x;
  const y = new Float64Array(x.length);
  for (let j = 0; j < x.length; j++) y[j] = r(x[j]);
  return y;
}

/** values rounded to a path's input precision; the same array when they already are */
export function roundedInputs(x: Float64Array, p: AttnPrecision): Float64Array {
  return roundAll(x, inputRounding(p));
}

const increasing = (a: ArrayLike<number>): boolean => {
  for (let i = 1; i < a.length; i++) if (a[i] <= a[i - 1]) return false;
  return true;
};

const iota = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);

/**
 * The scaled logit of one (query row, key row) pair as the path computes it. qh/kh are the
 * offsets of the rows; q and k are already rounded to the path's input precision.
 */
export function logit(q: Float64Array, qo: number, k: Float64Array, ko: number, D: number, scale: number, p: AttnPrecision, exactQK: boolean): number {
  let acc = 0;
  if (p === 'f64' || exactQK) {
    for (let d = 0; d < D; d++) acc += q[qo + d] * k[ko + d];
  } else {
    // f32 products of f32 inputs are rounded; bf16 products are exact in f32, so fround(acc + a*b)
    // is the f32 fused step and the plain step alike
    for (let d = 0; d < D; d++) acc = f32(acc + f32(q[qo + d] * k[ko + d]));
  }
  if (exactQK) return acc * scale;
  switch (p) {
    case 'f64':
      return acc * scale;
    case 'f32':
    case 'bf16_flash':
      return f32(f32(acc) * f32(scale));
    case 'bf16_eager':
      return bf16Value(bf16Value(acc) * f32(scale)); // matmul output in bf16, then a bf16 multiply
  }
}

interface Prepared {
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  scale: number;
  group: number;
}
function prepare(q: Float64Array, k: Float64Array, v: Float64Array, shape: PartialShape, opts: AttnOptions): Prepared {
  const r = inputRounding(opts.precision);
  const qk = opts.exactQK ? (x: Float64Array) => x : (x: Float64Array) => roundAll(x, r);
  return { q: qk(q), k: qk(k), v: roundAll(v, r), scale: opts.scale ?? 1 / Math.sqrt(shape.D), group: shape.Hq / shape.Hkv };
}

/**
 * Attention of Lq query rows against Lk key rows, the rows named by their indices in the
 * window (qIndex, kIndex: for the mask). Keys are visited in the order given (kIndex should
 * increase for the pinned order). A row with no allowed key gets out = 0 and lse = -Infinity
 * (an empty partial, for LSE merging). This is the one forward loop; attentionForward calls
 * it with the whole window.
 */
export function attentionForwardPartial(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  shape: PartialShape,
  qIndex: ArrayLike<number>,
  kIndex: ArrayLike<number>,
  docIds: ArrayLike<number>,
  opts: AttnOptions,
): AttnResult {
  checkShape(shape, q, k, v);
  const { Hq, Lq, Lk, D } = shape;
  const P = prepare(q, k, v, shape, opts);
  const p = opts.precision;
  const r = opRounding(p);
  const exactQK = opts.exactQK === true;
  const out = new Float64Array(Hq * Lq * D);
  const lse = new Float64Array(Hq * Lq);
  const s = new Float64Array(Lk);
  const e = new Float64Array(Lk);
  const acc = new Float64Array(D);
  const allowed = new Int32Array(Lk);
  // every variant is causal: with keys in increasing order, the scan of a row stops at its own index
  const keysIncrease = increasing(kIndex);
  for (let h = 0; h < Hq; h++) {
    const g = Math.floor(h / P.group);
    for (let i = 0; i < Lq; i++) {
      const qo = (h * Lq + i) * D;
      let n = 0;
      let m = -Infinity;
      for (let j = 0; j < Lk; j++) {
        if (keysIncrease && kIndex[j] > qIndex[i]) break;
        if (!isAllowed(opts.variant, docIds, qIndex[i], kIndex[j])) continue;
        allowed[n++] = j;
        const x = logit(P.q, qo, P.k, (g * Lk + j) * D, D, P.scale, p, exactQK);
        s[j] = x;
        if (x > m) m = x;
      }
      if (n === 0) {
        lse[h * Lq + i] = -Infinity;
        continue;
      }
      let l = 0;
      for (let a = 0; a < n; a++) {
        const j = allowed[a];
        e[j] = p === 'f64' ? Math.exp(s[j] - m) : f32(Math.exp(f32(s[j] - m)));
        l = r(l + e[j]);
      }
      acc.fill(0);
      for (let a = 0; a < n; a++) {
        const j = allowed[a];
        // the weight P·V sees: f64/f32 the unnormalised e (divided at the end), flash the
        // unnormalised e in bf16, eager the normalised softmax cast to bf16
        const w = p === 'bf16_flash' ? bf16Value(e[j]) : p === 'bf16_eager' ? bf16Value(e[j] / l) : e[j];
        const vo = (g * Lk + j) * D;
        // the rounding spelled out per path (not through r): this is the hot loop
        if (p === 'f64') for (let d = 0; d < D; d++) acc[d] += w * P.v[vo + d];
        else for (let d = 0; d < D; d++) acc[d] = f32(acc[d] + f32(w * P.v[vo + d]));
      }
      for (let d = 0; d < D; d++) {
        const o = p === 'bf16_eager' ? acc[d] : acc[d] / l;
        out[qo + d] = p === 'f64' ? o : p === 'f32' ? f32(o) : bf16Value(o);
      }
      lse[h * Lq + i] = p === 'f64' ? m + Math.log(l) : f32(m + f32(Math.log(l)));
    }
  }
  return { out, lse };
}

export function attentionForward(q: Float64Array, k: Float64Array, v: Float64Array, shape: AttnShape, docIds: ArrayLike<number>, opts: AttnOptions): AttnResult {
  if (docIds.length !== shape.L) throw new RangeError(`attention: doc ids have length ${docIds.length}, expected L = ${shape.L}`);
  const idx = iota(shape.L);
  return attentionForwardPartial(q, k, v, { Hq: shape.Hq, Hkv: shape.Hkv, Lq: shape.L, Lk: shape.L, D: shape.D }, idx, idx, docIds, opts);
}

/**
 * The forward of some query rows only: qRows [Hq, R, D] holds the queries of window rows
 * `rows` (any order, repeats allowed); out [Hq, R, D], lse [Hq, R]. Each row is computed by
 * the one forward loop exactly as attentionForward computes it, so the results equal the
 * matching rows of the full forward bit for bit; the cost is R · (keys each row sees) · D.
 */
export function attentionForwardRows(qRows: Float64Array, k: Float64Array, v: Float64Array, shape: AttnShape, rows: ArrayLike<number>, docIds: ArrayLike<number>, opts: AttnOptions): AttnResult {
  if (docIds.length !== shape.L) throw new RangeError(`attention: doc ids have length ${docIds.length}, expected L = ${shape.L}`);
  for (let i = 0; i < rows.length; i++) if (!Number.isInteger(rows[i]) || rows[i] < 0 || rows[i] >= shape.L) throw new RangeError(`attention: row ${rows[i]} is outside the window [0, ${shape.L})`);
  return attentionForwardPartial(qRows, k, v, { Hq: shape.Hq, Hkv: shape.Hkv, Lq: rows.length, Lk: shape.L, D: shape.D }, rows, iota(shape.L), docIds, opts);
}

/**
 * The score matrices of every query head: logits [Hq*L*L] (scaled, as the path rounds them,
 * -Infinity where masked) and probs [Hq*L*L] (the normalised softmax: f64 exact, f32 and
 * bf16_flash fround(e/l) — flash never materialises it —, bf16_eager the bf16 P it multiplies V with).
 */
export function attentionScores(q: Float64Array, k: Float64Array, shape: AttnShape, docIds: ArrayLike<number>, opts: AttnOptions): { logits: Float64Array; probs: Float64Array } {
  const { Hq, L, D } = shape;
  checkShape(shape, q, k, k, 'attentionScores');
  const P = prepare(q, k, k, { Hq, Hkv: shape.Hkv, Lq: L, Lk: L, D }, opts);
  const p = opts.precision;
  const r = opRounding(p);
  const logits = new Float64Array(Hq * L * L).fill(-Infinity);
  const probs = new Float64Array(Hq * L * L);
  for (let h = 0; h < Hq; h++) {
    const g = Math.floor(h / P.group);
    for (let i = 0; i < L; i++) {
      const row = (h * L + i) * L;
      let m = -Infinity;
      for (let j = 0; j <= i; j++) {
        if (!isAllowed(opts.variant, docIds, i, j)) continue;
        const x = logit(P.q, (h * L + i) * D, P.k, (g * L + j) * D, D, P.scale, p, opts.exactQK === true);
        logits[row + j] = x;
        if (x > m) m = x;
      }
      let l = 0;
      for (let j = 0; j <= i; j++) {
        if (logits[row + j] === -Infinity) continue;
        const e = p === 'f64' ? Math.exp(logits[row + j] - m) : f32(Math.exp(f32(logits[row + j] - m)));
        probs[row + j] = e;
        l = r(l + e);
      }
      for (let j = 0; j <= i; j++) {
        const x = probs[row + j] / l;
        probs[row + j] = p === 'f64' ? x : p === 'bf16_eager' ? bf16Value(x) : f32(x);
      }
    }
  }
  return { logits, probs };
}

/**
 * The logits of every query row against ONE key column j ([Hq*L], -Infinity where masked),
 * rounded as the path rounds them: the column the paper's Eq. 5 reads (j = 0, the first key)
 * without materialising the L×L matrix.
 */
export function attentionLogitColumn(q: Float64Array, k: Float64Array, shape: AttnShape, docIds: ArrayLike<number>, opts: AttnOptions, j = 0): Float64Array {
  const { Hq, L, D } = shape;
  checkShape(shape, q, k, k, 'attentionLogitColumn');
  const P = prepare(q, k, k, { Hq, Hkv: shape.Hkv, Lq: L, Lk: L, D }, opts);
  const col = new Float64Array(Hq * L).fill(-Infinity);
  for (let h = 0; h < Hq; h++) {
    const g = Math.floor(h / P.group);
    for (let i = j; i < L; i++)
      if (isAllowed(opts.variant, docIds, i, j)) col[h * L + i] = logit(P.q, (h * L + i) * D, P.k, (g * L + j) * D, D, P.scale, opts.precision, opts.exactQK === true);
  }
  return col;
}

/**
 * Backward of attentionForward: dQ [Hq, L, D], dK and dV [Hkv, L, D] (summed over each group).
 * f64 and f32: the exact formulas (P recomputed from the LSE, D_i = rowsum(dO∘O),
 * dS = P∘(dP − D_i), dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO), every op rounded on f32.
 * bf16_flash: FlashAttention-2's backward: P = exp(s − lse) in f32; dV from P in bf16; dP and
 * D_i in f32; dS in f32 then bf16 for the dQ / dK products; f32 accumulation, bf16 results.
 * bf16_eager: autograd of the eager path (every matmul output bf16, softmax backward in f32
 * from the f32 softmax output, its result cast to bf16, × scale as a bf16 op; the GQA
 * repeat_kv backward sums the per-head bf16 dK / dV in f32 and rounds once).
 */
export function attentionBackward(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  out: Float64Array,
  lse: Float64Array,
  dOut: Float64Array,
  shape: AttnShape,
  docIds: ArrayLike<number>,
  opts: AttnOptions,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  checkShape(shape, q, k, v, 'attentionBackward');
  const { Hq, Hkv, L, D } = shape;
  if (out.length !== Hq * L * D || dOut.length !== Hq * L * D) throw new RangeError('attentionBackward: out and dOut must be [Hq, L, D]');
  if (lse.length !== Hq * L) throw new RangeError('attentionBackward: lse must be [Hq, L]');
  if (docIds.length !== L) throw new RangeError(`attentionBackward: doc ids have length ${docIds.length}, expected L = ${L}`);
  const p = opts.precision;
  const P = prepare(q, k, v, { Hq, Hkv, Lq: L, Lk: L, D }, opts);
  const ri = inputRounding(p);
  const r = opRounding(p);
  const o = roundAll(out, ri);
  const dO = roundAll(dOut, ri);
  const exactQK = opts.exactQK === true;
  const dq = new Float64Array(Hq * L * D);
  // one accumulator per kv head (the group's heads add into it); eager keeps per-head bf16
  // results and sums them at the end like repeat_kv's backward
  const dkAcc = new Float64Array(Hkv * L * D);
  const dvAcc = new Float64Array(Hkv * L * D);
  const dkHead = p === 'bf16_eager' ? new Float64Array(L * D) : dkAcc;
  const dvHead = p === 'bf16_eager' ? new Float64Array(L * D) : dvAcc;
  const probs = new Float64Array(L); // P_ij for the current row (f32 / f64)
  const dS = new Float64Array(L);
  const allowed = new Int32Array(L);
  const acc = new Float64Array(D);
  const sc = p === 'f64' ? P.scale : f32(P.scale);
  for (let h = 0; h < Hq; h++) {
    const g = Math.floor(h / P.group);
    const kvBase = g * L * D;
    const headOff = p === 'bf16_eager' ? 0 : kvBase; // where this head's dK/dV contributions go
    if (p === 'bf16_eager') {
      // eager materialises per-head dK, dV as bf16 matmul outputs; accumulate them in f32 here
      dkHead.fill(0);
      dvHead.fill(0);
    }
    for (let i = 0; i < L; i++) {
      const qo = (h * L + i) * D;
      let n = 0;
      for (let j = 0; j <= i; j++) if (isAllowed(opts.variant, docIds, i, j)) allowed[n++] = j;
      // P of the forward
      if (p === 'bf16_eager') {
        let m = -Infinity;
        for (let a = 0; a < n; a++) {
          const j = allowed[a];
          const x = logit(P.q, qo, P.k, kvBase + j * D, D, P.scale, p, exactQK);
          probs[j] = x;
          if (x > m) m = x;
        }
        let l = 0;
        for (let a = 0; a < n; a++) {
          const j = allowed[a];
          probs[j] = f32(Math.exp(f32(probs[j] - m)));
          l = f32(l + probs[j]);
        }
        for (let a = 0; a < n; a++) probs[allowed[a]] = f32(probs[allowed[a]] / l); // the f32 softmax output y
      } else {
        const L_i = lse[h * L + i];
        for (let a = 0; a < n; a++) {
          const j = allowed[a];
          const x = logit(P.q, qo, P.k, kvBase + j * D, D, P.scale, p, exactQK);
          probs[j] = p === 'f64' ? Math.exp(x - L_i) : f32(Math.exp(f32(x - f32(L_i))));
        }
      }
      // dP_ij = dO_i · v_j, and dV_j += w_ij dO_i
      let rowDot = 0; // D_i = rowsum(dO∘O) (flash), or Σ_j dP_ij y_ij (eager softmax backward)
      if (p !== 'bf16_eager') for (let d = 0; d < D; d++) rowDot = r(rowDot + r(dO[qo + d] * o[qo + d]));
      for (let a = 0; a < n; a++) {
        const j = allowed[a];
        const vo = kvBase + j * D;
        let dp = 0;
        for (let d = 0; d < D; d++) dp = r(dp + r(dO[qo + d] * P.v[vo + d]));
        if (p === 'bf16_eager') dp = bf16Value(dp); // matmul(dO, vᵀ) output in bf16
        dS[j] = dp;
        const w = p === 'bf16_flash' || p === 'bf16_eager' ? bf16Value(probs[j]) : probs[j];
        const to = headOff + j * D;
        for (let d = 0; d < D; d++) dvHead[to + d] = r(dvHead[to + d] + r(w * dO[qo + d]));
        if (p === 'bf16_eager') rowDot = f32(rowDot + f32(dp * probs[j]));
      }
      // dS_ij = P_ij (dP_ij − D_i), then the operand of the dQ / dK products
      for (let a = 0; a < n; a++) {
        const j = allowed[a];
        let x = r(probs[j] * r(dS[j] - rowDot));
        if (p === 'bf16_flash') x = bf16Value(x);
        else if (p === 'bf16_eager') x = bf16Value(bf16Value(x) * sc); // cast back to bf16, then the bf16 × scale
        dS[j] = x;
      }
      // dQ_i = scale Σ_j dS_ij k_j  (eager: the scale is already in dS)
      acc.fill(0);
      for (let a = 0; a < n; a++) {
        const j = allowed[a];
        const ko = kvBase + j * D;
        for (let d = 0; d < D; d++) acc[d] = r(acc[d] + r(dS[j] * P.k[ko + d]));
      }
      for (let d = 0; d < D; d++) {
        dq[qo + d] = p === 'f64' ? acc[d] * sc : p === 'f32' ? f32(acc[d] * sc) : p === 'bf16_flash' ? bf16Value(acc[d] * sc) : bf16Value(acc[d]);
      }
      // dK_j += dS_ij q_i (scaled at the end)
      for (let a = 0; a < n; a++) {
        const j = allowed[a];
        const to = headOff + j * D;
        for (let d = 0; d < D; d++) dkHead[to + d] = r(dkHead[to + d] + r(dS[j] * P.q[qo + d]));
      }
    }
    if (p === 'bf16_eager') {
      // this head's bf16 matmul outputs, summed into the group (repeat_kv backward, f32 then bf16 at the end)
      for (let x = 0; x < L * D; x++) {
        dkAcc[kvBase + x] = f32(dkAcc[kvBase + x] + bf16Value(dkHead[x]));
        dvAcc[kvBase + x] = f32(dvAcc[kvBase + x] + bf16Value(dvHead[x]));
      }
    }
  }
  const dk = new Float64Array(Hkv * L * D);
  const dv = new Float64Array(Hkv * L * D);
  for (let x = 0; x < dk.length; x++) {
    switch (p) {
      case 'f64':
        dk[x] = dkAcc[x] * sc;
        dv[x] = dvAcc[x];
        break;
      case 'f32':
        dk[x] = f32(dkAcc[x] * sc);
        dv[x] = dvAcc[x];
        break;
      case 'bf16_flash':
        dk[x] = bf16Value(dkAcc[x] * sc);
        dv[x] = bf16Value(dvAcc[x]);
        break;
      case 'bf16_eager':
        dk[x] = bf16Value(dkAcc[x]);
        dv[x] = bf16Value(dvAcc[x]);
        break;
    }
  }
  return { dq, dk, dv };
}

/**
 * Merge partial attention results over disjoint key sets by their LSEs (online softmax):
 * lse = M + log Σ_p exp(lse_p − M), out = Σ_p exp(lse_p − lse)·out_p, in f64, partials taken in
 * the order given. rows = number of (head, query) rows; each out_p is [rows, D]. A partial row
 * with lse = -Infinity (no allowed key) contributes nothing.
 */
export function mergePartials(parts: readonly AttnResult[], rows: number, D: number): AttnResult {
  if (parts.length === 0) throw new RangeError('mergePartials: no partials');
  for (const pt of parts)
    if (pt.out.length !== rows * D || pt.lse.length !== rows) throw new RangeError(`mergePartials: each partial must have out [${rows}, ${D}] and lse [${rows}]`);
  const out = new Float64Array(rows * D);
  const lse = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let M = -Infinity;
    for (const pt of parts) if (pt.lse[i] > M) M = pt.lse[i];
    if (M === -Infinity) {
      lse[i] = -Infinity;
      continue;
    }
    let sum = 0;
    for (const pt of parts) if (pt.lse[i] !== -Infinity) sum += Math.exp(pt.lse[i] - M);
    const L = M + Math.log(sum);
    lse[i] = L;
    for (const pt of parts) {
      if (pt.lse[i] === -Infinity) continue;
      const w = Math.exp(pt.lse[i] - L);
      for (let d = 0; d < D; d++) out[i * D + d] += w * pt.out[i * D + d];
    }
  }
  return { out, lse };
}

/** merge two partials: the running form ring attention uses */
export function mergeTwo(a: AttnResult, b: AttnResult, rows: number, D: number): AttnResult {
  return mergePartials([a, b], rows, D);
}

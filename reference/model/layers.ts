// The model's per-token layers, forward and backward: linear (matmul + optional bias),
// RMSNorm, SwiGLU, embedding and cross-entropy. RoPE and attention live in
// reference/rope.ts and reference/attention.ts. Row-major Float64Array values (parameters
// in their storage precision, reference/model/params.ts ParamValues); every
// op result is rounded once by the policy's `act` (or `stat` for statistics), and each
// dot product is accumulated exactly enough (float64) before that one rounding.

import type { Policy } from './precision.ts';
import type { ParamValues } from './params.ts';

export type Round = (x: number) => number;

// ------------------------------------------------------------------ linear
// The matmuls work on four rows at once (four independent accumulators sharing each load)
// for speed; every output is still summed in the plain loop's order, so the values are the
// same bits as one-at-a-time loops.

/** y[t,o] = round(Σ_i x[t,i]·W[o,i] + b[o]); W is [out, in] as torch.nn.Linear stores it */
export function linearForward(x: Float64Array, T: number, nIn: number, W: ParamValues, nOut: number, b: ParamValues | null, round: Round): Float64Array {
  const y = new Float64Array(T * nOut);
  for (let t = 0; t < T; t++) {
    const xo = t * nIn;
    const yo = t * nOut;
    let o = 0;
    for (; o + 4 <= nOut; o += 4) {
      const w0 = o * nIn;
      const w1 = w0 + nIn;
      const w2 = w1 + nIn;
      const w3 = w2 + nIn;
      let s0 = b ? b[o] : 0;
      let s1 = b ? b[o + 1] : 0;
      let s2 = b ? b[o + 2] : 0;
      let s3 = b ? b[o + 3] : 0;
      for (let i = 0; i < nIn; i++) {
        const xi = x[xo + i];
        s0 += xi * W[w0 + i];
        s1 += xi * W[w1 + i];
        s2 += xi * W[w2 + i];
        s3 += xi * W[w3 + i];
      }
      y[yo + o] = round(s0);
      y[yo + o + 1] = round(s1);
      y[yo + o + 2] = round(s2);
      y[yo + o + 3] = round(s3);
    }
    for (; o < nOut; o++) {
      const wo = o * nIn;
      let s = b ? b[o] : 0;
      for (let i = 0; i < nIn; i++) s += x[xo + i] * W[wo + i];
      y[yo + o] = round(s);
    }
  }
  return y;
}

/**
 * gradients of linearForward: dx = dy·W (summed over o in order), dW = dyᵀ·x (summed over t
 * in order), db = Σ_t dy; each accumulated in f64 and rounded once. A zero dy adds ±0, which
 * leaves every finite sum unchanged.
 */
export function linearBackward(
  dy: Float64Array,
  x: Float64Array,
  T: number,
  nIn: number,
  W: ParamValues,
  nOut: number,
  hasBias: boolean,
  round: Round,
): { dx: Float64Array; dW: ParamValues; db: Float64Array | null } {
  const dx = new Float64Array(T * nIn);
  const dW = new Float64Array(nOut * nIn);
  const db = hasBias ? new Float64Array(nOut) : null;
  // dx[t,:] += dy[t,o]·W[o,:], four o at a time
  for (let t = 0; t < T; t++) {
    const xo = t * nIn;
    const go = t * nOut;
    let o = 0;
    for (; o + 4 <= nOut; o += 4) {
      const g0 = dy[go + o];
      const g1 = dy[go + o + 1];
      const g2 = dy[go + o + 2];
      const g3 = dy[go + o + 3];
      const w0 = o * nIn;
      const w1 = w0 + nIn;
      const w2 = w1 + nIn;
      const w3 = w2 + nIn;
      for (let i = 0; i < nIn; i++) dx[xo + i] = dx[xo + i] + g0 * W[w0 + i] + g1 * W[w1 + i] + g2 * W[w2 + i] + g3 * W[w3 + i];
    }
    for (; o < nOut; o++) {
      const g = dy[go + o];
      const wo = o * nIn;
      for (let i = 0; i < nIn; i++) dx[xo + i] += g * W[wo + i];
    }
  }
  // dW[o,:] += dy[t,o]·x[t,:], four t at a time
  for (let o = 0; o < nOut; o++) {
    const wo = o * nIn;
    let t = 0;
    for (; t + 4 <= T; t += 4) {
      const g0 = dy[t * nOut + o];
      const g1 = dy[(t + 1) * nOut + o];
      const g2 = dy[(t + 2) * nOut + o];
      const g3 = dy[(t + 3) * nOut + o];
      const x0 = t * nIn;
      const x1 = x0 + nIn;
      const x2 = x1 + nIn;
      const x3 = x2 + nIn;
      for (let i = 0; i < nIn; i++) dW[wo + i] = dW[wo + i] + g0 * x[x0 + i] + g1 * x[x1 + i] + g2 * x[x2 + i] + g3 * x[x3 + i];
    }
    for (; t < T; t++) {
      const g = dy[t * nOut + o];
      const xo = t * nIn;
      for (let i = 0; i < nIn; i++) dW[wo + i] += g * x[xo + i];
    }
    if (db) for (let t2 = 0; t2 < T; t2++) db[o] += dy[t2 * nOut + o];
  }
  roundInPlace(dx, round);
  roundInPlace(dW, round);
  if (db) roundInPlace(db, round);
  return { dx, dW, db };
}

function roundInPlace(a: Float64Array, round: Round): void {
  for (let i = 0; i < a.length; i++) a[i] = round(a[i]);
}

// ------------------------------------------------------------------ RMSNorm
/**
 * transformers' LlamaRMSNorm: in the statistic dtype, var = mean(x²), r = 1/sqrt(var + eps),
 * y = x·r rounded to the activation dtype, then out = weight·y (an activation op).
 * Returns rstd per row for the backward.
 */
export function rmsnormForward(x: Float64Array, T: number, d: number, w: ParamValues, eps: number, pol: Policy): { out: Float64Array; rstd: Float64Array } {
  const out = new Float64Array(T * d);
  const rstd = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const o = t * d;
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[o + i] * x[o + i];
    const variance = pol.stat(ss / d);
    const r = pol.stat(1 / pol.stat(Math.sqrt(pol.stat(variance + eps))));
    rstd[t] = r;
    for (let i = 0; i < d; i++) out[o + i] = pol.act(w[i] * pol.act(x[o + i] * r));
  }
  return { out, rstd };
}

/**
 * Autograd of rmsnormForward, op by op as torch differentiates transformers' LlamaRMSNorm
 * (out = w · act(x·r), r = rsqrt(mean(x²) + eps) in the statistic dtype):
 *   gy  = act(dout·w)                      mul backward (an activation op)
 *   dw  = act(Σ_t act(dout·y)), y = act(x·r)   mul backward, then the broadcast sum
 *   gr  = stat(Σ_i stat(gy_i·x_i))         the r branch of x·r, summed over the row
 *   gv  = stat(stat(stat(−0.5·gr)·r³)/d)   rsqrt backward (r³ = stat(stat(r·r)·r)), mean backward
 *   dx  = act(stat(stat(gy·r) + stat(gv·2x)))  the two uses of x (x·r and x²) summed, cast back
 * With f64 this is dx_i = r·w_i·dout_i − x_i·r³/d·Σ_j w_j·dout_j·x_j, dw_i = Σ_t dout_i·x_i·r.
 */
export function rmsnormBackward(
  dout: Float64Array,
  x: Float64Array,
  rstd: Float64Array,
  T: number,
  d: number,
  w: ParamValues,
  pol: Policy,
): { dx: Float64Array; dw: Float64Array } {
  const { act, stat } = pol;
  const dx = new Float64Array(T * d);
  const dw = new Float64Array(d);
  const gy = new Float64Array(d);
  for (let t = 0; t < T; t++) {
    const o = t * d;
    const r = rstd[t];
    let gr = 0;
    for (let i = 0; i < d; i++) {
      const g = dout[o + i];
      gy[i] = act(g * w[i]);
      gr += stat(gy[i] * x[o + i]);
      dw[i] += act(g * act(x[o + i] * r));
    }
    const r3 = stat(stat(r * r) * r);
    const gv = stat(stat(stat(-0.5 * stat(gr)) * r3) / d);
    for (let i = 0; i < d; i++) dx[o + i] = act(stat(stat(gy[i] * r) + stat(gv * (2 * x[o + i]))));
  }
  roundInPlace(dw, act);
  return { dx, dw };
}

// ------------------------------------------------------------------ SwiGLU
const silu = (g: number) => g / (1 + Math.exp(-g));

/** m = silu(gate)·up, with silu(gate) an activation op of its own (transformers: act_fn(gate) * up) */
export function swigluForward(gate: Float64Array, up: Float64Array, pol: Policy): { out: Float64Array; act: Float64Array } {
  const act = new Float64Array(gate.length);
  const out = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    act[i] = pol.act(silu(gate[i]));
    out[i] = pol.act(act[i] * up[i]);
  }
  return { out, act };
}

/**
 * Autograd of swigluForward: the mul gives dup = act(dout·silu(g)) and da = act(dout·up);
 * silu's backward (torch's kernel, in the statistic dtype) dgate = act(da·s·(1 + g·(1 − s))),
 * s = 1/(1 + exp(−g)), every op rounded.
 */
export function swigluBackward(dout: Float64Array, gate: Float64Array, up: Float64Array, act: Float64Array, pol: Policy): { dgate: Float64Array; dup: Float64Array } {
  const { act: ra, stat } = pol;
  const dgate = new Float64Array(gate.length);
  const dup = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    const s = stat(1 / stat(1 + stat(Math.exp(-g))));
    dup[i] = ra(dout[i] * act[i]);
    const da = ra(dout[i] * up[i]);
    dgate[i] = ra(stat(stat(da * s) * stat(1 + stat(g * stat(1 - s)))));
  }
  return { dgate, dup };
}

// ------------------------------------------------------------------ embedding
export function embeddingForward(ids: ArrayLike<number>, W: ParamValues, V: number, d: number): Float64Array {
  const out = new Float64Array(ids.length * d);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token id ${id} at position ${t} is outside the vocabulary [0, ${V})`);
    out.set(W.subarray(id * d, id * d + d), t * d);
  }
  return out;
}

/** scatter-add of the rows' gradients into dW in token order, each add rounded (torch's index_add_) */
export function embeddingBackward(dout: Float64Array, ids: ArrayLike<number>, dW: ParamValues, d: number, round: Round): void {
  for (let t = 0; t < ids.length; t++) {
    const o = ids[t] * d;
    for (let i = 0; i < d; i++) dW[o + i] = round(dW[o + i] + dout[t * d + i]);
  }
}

// ------------------------------------------------------------------ cross-entropy
/**
 * Mean cross-entropy over the positions whose label is not -100 (torch's ignore_index),
 * computed in the statistic dtype from the logits (transformers upcasts logits to float32).
 * dlogits = (softmax − onehot)/N, rounded to the activation dtype (the logits' gradient).
 */
export function crossEntropy(
  logits: Float64Array,
  T: number,
  V: number,
  labels: ArrayLike<number>,
  pol: Policy,
): { loss: number; dlogits: Float64Array; count: number; perToken: Float64Array } {
  let count = 0;
  for (let t = 0; t < T; t++) if (labels[t] !== -100) count++;
  const dlogits = new Float64Array(T * V);
  const perToken = new Float64Array(T);
  let total = 0;
  for (let t = 0; t < T; t++) {
    const y = labels[t];
    if (y === -100) continue;
    if (!Number.isInteger(y) || y < 0 || y >= V) throw new RangeError(`label ${y} at position ${t} is outside the vocabulary [0, ${V})`);
    const o = t * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v] > m) m = logits[o + v];
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[o + v] - m);
    const lse = m + Math.log(s);
    const nll = pol.stat(lse - logits[o + y]);
    perToken[t] = nll;
    total += nll;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logits[o + v] - lse);
      dlogits[o + v] = pol.act((p - (v === y ? 1 : 0)) / count);
    }
  }
  return { loss: count ? pol.stat(total / count) : NaN, dlogits, count, perToken };
}

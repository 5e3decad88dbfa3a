// The model's per-token layers, forward and backward: linear (matmul + optional bias),
// RMSNorm, SwiGLU, embedding and cross-entropy. RoPE and attention live in
// reference/rope.ts and reference/attention.ts. Row-major Float64Array values; every
// op result is rounded once by the policy's `act` (or `stat` for statistics), and each
// dot product is accumulated exactly enough (float64) before that one rounding.

import type { Policy } from './precision.ts';

export type Round = (x: number) => number;

// ------------------------------------------------------------------ linear
/** y[t,o] = round(Σ_i x[t,i]·W[o,i] + b[o]); W is [out, in] as torch.nn.Linear stores it */
export function linearForward(x: Float64Array, T: number, nIn: number, W: Float64Array, nOut: number, b: Float64Array | null, round: Round): Float64Array {
  const y = new Float64Array(T * nOut);
  for (let t = 0; t < T; t++) {
    const xo = t * nIn;
    for (let o = 0; o < nOut; o++) {
      const wo = o * nIn;
      let s = b ? b[o] : 0;
      for (let i = 0; i < nIn; i++) s += x[xo + i] * W[wo + i];
      y[t * nOut + o] = round(s);
    }
  }
  return y;
}

/** gradients of linearForward: dx = dy·W, dW = dyᵀ·x, db = Σ_t dy (each rounded once) */
export function linearBackward(
  dy: Float64Array,
  x: Float64Array,
  T: number,
  nIn: number,
  W: Float64Array,
  nOut: number,
  hasBias: boolean,
  round: Round,
): { dx: Float64Array; dW: Float64Array; db: Float64Array | null } {
  const dx = new Float64Array(T * nIn);
  const dW = new Float64Array(nOut * nIn);
  const db = hasBias ? new Float64Array(nOut) : null;
  for (let t = 0; t < T; t++) {
    const xo = t * nIn;
    for (let o = 0; o < nOut; o++) {
      const g = dy[t * nOut + o];
      if (g === 0) continue;
      const wo = o * nIn;
      for (let i = 0; i < nIn; i++) {
        dx[xo + i] += g * W[wo + i];
        dW[wo + i] += g * x[xo + i];
      }
      if (db) db[o] += g;
    }
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
export function rmsnormForward(x: Float64Array, T: number, d: number, w: Float64Array, eps: number, pol: Policy): { out: Float64Array; rstd: Float64Array } {
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
 * d/dx of out_i = w_i·x_i·r with r = (mean(x²)+eps)^(-1/2):
 * dx_i = r·(w_i·dout_i) − x_i·r³/d·Σ_j w_j·dout_j·x_j ; dw_i = Σ_t dout_i·x_i·r.
 */
export function rmsnormBackward(
  dout: Float64Array,
  x: Float64Array,
  rstd: Float64Array,
  T: number,
  d: number,
  w: Float64Array,
  pol: Policy,
): { dx: Float64Array; dw: Float64Array } {
  const dx = new Float64Array(T * d);
  const dw = new Float64Array(d);
  for (let t = 0; t < T; t++) {
    const o = t * d;
    const r = rstd[t];
    let dot = 0;
    for (let i = 0; i < d; i++) {
      const g = dout[o + i];
      dot += w[i] * g * x[o + i];
      dw[i] += g * pol.act(x[o + i] * r);
    }
    const c = (r * r * r * dot) / d;
    for (let i = 0; i < d; i++) dx[o + i] = pol.act(r * w[i] * dout[o + i] - x[o + i] * c);
  }
  roundInPlace(dw, pol.act);
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

/** dup = dout·silu(g); dgate = dout·up·silu'(g), silu'(g) = σ(g)·(1 + g·(1 − σ(g))) */
export function swigluBackward(dout: Float64Array, gate: Float64Array, up: Float64Array, act: Float64Array, pol: Policy): { dgate: Float64Array; dup: Float64Array } {
  const dgate = new Float64Array(gate.length);
  const dup = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    const s = 1 / (1 + Math.exp(-g));
    dup[i] = pol.act(dout[i] * act[i]);
    dgate[i] = pol.act(dout[i] * up[i] * s * (1 + g * (1 - s)));
  }
  return { dgate, dup };
}

// ------------------------------------------------------------------ embedding
export function embeddingForward(ids: ArrayLike<number>, W: Float64Array, V: number, d: number): Float64Array {
  const out = new Float64Array(ids.length * d);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token id ${id} at position ${t} is outside the vocabulary [0, ${V})`);
    out.set(W.subarray(id * d, id * d + d), t * d);
  }
  return out;
}

/** scatter-add of the rows' gradients into dW (accumulated exactly, rounded once) */
export function embeddingBackward(dout: Float64Array, ids: ArrayLike<number>, dW: Float64Array, d: number): void {
  for (let t = 0; t < ids.length; t++) {
    const o = ids[t] * d;
    for (let i = 0; i < d; i++) dW[o + i] += dout[t * d + i];
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

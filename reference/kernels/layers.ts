// The model's per-token layers as kernels (reference/model/layers.ts): RMSNorm, SwiGLU and
// the cross-entropy softmax. The reference computes each reduction exactly (float64) and
// rounds once; these kernels sum in float32 in index order, so they are held to a derived
// bound (SPEC.md, "Kernels"). act = 1 rounds activations to bf16, 0 to f32.
import { bf16, type Arr, type int, type Thread } from './precision.ts';

/**
 * rstd of row t of x [T, d]: r = 1 / sqrt(Σ_i x_i² / d + eps), every op in f32, the sum in
 * order i = 0 … d−1; cell (x = t).
 * @kernel
 * @reference reference/model/layers.ts rmsnormForward (rstd)
 */
export function rmsnormRstd(this: Thread, x: Arr, d: int, eps: number): number {
  const t: int = this.thread.x;
  let ss = 0;
  // @unroll 4
  for (let i: int = 0; i < d; i++) {
    ss += x[t * d + i] * x[t * d + i];
  }
  const variance = ss / d;
  return 1 / Math.sqrt(variance + eps);
}

/**
 * out = act(w_i · act(x_i · r_t)) for x [T, d], w [d], rstd [T]; cell (x = i, y = t).
 * @kernel
 * @reference reference/model/layers.ts rmsnormForward (out)
 */
export function rmsnormApply(this: Thread, x: Arr, w: Arr, rstd: Arr, d: int, act: int): number {
  const i: int = this.thread.x;
  const t: int = this.thread.y;
  let y = x[t * d + i] * rstd[t];
  if (act === 1) y = bf16(y);
  const o = w[i] * y;
  if (act === 1) return bf16(o);
  return o;
}

/**
 * SwiGLU; cell (x = i, y = c): c = 0 → a = act(silu(g)) with silu(g) = g / (1 + exp(−g))
 * in f32, c = 1 → act(a · up).
 * @kernel
 * @reference reference/model/layers.ts swigluForward
 */
export function swiglu(this: Thread, gate: Arr, up: Arr, act: int): number {
  const i: int = this.thread.x;
  const c: int = this.thread.y;
  const g = gate[i];
  let a = g / (1 + Math.exp(-g));
  if (act === 1) a = bf16(a);
  if (c === 0) return a;
  const o = a * up[i];
  if (act === 1) return bf16(o);
  return o;
}

/**
 * LSE of row t of logits [T, V]: m = max, lse = m + log(Σ exp(x − m)), in f32, the sum in
 * order; cell (x = t).
 * @kernel
 * @reference reference/model/layers.ts crossEntropy (lse)
 */
export function ceLse(this: Thread, logits: Arr, V: int): number {
  const t: int = this.thread.x;
  let m = -3.4028234663852886e38;
  for (let v: int = 0; v < V; v++) {
    m = Math.max(m, logits[t * V + v]);
  }
  let s = 0;
  for (let w: int = 0; w < V; w++) {
    s += Math.exp(logits[t * V + w] - m);
  }
  return m + Math.log(s);
}

/**
 * dlogits = act((exp(x − lse_t) − [v = label_t]) / count); 0 for an ignored row (label −100);
 * cell (x = v, y = t).
 * @kernel
 * @reference reference/model/layers.ts crossEntropy (dlogits)
 */
export function ceGrad(this: Thread, logits: Arr, lse: Arr, labels: Arr, V: int, count: number, act: int): number {
  const v: int = this.thread.x;
  const t: int = this.thread.y;
  const y: int = labels[t];
  if (y === -100) return 0;
  let p = Math.exp(logits[t * V + v] - lse[t]);
  if (v === y) p = p - 1;
  const g = p / count;
  if (act === 1) return bf16(g);
  return g;
}

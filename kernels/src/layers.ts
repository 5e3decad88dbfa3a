// The model's per-token layers as kernels (reference/model/layers.ts): RMSNorm, SwiGLU and
// the cross-entropy softmax. The reference computes each reduction exactly (float64) and
// rounds once; these kernels sum in float32 in index order, so they are held to a derived
// bound (SPEC.md, "Kernels"). act = 1 rounds activations to bf16, 0 to f32.
//
// exp is not Math.exp (GL shaders do not bound its error) but expfWide (kernels/src/shared.ts,
// @inline: pasted by codegen where used): z clamped to [−104, 89], the degree-5 minimax P of
// expfNeg, the result (p · 2^a) · 2^(kf − a) from pow2[i] = 2^(i − 75).
//
// Validated: test/kernels-model.test.ts (rmsnormPlan, swigluPlan, crossEntropyPlan against
// reference/model/layers.ts within the derived bound). Benchmarked: bench/kernels.bench.ts.
// Versions: gpu.js's lowering per backend (generated/<kernel>.<backend>.ts); on webasm the kernels
// tagged @simd run codegen's wasm SIMD lowering instead (generated/<kernel>.simd.ts), the same
// float32 operations in the same order, held to gpu.js's webasm bits by test/simd.test.ts.
import { bf16, ROUNDING, type Arr, type int, type Thread } from './precision.ts';
import { expfWide } from './shared.ts';

/**
 * rstd of row t of x [T, d]: r = 1 / sqrt(Σ_i x_i² / d + eps), every op in f32, the sum in
 * order i = 0 … d−1; cell (x = t).
 * @kernel
 * @simd 2
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
 * @simd 2
 * @reference reference/model/layers.ts rmsnormForward (out)
 */
export function rmsnormApply(this: Thread, x: Arr, w: Arr, rstd: Arr, d: int, act: int): number {
  const i: int = this.thread.x;
  const t: int = this.thread.y;
  let y = x[t * d + i] * rstd[t];
  if (act === ROUNDING.bf16) y = bf16(y);
  const o = w[i] * y;
  if (act === ROUNDING.bf16) return bf16(o);
  return o;
}

/**
 * SwiGLU; cell (x = i, y = c): c = 0 → a = act(silu(g)) with silu(g) = g / (1 + expf(−g))
 * (g ≥ 0) or g·expf(g) / (1 + expf(g)) (g < 0) in f32, c = 1 → act(a · up).
 * @kernel
 * @simd 2
 * @reference reference/model/layers.ts swigluForward
 */
export function swiglu(this: Thread, gate: Arr, up: Arr, pow2: Arr, act: int): number {
  const i: int = this.thread.x;
  const c: int = this.thread.y;
  const g = gate[i];
  // silu(g) = g / (1 + e^−g) for g ≥ 0, g·e^g / (1 + e^g) for g < 0: exp never overflows
  const z = -Math.abs(g);
  const ez = expfWide(z, pow2);
  let num = g;
  if (g < 0) num = g * ez;
  let a = num / (1 + ez);
  if (act === ROUNDING.bf16) a = bf16(a);
  if (c === 0) return a;
  const o = a * up[i];
  if (act === ROUNDING.bf16) return bf16(o);
  return o;
}

/**
 * Softmax statistics of row t of logits [T, V]: [m, s], m = max, s = Σ expf(x − m) in f32, the
 * sum in order; the host forms lse = f32(m + f32(log s)); cell (x = t).
 * @kernel
 * @simd 2
 * @reference reference/model/layers.ts crossEntropy (lse)
 */
export function ceLse(this: Thread, logits: Arr, pow2: Arr, V: int): number[] {
  const t: int = this.thread.x;
  let m = -3.4028234663852886e38;
  for (let v: int = 0; v < V; v++) {
    m = Math.max(m, logits[t * V + v]);
  }
  let s = 0;
  for (let w: int = 0; w < V; w++) {
    const z = logits[t * V + w] - m;
    s += expfWide(z, pow2);
  }
  return [m, s];
}

/**
 * dlogits = act((expf(x − lse_t) − [v = label_t]) / count); 0 for an ignored row (label −100);
 * cell (x = v, y = t).
 * @kernel
 * @simd 2
 * @reference reference/model/layers.ts crossEntropy (dlogits)
 */
export function ceGrad(this: Thread, logits: Arr, lse: Arr, labels: Arr, pow2: Arr, V: int, count: number, act: int): number {
  const v: int = this.thread.x;
  const t: int = this.thread.y;
  const y: int = labels[t];
  if (y === -100) return 0;
  const z = logits[t * V + v] - lse[t];
  let p = expfWide(z, pow2);
  if (v === y) p = p - 1;
  const g = p / count;
  if (act === ROUNDING.bf16) return bf16(g);
  return g;
}

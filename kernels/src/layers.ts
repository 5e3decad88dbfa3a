// The model's per-token layers as kernels (reference/model/layers.ts): RMSNorm, SwiGLU and
// the cross-entropy softmax. The reference computes each reduction exactly (float64) and
// rounds once; these kernels sum in float32 in index order, so they are held to a derived
// bound (SPEC.md, "Kernels"). act = 1 rounds activations to bf16, 0 to f32.
//
// exp is not Math.exp (GL shaders do not bound its error) but expf, inlined where used: z is
// clamped to [−104, 89] (outside, f32 exp is 0 or +Inf and so is this); kf = floor(z·log2 e + 1/2);
// r = z − kf·ln2_hi − kf·ln2_lo (Cody–Waite; kf·ln2_hi is exact); p = 1 + r + r²·P(r) (the
// degree-5 minimax P of reference/kernels/attention.ts); result (p · 2^a) · 2^(kf − a), a =
// floor(kf / 2), both powers read from pow2[i] = 2^(i − 75), i = 0 … 139 (normal floats, so p·2^a
// is exact and the one rounding is the last product, gradual underflow and overflow included).
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
 * SwiGLU; cell (x = i, y = c): c = 0 → a = act(silu(g)) with silu(g) = g / (1 + expf(−g))
 * (g ≥ 0) or g·expf(g) / (1 + expf(g)) (g < 0) in f32, c = 1 → act(a · up).
 * @kernel
 * @reference reference/model/layers.ts swigluForward
 */
export function swiglu(this: Thread, gate: Arr, up: Arr, pow2: Arr, act: int): number {
  const i: int = this.thread.x;
  const c: int = this.thread.y;
  const g = gate[i];
  // silu(g) = g / (1 + e^−g) for g ≥ 0, g·e^g / (1 + e^g) for g < 0: exp never overflows
  const z = -Math.abs(g);
  const zc = Math.min(Math.max(z, -104), 89);
  const zk: int = Math.floor(zc * 1.4426950216293335 + 0.5);
  const za: int = Math.floor(zk / 2);
  const zr = zc - zk * 0.693145751953125 - zk * 1.428606765330187e-6;
  let zp = 1.9875691214110702e-4;
  zp = zp * zr + 1.398199936375022e-3;
  zp = zp * zr + 8.333452045917511e-3;
  zp = zp * zr + 4.166579619050026e-2;
  zp = zp * zr + 1.666666567325592e-1;
  zp = zp * zr + 0.5;
  zp = zp * zr * zr + zr + 1;
  const ez = zp * pow2[za + 75] * pow2[zk - za + 75];
  let num = g;
  if (g < 0) num = g * ez;
  let a = num / (1 + ez);
  if (act === 1) a = bf16(a);
  if (c === 0) return a;
  const o = a * up[i];
  if (act === 1) return bf16(o);
  return o;
}

/**
 * Softmax statistics of row t of logits [T, V]: [m, s], m = max, s = Σ expf(x − m) in f32, the
 * sum in order; the host forms lse = f32(m + f32(log s)); cell (x = t).
 * @kernel
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
    const zc = Math.min(Math.max(z, -104), 89);
    const zk: int = Math.floor(zc * 1.4426950216293335 + 0.5);
    const za: int = Math.floor(zk / 2);
    const zr = zc - zk * 0.693145751953125 - zk * 1.428606765330187e-6;
    let zp = 1.9875691214110702e-4;
    zp = zp * zr + 1.398199936375022e-3;
    zp = zp * zr + 8.333452045917511e-3;
    zp = zp * zr + 4.166579619050026e-2;
    zp = zp * zr + 1.666666567325592e-1;
    zp = zp * zr + 0.5;
    zp = zp * zr * zr + zr + 1;
    s += zp * pow2[za + 75] * pow2[zk - za + 75];
  }
  return [m, s];
}

/**
 * dlogits = act((expf(x − lse_t) − [v = label_t]) / count); 0 for an ignored row (label −100);
 * cell (x = v, y = t).
 * @kernel
 * @reference reference/model/layers.ts crossEntropy (dlogits)
 */
export function ceGrad(this: Thread, logits: Arr, lse: Arr, labels: Arr, pow2: Arr, V: int, count: number, act: int): number {
  const v: int = this.thread.x;
  const t: int = this.thread.y;
  const y: int = labels[t];
  if (y === -100) return 0;
  const z = logits[t * V + v] - lse[t];
  const zc = Math.min(Math.max(z, -104), 89);
  const zk: int = Math.floor(zc * 1.4426950216293335 + 0.5);
  const za: int = Math.floor(zk / 2);
  const zr = zc - zk * 0.693145751953125 - zk * 1.428606765330187e-6;
  let zp = 1.9875691214110702e-4;
  zp = zp * zr + 1.398199936375022e-3;
  zp = zp * zr + 8.333452045917511e-3;
  zp = zp * zr + 4.166579619050026e-2;
  zp = zp * zr + 1.666666567325592e-1;
  zp = zp * zr + 0.5;
  zp = zp * zr * zr + zr + 1;
  let p = zp * pow2[za + 75] * pow2[zk - za + 75];
  if (v === y) p = p - 1;
  const g = p / count;
  if (act === 1) return bf16(g);
  return g;
}

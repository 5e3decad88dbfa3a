// rope.apply: y = x·cos + rot(x)·sin with the rounding of a path, cos/sin given.
// Validated: test/kernels.test.ts (ropeApply against reference/rope.ts, bit for bit).
// Benchmarked: bench/kernels.bench.ts.
// Versions: gpu.js's lowering per backend (generated/<kernel>.<backend>.ts); on webasm the kernels
// tagged @simd run codegen's wasm SIMD lowering instead (generated/<kernel>.simd.ts), the same
// float32 operations in the same order, held to gpu.js's webasm bits by test/simd.test.ts.
import { bf16, type Arr, type int, type Thread } from './precision.ts';

/** the rounding path code ropeApply takes: f32 (every op rounded to f32), hf (every op to bf16), paper (f32 ops, the result to bf16 once) */
export const ROPE_PATH = { f32: 0, hf: 1, paper: 2 } as const;
/** the pair layout code ropeApply takes: half (rotate_half, pairs j, j + D/2), interleaved (pairs 2i, 2i + 1) */
export const ROPE_LAYOUT = { half: 0, interleaved: 1 } as const;

/**
 * x [H, T, D] and cos/sin [T, D] (values of the path's storage); cell (x = j, y = t, z = h).
 * path: 0 = f32 (every op rounded to f32), 1 = hf (every op rounded to bf16),
 * 2 = paper (f32 ops, the result rounded to bf16 once). interleaved: 0 = rotate_half
 * layout (pairs j, j + D/2; Dh = D/2), 1 = pairs (2i, 2i + 1).
 * @kernel
 * @simd 2
 * @reference reference/rope.ts ropeApply
 */
export function ropeApply(this: Thread, x: Arr, cos: Arr, sin: Arr, T: int, D: int, Dh: int, path: int, interleaved: int): number {
  const j: int = this.thread.x;
  const t: int = this.thread.y;
  const h: int = this.thread.z;
  const row: int = (h * T + t) * D;
  let r = 0;
  if (interleaved === ROPE_LAYOUT.interleaved) {
    if (j % 2 === 0) r = -x[row + j + 1];
    else r = x[row + j - 1];
  } else {
    if (j < Dh) r = -x[row + j + Dh];
    else r = x[row + j - Dh];
  }
  let a = x[row + j] * cos[t * D + j];
  let b = r * sin[t * D + j];
  if (path === ROPE_PATH.hf) {
    a = bf16(a);
    b = bf16(b);
    return bf16(a + b);
  }
  const y = a + b;
  if (path === ROPE_PATH.paper) return bf16(y);
  return y;
}

// rope.apply: y = x·cos + rot(x)·sin with the rounding of a path, cos/sin given.
import { bf16, type Arr, type int, type Thread } from './precision.ts';

/**
 * x [H, T, D] and cos/sin [T, D] (values of the path's storage); cell (x = j, y = t, z = h).
 * path: 0 = f32 (every op rounded to f32), 1 = hf (every op rounded to bf16),
 * 2 = paper (f32 ops, the result rounded to bf16 once). interleaved: 0 = rotate_half
 * layout (pairs j, j + D/2; Dh = D/2), 1 = pairs (2i, 2i + 1).
 * @kernel
 * @reference reference/rope.ts ropeApply
 */
export function ropeApply(this: Thread, x: Arr, cos: Arr, sin: Arr, T: int, D: int, Dh: int, path: int, interleaved: int): number {
  const j: int = this.thread.x;
  const t: int = this.thread.y;
  const h: int = this.thread.z;
  const row: int = (h * T + t) * D;
  let r = 0;
  if (interleaved === 1) {
    if (j % 2 === 0) r = -x[row + j + 1];
    else r = x[row + j - 1];
  } else {
    if (j < Dh) r = -x[row + j + Dh];
    else r = x[row + j - Dh];
  }
  let a = x[row + j] * cos[t * D + j];
  let b = r * sin[t * D + j];
  if (path === 1) {
    a = bf16(a);
    b = bf16(b);
    return bf16(a + b);
  }
  const y = a + b;
  if (path === 2) return bf16(y);
  return y;
}

// Bulk bf16 rounding: the kernel form of reference/bf16.ts bulkFromF32 (RNE, NaN stays NaN).
import { bf16, type Arr, type Thread } from './precision.ts';

/**
 * y[i] = bf16(x[i]) for float32 x.
 * @kernel
 * @reference reference/bf16.ts bulkFromF32
 */
export function bf16Round(this: Thread, x: Arr): number {
  const v = x[this.thread.x];
  return bf16(v);
}

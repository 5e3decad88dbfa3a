// Bulk bf16 rounding: the kernel form of reference/bf16.ts bulkFromF32 (RNE, NaN stays NaN).
// Validated: test/kernels.test.ts (bf16Round, bit for bit). Benchmarked: bench/kernels.bench.ts.
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

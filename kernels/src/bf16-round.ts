// Bulk bf16 rounding: the kernel form of reference/bf16.ts bulkFromF32 (RNE, NaN stays NaN).
// Validated: test/kernels.test.ts (bf16Round, bit for bit). Benchmarked: bench/kernels.bench.ts.
// Versions: gpu.js's lowering per backend (generated/<kernel>.<backend>.ts); on webasm the kernels
// tagged @simd run codegen's wasm SIMD lowering instead (generated/<kernel>.simd.ts), the same
// float32 operations in the same order, held to gpu.js's webasm bits by test/simd.test.ts.
import { bf16, type Arr, type Thread } from './precision.ts';

/**
 * y[i] = bf16(x[i]) for float32 x.
 * @kernel
 * @simd 2
 * @reference reference/bf16.ts bulkFromF32
 */
export function bf16Round(this: Thread, x: Arr): number {
  const v = x[this.thread.x];
  return bf16(v);
}

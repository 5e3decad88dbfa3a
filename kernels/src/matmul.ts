// Matmul with bf16 inputs and float32 accumulation: c[m][n] = Σ_k a[m][k]·b[k][n], summed
// in order k = 0, 1, … with one float32 rounding per product and per addition (no FMA);
// the products of two bf16 values are exact in float32, so only the additions round.
// Validated: test/kernels.test.ts (matmul, bit for bit). Benchmarked: bench/kernels.bench.ts.
// Versions: gpu.js's lowering per backend (generated/<kernel>.<backend>.ts); on webasm the kernels
// tagged @simd run codegen's wasm SIMD lowering instead (generated/<kernel>.simd.ts), the same
// float32 operations in the same order, held to gpu.js's webasm bits by test/simd.test.ts.
import { bf16, ROUNDING, type Arr, type int, type Thread } from './precision.ts';

/**
 * a: [M, K] and b: [K, N] bf16 values (as float32); cell (x = n, y = m).
 * outBf16 = 1 rounds the float32 sum to bf16, 0 returns it.
 * On the CPU flavours (webasm, cpu) codegen blocks 4 rows per cell (`@rows 4`: cell (x = n,
 * y = m div 4) returns rows 4y … 4y + 3, each b element read once for the four) and bakes K, N
 * in as gpu.js constants (`@constants`); the k loop is unrolled 4 times (`@unroll 4`, a plain
 * tail loop for K mod 4): each row's sum is the one written here, in the same order, bit for bit.
 * On webasm the kernel runs codegen's own wasm SIMD lowering (`@simd 2`: 8 columns per step, two
 * float32x4 per row, 4 × 8 sums in registers; codegen/simd.ts): the same sums, bit for bit.
 * @kernel
 * @rows 4
 * @simd 2
 * @constants K,N
 * @reference reference/matmul.ts matmulF32 (the sequential float32 sum over k, one rounding per op)
 */
export function matmul(this: Thread, a: Arr, b: Arr, K: int, N: int, outBf16: int): number {
  const m: int = this.thread.y;
  const n: int = this.thread.x;
  let acc = 0;
  // @unroll 4
  for (let k: int = 0; k < K; k++) {
    const bv = b[k * N + n];
    acc += a[m * K + k] * bv;
  }
  if (outBf16 === ROUNDING.bf16) return bf16(acc);
  return acc;
}

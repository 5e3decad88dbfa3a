// The matmul kernel's reference (kernels/src/matmul.ts): c[m][n] = Σ_k a[m][k]·b[k][n] summed in
// order k = 0, 1, … in float32, one rounding per product and per addition (no FMA); a bf16 output
// rounds that sum once more. (The model's linears sum in float64 instead: reference/model.)
import { bf16Value } from './bf16.ts';

/** element (m, n) of a [M, K] · b [K, N]: the sequential float32 sum over k */
export function matmulF32At(a: ArrayLike<number>, b: ArrayLike<number>, K: number, N: number, m: number, n: number): number {
  let acc = 0;
  for (let k = 0; k < K; k++) acc = Math.fround(acc + Math.fround(a[m * K + k] * b[k * N + n]));
  return acc;
}

/** c [M, N] = a [M, K] · b [K, N], each element matmulF32At, rounded to bf16 when outBf16 */
export function matmulF32(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, outBf16: boolean): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      const acc = matmulF32At(a, b, K, N, m, n);
      c[m * N + n] = outBf16 ? bf16Value(acc) : acc;
    }
  return c;
}

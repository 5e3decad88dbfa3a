// The bf16 tour: each line is computed here, nothing typed in.

import * as A from '../reference/bf16-arith.ts';
import { fromF32, fromF64, hex16, toF32, ulp } from '../reference/bf16.ts';
import { Rng } from '../reference/rng.ts';

const show = (b: number) => `${hex16(b)} = ${toF32(b)}`;

export function bf16Tour(seed = 1): string[] {
  const out: string[] = [];
  const b = (x: number) => fromF64(x);
  out.push('bf16: 1 sign, 8 exponent, 7 fraction bits: float32 range, 8 significant bits.');
  out.push('');
  out.push(`256 + 1 in bf16       = ${show(A.add(b(256), b(1)))}   (the spacing at 256 is ${ulp(b(256))}; 257 is a tie and rounds to even)`);
  out.push(`256 + 3 in bf16       = ${show(A.add(b(256), b(3)))}`);
  const ints = [255, 256, 257, 258, 259, 260, 261].map((k) => `${k}→${toF32(b(k))}`).join(' ');
  out.push(`integers past 256     : ${ints}`);
  for (const x of [1, 256, 65536, 131072]) out.push(`spacing at ${String(x).padEnd(7)}      : ${ulp(b(x))}`);
  out.push('');
  // Summation stalls: bf16 accumulator vs float32 accumulator vs exact (f64) on the same bf16 inputs.
  const rng = new Rng(seed);
  const xs = Array.from({ length: 10000 }, () => b(rng.float()));
  let acc16 = b(0);
  let acc32 = 0;
  let exact = 0;
  for (const x of xs) {
    acc16 = A.add(acc16, x);
    acc32 = Math.fround(acc32 + toF32(x));
    exact += toF32(x);
  }
  out.push(`sum of 10,000 uniform [0,1) values (seed ${seed}):`);
  out.push(`  bf16 accumulator    = ${toF32(acc16)}   (stalls: once the spacing is 2, adding x < 1 rounds back)`);
  out.push(`  float32 accumulator = ${acc32}`);
  out.push(`  exact (f64)         = ${exact.toFixed(4)}`);
  out.push('');
  out.push(`0.1 in bf16           = ${show(b(0.1))}  error ${(toF32(b(0.1)) - 0.1).toExponential(3)}`);
  out.push(`1/3 in bf16           = ${show(b(1 / 3))}  error ${(toF32(b(1 / 3)) - 1 / 3).toExponential(3)}`);
  const trap = 1 + 2 ** -8 + 2 ** -30;
  out.push(`double rounding       : x = 1 + 2^-8 + 2^-30 → one rounding ${show(b(trap))}, via float32 ${show(fromF32(trap))}`);
  out.push(`fma(3, 101, -2^-60)   = ${toF32(A.fma(b(3), b(101), b(-(2 ** -60))))} (single rounding); rounding a·b+c after float64 gives ${toF32(fromF64(3 * 101 - 2 ** -60))}`);
  const arange = Array.from({ length: 16 }, (_, i) => toF32(b(248 + i))).join(' ');
  out.push(`arange(248, 264) bf16 : ${arange}`);
  return out;
}

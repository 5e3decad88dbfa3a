// bf16 throughput (tinybench): conversions/s and arithmetic ops/s of the reference.
//   npx tsx bench/bf16.bench.ts
import { Bench } from 'tinybench';
import * as A from '../reference/bf16-arith.ts';
import * as B from '../reference/bf16.ts';
import { Rng } from '../reference/rng.ts';
import { randomBf16Bits, randomF32Bits, randomF64 } from '../reference/bf16-cases.ts';

const N = 1 << 16;
const rng = new Rng(1);
const f32 = new Float32Array(new Uint32Array(Array.from({ length: N }, () => randomF32Bits(rng))).buffer);
const u32 = new Uint32Array(f32.buffer);
const f64 = Float64Array.from({ length: N }, () => randomF64(rng));
const a = Uint16Array.from({ length: N }, () => randomBf16Bits(rng));
const b = Uint16Array.from({ length: N }, () => randomBf16Bits(rng));
const c = Uint16Array.from({ length: N }, () => randomBf16Bits(rng));
const out16 = new Uint16Array(N);
const outF = new Float32Array(N);
let sink = 0;

const bench = new Bench({ time: 400, warmupTime: 100 });
bench
  .add('bulkFromF32 (Float32Array → bf16 bits, RNE)', () => void B.bulkFromF32(f32, out16))
  .add('bulkToF32 (bf16 bits → Float32Array)', () => void B.bulkToF32(a, outF))
  .add('fromF32Bits scalar, rne', () => {
    for (let i = 0; i < N; i++) sink ^= B.fromF32Bits(u32[i]);
  })
  .add('fromF32Bits scalar, stochastic', () => {
    for (let i = 0; i < N; i++) sink ^= B.fromF32Bits(u32[i], { rounding: 'stochastic', seed: 1, index: i });
  })
  .add('fromF64 scalar (one rounding)', () => {
    for (let i = 0; i < N; i++) sink ^= B.fromF64(f64[i]);
  });
for (const op of A.BINARY_OPS)
  bench.add(`${op} (ieee)`, () => {
    for (let i = 0; i < N; i++) sink ^= A.binary(op, a[i], b[i]);
  });
bench
  .add('sqrt (ieee)', () => {
    for (let i = 0; i < N; i++) sink ^= A.sqrt(a[i]);
  })
  .add('fma (ieee, TwoSum)', () => {
    for (let i = 0; i < N; i++) sink ^= A.fma(a[i], b[i], c[i]);
  })
  .add('fma (pytorch, f32 fma)', () => {
    for (let i = 0; i < N; i++) sink ^= A.fma(a[i], b[i], c[i], 'pytorch');
  });

await bench.run();
console.log(`bf16 reference throughput (${N} elements per call; ${new Date().toISOString().slice(0, 10)}, node ${process.version})`);
console.log('| operation | elements/s | ms per call (mean) |');
console.log('|---|---:|---:|');
for (const t of bench.tasks) {
  const r = t.result as { latency?: { mean: number }; mean?: number } | undefined;
  const ms = r?.latency?.mean ?? r?.mean ?? NaN;
  console.log(`| ${t.name} | ${(N / (ms / 1000)).toExponential(2)} | ${ms.toFixed(3)} |`);
}
if (sink === 0.5) console.log(sink);

// rope.apply throughput of the reference, per path (tinybench), at T = 32768, H = 8, D = 128
// (33.5M elements per call), plus the cos/sin table it needs. Noisy on a shared machine.
//   npx tsx bench/rope.bench.ts
import { Bench } from 'tinybench';
import { bf16Value } from '../reference/bf16.ts';
import { ropeApply, ropeCosSin, ROPE_PATHS, type RopePath } from '../reference/rope.ts';
import { Rng } from '../reference/rng.ts';

const T = 32768;
const H = 8;
const D = 128;
const N = H * T * D;
const rng = new Rng(1);
const raw = Float64Array.from({ length: N }, () => rng.normal());
const positions = Array.from({ length: T }, (_, t) => t);
const base = 5e6;

const inputs = {} as Record<RopePath, { x: Float64Array; cos: Float64Array; sin: Float64Array }>;
const tableMs = {} as Record<RopePath, number>;
for (const path of ROPE_PATHS) {
  const t0 = performance.now();
  const { cos, sin } = ropeCosSin(positions, { dim: D, base, path, layout: 'half' });
  tableMs[path] = performance.now() - t0;
  const x = path === 'hf' || path === 'paper' ? raw.map(bf16Value) : path === 'f32' ? raw.map(Math.fround) : raw;
  inputs[path] = { x, cos, sin };
}

let sink = 0;
const bench = new Bench({ time: 0, iterations: 3, warmupIterations: 1 });
for (const path of ROPE_PATHS) {
  const { x, cos, sin } = inputs[path];
  bench.add(`rope.apply ${path}`, () => {
    sink += ropeApply(x, H, T, D, cos, sin, { path, layout: 'half' })[N - 1];
  });
}
await bench.run();

console.log(`rope reference throughput: T = ${T}, H = ${H}, D = ${D} (${N} elements per call), base ${base}; ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
console.log('| path | apply: elements/s | apply: ms per call (mean) | cos/sin table: ms (T·D/2 angles, once) |');
console.log('|---|---:|---:|---:|');
for (const t of bench.tasks) {
  const r = t.result as { latency?: { mean: number }; mean?: number } | undefined;
  const ms = r?.latency?.mean ?? r?.mean ?? NaN;
  const path = t.name.split(' ')[1] as RopePath;
  console.log(`| ${path} | ${(N / (ms / 1000)).toExponential(2)} | ${ms.toFixed(0)} | ${tableMs[path].toFixed(0)} |`);
}
if (sink === 0.5) console.log(sink);

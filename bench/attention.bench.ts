// Reference attention per variant (tinybench) and the measured pair / block ratios.
//   npx tsx bench/attention.bench.ts            (L = 1024…8192, D = 64, Hq = 4, Hkv = 2, f64 path)
//   BENCH_CAP_S=60 npx tsx bench/attention.bench.ts   (allow longer single runs)
// The reference is a plain scalar loop; a run whose projected time (from the measured ns per
// allowed pair at a smaller L) exceeds the cap is skipped and reported as a projection.
import { Bench } from 'tinybench';
import { attentionForward, type AttnPrecision } from '../reference/attention.ts';
import { pairCount, theoreticalSpeedup, VARIANTS, type Variant } from '../reference/masks.ts';
import { Rng } from '../reference/rng.ts';

const Hq = 4;
const Hkv = 2;
const D = 64;
const MEAN_DOC = 512; // documents of mean length 512 (exponential), the anchor first
const CAP_S = Number(process.env.BENCH_CAP_S ?? 15);
const precision = (process.env.BENCH_PRECISION ?? 'f64') as AttnPrecision;

function layout(L: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const ids = new Int32Array(L); // ids[0] = 0: the anchor (a one-token document for the other variants)
  let t = 1;
  for (let doc = 1; t < L; doc++) {
    const n = Math.min(L - t, 1 + Math.floor(-Math.log(1 - rng.float()) * MEAN_DOC));
    ids.fill(doc, t, t + n);
    t += n;
  }
  return ids;
}

const rows: string[] = [];
const nsPerPair = new Map<Variant, number>();
for (const L of [1024, 2048, 4096, 8192]) {
  const rng = new Rng(L);
  const r = (n: number) => Float64Array.from({ length: n }, () => rng.normal());
  const q = r(Hq * L * D);
  const k = r(Hkv * L * D);
  const v = r(Hkv * L * D);
  const ids = layout(L, 7);
  for (const variant of VARIANTS) {
    const pairs = pairCount(variant, ids);
    const s = theoreticalSpeedup(variant, ids, 128);
    const projected = ((nsPerPair.get(variant) ?? 0) * pairs) / 1e9;
    let cell: string;
    if (projected > CAP_S) {
      cell = `skipped (projected ${projected.toFixed(0)} s > cap ${CAP_S} s)`;
    } else {
      const bench = new Bench({ iterations: L <= 1024 ? 3 : 1, time: 0, warmup: false });
      bench.add(`${variant} L=${L}`, () => void attentionForward(q, k, v, { Hq, Hkv, L, D }, ids, { variant, precision }));
      await bench.run();
      const res = bench.tasks[0].result as { latency?: { mean: number } } | undefined;
      const ms = res?.latency?.mean ?? NaN;
      nsPerPair.set(variant, (ms * 1e6) / pairs);
      cell = `${ms.toFixed(0)} ms (${((ms * 1e6) / (pairs * Hq)).toFixed(1)} ns per pair·head)`;
    }
    rows.push(`| ${L} | ${variant} | ${pairs} | ${s.pairs.toFixed(2)} | ${s.blocks.toFixed(2)} | ${cell} |`);
    console.error(rows[rows.length - 1]);
  }
}

console.log(`reference attentionForward, ${precision}, Hq=${Hq} Hkv=${Hkv} D=${D}, documents of mean length ${MEAN_DOC} (seeded) behind an anchor; node ${process.version}`);
console.log('noisy: a shared 2-core machine; the ratios are exact counts, the times are single runs above L = 1024');
console.log('| L | variant | allowed pairs | full/variant pairs | full/variant 128-tiles | time |');
console.log('|---:|---|---:|---:|---:|---|');
for (const r of rows) console.log(r);

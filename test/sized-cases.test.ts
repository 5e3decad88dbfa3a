// The sized case generators of ops/sized-cases.ts: document layouts, determinism (a case's
// bytes depend on (seed, case number) only), shapes and dtypes, that every case passes the
// registry's validation and runs through runOp, and the speed at a moderately large size.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../ops/index.ts';
import { getOp, runOp, validateArgs, validateInputs, type GenCase } from '../ops/registry.ts';
import {
  docIdsForWindow, parseDocsSpec, sizedAttentionCases, sizedAttentionLayoutCases, sizedRopeCases,
  type SizedAttentionOptions, type SizedLayoutOp, type SizedRopeOp,
} from '../ops/sized-cases.ts';
import { randomDocIds } from '../ops/attention.ops.ts';
import { MIXES } from '../demos/savings.ts';
import { inputRounding, PRECISIONS } from '../reference/attention.ts';
import { VARIANTS } from '../reference/masks.ts';
import { Rng } from '../reference/rng.ts';
import { ROPE_LAYOUTS, ROPE_PATHS } from '../reference/rope.ts';
import { bytesOf, floatValues, type Tensor } from '../io/tensor.ts';

const hex = (t: Tensor) => Buffer.from(bytesOf(t)).toString('hex');
const sameCase = (a: GenCase, b: GenCase, what: string) => {
  assert.is(a.id, b.id, what);
  assert.equal(a.args, b.args, what);
  assert.equal(Object.keys(a.in).sort(), Object.keys(b.in).sort(), what);
  for (const k of Object.keys(a.in)) {
    assert.equal(a.in[k].shape, b.in[k].shape, `${what}: ${k} shape`);
    assert.ok(hex(a.in[k]) === hex(b.in[k]), `${what}: ${k} bytes`);
  }
};
/** document lengths of contiguous ids, and whether ids run 1..n in order (after an anchor 0) */
function runs(ids: Int32Array, anchor: boolean): number[] {
  const lengths: number[] = [];
  for (let t = anchor ? 1 : 0; t < ids.length; t++) {
    if (t === (anchor ? 1 : 0) || ids[t] !== ids[t - 1]) {
      assert.is(ids[t], lengths.length + 1, `ids run 1..n in order (token ${t})`);
      lengths.push(0);
    }
    lengths[lengths.length - 1]++;
  }
  return lengths;
}
const docs = (spec: string, L: number, variant: (typeof VARIANTS)[number], seed = 1) => docIdsForWindow(parseDocsSpec(spec), L, variant, new Rng(seed));
const throwsLine = (f: () => unknown, ...parts: string[]) => {
  try {
    f();
  } catch (e) {
    const m = (e as Error).message;
    assert.not.ok(m.includes('\n'), `one line: ${m}`);
    for (const p of parts) assert.ok(m.includes(p), `"${m}" names "${p}"`);
    return;
  }
  assert.unreachable(`expected a throw naming ${parts.join(', ')}`);
};

// ------------------------------------------------------------------ document layouts
test('docs: one and uniform:K give exact lengths, the remainder on the first documents; anchor first', () => {
  assert.equal(runs(docs('one', 10, 'full'), false), [10]);
  assert.equal(runs(docs('uniform:3', 10, 'intra_doc'), false), [4, 3, 3]);
  assert.equal(runs(docs('uniform:10', 10, 'full'), false), Array(10).fill(1));
  const a = docs('uniform:3', 11, 'anchor');
  assert.equal([...a], [0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
  assert.equal([...docs('one', 1, 'anchor')], [0], 'L = 1: the anchor alone');
  assert.equal(runs(docs('uniform:7', 131072, 'anchor'), true), [18725, 18725, 18725, 18724, 18724, 18724, 18724]);
});

test('docs: lengths:a,b,… come first and the rest is one more document', () => {
  assert.equal(runs(docs('lengths:3,4', 10, 'full'), false), [3, 4, 3]);
  assert.equal(runs(docs('lengths:3,7', 10, 'full'), false), [3, 7], 'no empty extra document');
  assert.equal(runs(docs('lengths: 2 , 2', 6, 'anchor'), true), [2, 2, 1]);
});

test('docs: every mix (names case-insensitive) fills the window exactly, anchor at 0 only for anchor', () => {
  for (const mix of MIXES)
    for (const variant of VARIANTS)
      for (const L of [1, 2, 8192]) {
        const ids = docs(`mix:${mix.name.toUpperCase()}`, L, variant, L);
        assert.is(ids.length, L);
        const anchor = variant === 'anchor';
        assert.is(ids.filter((d) => d === 0).length, anchor ? 1 : 0, `${mix.name}/${variant}/L${L}: one anchor`);
        const lengths = runs(ids, anchor);
        assert.is(lengths.reduce((s, n) => s + n, 0) + (anchor ? 1 : 0), L);
        if (L === 8192) assert.ok(lengths.length > 1, `${mix.name}: several documents in 8K tokens`);
      }
  assert.equal(parseDocsSpec('mix:slimpajama-128k'), parseDocsSpec('MIX:SlimPajama-128K'));
});

test('docs: random is the small generator\'s randomDocIds', () => {
  for (const variant of VARIANTS) assert.equal(docs('random', 300, variant, 5), randomDocIds(new Rng(5), 300, variant));
});

test('docs: bad specs are rejected with one line naming the problem and the accepted forms', () => {
  const forms = 'accepted: one, uniform:K, mix:NAME';
  throwsLine(() => parseDocsSpec(''), 'unknown form', forms);
  throwsLine(() => parseDocsSpec('two'), 'unknown form "two"', forms);
  throwsLine(() => parseDocsSpec('uniform'), '"uniform" needs a value', forms);
  throwsLine(() => parseDocsSpec('uniform:0'), 'K must be an integer ≥ 1, got "0"', forms);
  throwsLine(() => parseDocsSpec('uniform:2.5'), 'K must be an integer', forms);
  throwsLine(() => parseDocsSpec('one:3'), '"one" takes no value', forms);
  throwsLine(() => parseDocsSpec('mix:c4'), 'unknown mix "c4"', 'slimpajama-64k', 'upsampledmix-128k');
  throwsLine(() => parseDocsSpec('lengths:1,,2'), 'each length must be an integer ≥ 1, got ""', forms);
  throwsLine(() => parseDocsSpec('lengths:3,-1'), 'got "-1"', forms);
  // specs that do not fit the window are rejected when the window is known
  throwsLine(() => docs('uniform:11', 10, 'full'), 'uniform:11', 'has 10 tokens for documents');
  throwsLine(() => docs('uniform:10', 10, 'anchor'), 'has 9 tokens for documents', 'anchor');
  throwsLine(() => docs('lengths:6,6', 10, 'full'), 'sum to 12', '10 tokens');
  throwsLine(() => docs('one', 0, 'full'), 'L must be an integer ≥ 1');
});

// ------------------------------------------------------------------ attention
const small = (o: Partial<SizedAttentionOptions> = {}): SizedAttentionOptions => ({
  L: 12, Hq: 4, Hkv: 2, D: 8, variants: VARIANTS, precisions: PRECISIONS, docs: parseDocsSpec('uniform:3'), n: 2, seed: 7, ...o,
});

test('attention: ids, order, shapes and dtypes; values are normals rounded like the path rounds its inputs', () => {
  const cases = [...sizedAttentionCases(small())];
  assert.is(cases.length, 2 * VARIANTS.length * PRECISIONS.length);
  assert.is(cases[0].id, 'L12/full/f64/s7#0');
  assert.is(cases.at(-1)!.id, 'L12/anchor/bf16_eager/s7#1');
  const f64 = cases.find((c) => c.id === 'L12/full/f64/s7#1')!;
  for (const c of cases) {
    const p = c.args.precision as (typeof PRECISIONS)[number];
    const dt = p === 'f64' || p === 'f32' ? p : 'bf16';
    for (const [k, H] of [['q', 4], ['k', 2], ['v', 2]] as const) {
      assert.is(c.in[k].dtype, dt, `${c.id} ${k}`);
      assert.equal(c.in[k].shape, [H, 12, 8]);
    }
    assert.is(c.in.doc_ids.dtype, 'i32');
    assert.equal(c.in.doc_ids.shape, [12]);
    // case #1 of every path holds the f64 case's normals, rounded as attention.forward rounds them
    if (c.id.endsWith('#1')) assert.equal(floatValues(c.in.q), Float64Array.from(floatValues(f64.in.q), inputRounding(p)), c.id);
  }
  const q = floatValues(f64.in.q);
  const sd = Math.sqrt(q.reduce((s, x) => s + x * x, 0) / q.length);
  assert.ok(sd > 1 && sd < 2.2, `normal·1.5: sd ${sd}`);
});

test('attention: same seed same bytes; case k of a run equals case k generated alone or in a shard', () => {
  const all = [...sizedAttentionCases(small({ n: 3 }))];
  [...sizedAttentionCases(small({ n: 3 }))].forEach((c, i) => sameCase(c, all[i], 'rerun'));
  for (const c of all) {
    const [, variant, precision, rest] = c.id.split('/');
    const k = Number(rest.split('#')[1]);
    // alone: one combination, only case k built (the shard), and n not the run's n
    const alone = [...sizedAttentionCases(small({ variants: [variant as never], precisions: [precision as never], n: k + 1, shard: { index: k, count: k + 1 } }))];
    assert.is(alone.length, 1);
    sameCase(alone[0], c, c.id);
  }
  // three shards together are the run
  const shards = [0, 1, 2].flatMap((index) => [...sizedAttentionCases(small({ n: 3, shard: { index, count: 3 } }))]);
  assert.is(shards.length, all.length);
  for (const c of shards) sameCase(c, all.find((a) => a.id === c.id)!, `shard ${c.id}`);
  const other = [...sizedAttentionCases(small({ seed: 8 }))][0];
  assert.ok(hex(other.in.q) !== hex(all[0].in.q), 'another seed, other values');
});

test('attention: every case passes the registry validation and runs through runOp (every docs form)', () => {
  for (const spec of ['one', 'uniform:5', 'mix:upsampledmix-128k', 'lengths:2,3', 'random'])
    for (const c of sizedAttentionCases(small({ n: 1, docs: parseDocsSpec(spec) }))) {
      const op = getOp('attention.forward');
      validateInputs(op, c.in);
      const out = runOp(op.name, validateArgs(op, c.args), c.in);
      assert.equal(out.out.shape, [4, 12, 8], `${spec} ${c.id}`);
    }
  for (const op of ['attention.positions', 'attention.mask', 'attention.block_mask'] as SizedLayoutOp[])
    for (const c of sizedAttentionLayoutCases(op, { L: 40, variants: VARIANTS, docs: parseDocsSpec('uniform:4'), n: 2, seed: 3, blockSize: 16 })) {
      runOp(op, validateArgs(getOp(op), c.args), c.in);
      assert.is(c.args.block_size, op === 'attention.block_mask' ? 16 : undefined);
    }
});

test('layout cases: case k has the doc ids of attention.forward case k', () => {
  const o = { L: 64, variants: VARIANTS, docs: parseDocsSpec('mix:slimpajama-64k'), n: 2, seed: 11 };
  const fwd = [...sizedAttentionCases({ ...o, Hq: 1, Hkv: 1, D: 2, precisions: ['f32'] })];
  const lay = [...sizedAttentionLayoutCases('attention.mask', o)];
  assert.equal(lay.map((c) => c.id), fwd.map((c) => c.id.replace('/f32', '')));
  lay.forEach((c, i) => assert.ok(hex(c.in.doc_ids) === hex(fwd[i].in.doc_ids), c.id));
});

test('attention: bad arguments are rejected on the call, in one line', () => {
  throwsLine(() => sizedAttentionCases(small({ Hq: 3, Hkv: 2 })), 'Hq = 3 is not a multiple of Hkv = 2');
  throwsLine(() => sizedAttentionCases(small({ L: 0 })), 'L must be an integer ≥ 1, got 0');
  throwsLine(() => sizedAttentionCases(small({ D: 1.5 })), 'D must be an integer');
  throwsLine(() => sizedAttentionCases(small({ n: 0 })), 'n must be');
  throwsLine(() => sizedAttentionCases(small({ variants: ['causal' as never] })), 'unknown "causal"', 'intra_doc_reset');
  throwsLine(() => sizedAttentionCases(small({ precisions: [] })), 'precisions: give at least one of f64');
  throwsLine(() => sizedAttentionCases(small({ shard: { index: 3, count: 3 } })), 'shard index must be an integer in [0, 2]');
  throwsLine(() => sizedAttentionLayoutCases('attention.block_mask', { ...small(), blockSize: 0 }), 'block size must be');
});

// ------------------------------------------------------------------ rope
const ropeOpts = { T: 5, H: 2, dim: 8, maxPosition: 100000, n: 2, seed: 4 };

test('rope: positions are T consecutive ids at a seeded offset within [0, maxPosition − T]; x, cos/sin shapes', () => {
  const offsets = new Set<number>();
  for (const c of sizedRopeCases('rope.rotate', { ...ropeOpts, n: 20, paths: ['f32'], layouts: ['half'] })) {
    const p = [...(c.in.positions.data as Int32Array)];
    assert.is(c.in.positions.dtype, 'i32');
    assert.equal(p, p.map((_, t) => p[0] + t));
    assert.ok(p[0] >= 0 && p[4] < 100000);
    offsets.add(p[0]);
    assert.equal(c.in.x.shape, [2, 5, 8]);
  }
  assert.ok(offsets.size > 15, 'offsets vary with the case');
  const [d] = sizedRopeCases('rope.cos_sin', { T: 6, dim: 4 });
  assert.equal([...(d.in.positions.data as Int32Array)], [0, 1, 2, 3, 4, 5], 'default: 0..T−1');
  assert.is(d.id, 'T6/f64/half/s1#0');
  const [a] = sizedRopeCases('rope.apply', { ...ropeOpts, paths: ['paper'], layouts: ['interleaved'] });
  assert.equal([a.in.x.dtype, a.in.cos.dtype, a.args.dtype], ['bf16', 'f32', 'bf16']);
  assert.equal(a.in.cos.shape, [5, 8]);
});

test('rope: every case passes the registry validation and runs; apply\'s cos/sin are rope.cos_sin\'s of the same positions', () => {
  const byOp = Object.fromEntries((['rope.cos_sin', 'rope.rotate', 'rope.apply'] as SizedRopeOp[]).map((op) => {
    const cases = [...sizedRopeCases(op, { ...ropeOpts, dim: 130 })]; // dim/2 odd
    assert.is(cases.length, 2 * ROPE_PATHS.length * ROPE_LAYOUTS.length);
    for (const c of cases) runOp(op, validateArgs(getOp(op), c.args), c.in);
    return [op, cases];
  }));
  byOp['rope.apply'].forEach((a, i) => {
    const cs = byOp['rope.cos_sin'][i];
    const want = runOp('rope.cos_sin', validateArgs(getOp('rope.cos_sin'), cs.args), cs.in);
    assert.ok(hex(a.in.cos) === hex(want.cos) && hex(a.in.sin) === hex(want.sin), a.id);
    assert.ok(hex(a.in.x) === hex(byOp['rope.rotate'][i].in.x), `${a.id}: same x as rotate`);
  });
  // a T spanning several chunks of positions
  const [big] = sizedRopeCases('rope.apply', { T: 1100, dim: 128, maxPosition: 1 << 24, paths: ['hf'], layouts: ['half'], seed: 2 });
  const [bigCs] = sizedRopeCases('rope.cos_sin', { T: 1100, dim: 128, maxPosition: 1 << 24, paths: ['hf'], layouts: ['half'], seed: 2 });
  assert.ok(hex(big.in.sin) === hex(runOp('rope.cos_sin', validateArgs(getOp('rope.cos_sin'), bigCs.args), bigCs.in).sin));
});

test('rope: determinism (case k alone = case k of a run) and bad arguments', () => {
  const all = [...sizedRopeCases('rope.apply', ropeOpts)];
  const last = all.at(-1)!;
  const [alone] = sizedRopeCases('rope.apply', { ...ropeOpts, paths: [last.args.path], layouts: [last.args.layout], shard: { index: 1, count: 2 } });
  sameCase(alone, last, last.id);
  throwsLine(() => sizedRopeCases('rope.apply', { T: 4, dim: 7 }), 'dim must be even');
  throwsLine(() => sizedRopeCases('rope.rotate', { T: 4, dim: 8, maxPosition: 3 }), 'max position 3 is less than T = 4');
  throwsLine(() => sizedRopeCases('rope.rotate', { T: 4, dim: 8, paths: ['bf16' as never] }), 'unknown "bf16"', 'hf');
  throwsLine(() => sizedRopeCases('rope.inv_freq' as never, { T: 4, dim: 8 }), 'unknown op "rope.inv_freq"');
});

// ------------------------------------------------------------------ size
test('size: cases are built lazily; an L = 16384 bf16 case (q 8×16384×128) in < 1 s, and rope T = 16384', () => {
  const t0 = performance.now();
  const it = sizedAttentionCases({ L: 16384, Hq: 8, Hkv: 1, D: 128, variants: VARIANTS, precisions: ['bf16_flash'], docs: parseDocsSpec('mix:slimpajama-128k'), n: 1e6, seed: 1 });
  assert.ok(performance.now() - t0 < 50, 'nothing is built on the call');
  const c = it.next().value as GenCase;
  const ms = performance.now() - t0;
  assert.equal(c.in.q.shape, [8, 16384, 128]);
  assert.ok(ms < 1000, `attention case took ${ms.toFixed(0)} ms`);
  const t1 = performance.now();
  const [r] = sizedRopeCases('rope.apply', { T: 16384, H: 2, dim: 128, maxPosition: 1 << 17, paths: ['hf'], layouts: ['half'] });
  const rms = performance.now() - t1;
  assert.equal(r.in.x.shape, [2, 16384, 128]);
  assert.ok(rms < 1000, `rope case took ${rms.toFixed(0)} ms`);
});

test.run();

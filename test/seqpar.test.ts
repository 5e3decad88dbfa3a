import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { attentionForward, PRECISIONS, type AttnPrecision } from '../reference/attention.ts';
import { ulyssesAttention, zigzagRingAttention, zigzagRows } from '../reference/seqpar.ts';
import { Rng } from '../reference/rng.ts';
import { VARIANTS, type Variant } from '../reference/masks.ts';

/** a random document layout of L tokens: anchor at 0 for `anchor`, random lengths, sometimes split documents */
function layout(rng: Rng, L: number, variant: Variant): Int32Array {
  const ids = new Int32Array(L);
  let t = 0;
  if (variant === 'anchor') ids[t++] = 0;
  for (let doc = 1; t < L; doc++) {
    const n = Math.min(L - t, rng.int(1, Math.max(1, L >> 1)));
    ids.fill(doc, t, t + n);
    t += n;
  }
  if (rng.float() < 0.3) for (let s = 0; s < 2; s++) {
    const a = rng.int(1, L - 1);
    const b = rng.int(1, L - 1);
    [ids[a], ids[b]] = [ids[b], ids[a]];
  }
  return ids;
}
function inputs(rng: Rng, Hq: number, Hkv: number, L: number, D: number) {
  const r = (n: number) => Float64Array.from({ length: n }, () => rng.normal() * 1.5);
  return { q: r(Hq * L * D), k: r(Hkv * L * D), v: r(Hkv * L * D) };
}

test('zigzag rows: rank r holds chunks r and 2N−1−r', () => {
  assert.equal(zigzagRows(16, 2, 0), [0, 1, 2, 3, 12, 13, 14, 15]);
  assert.equal(zigzagRows(16, 2, 1), [4, 5, 6, 7, 8, 9, 10, 11]);
  const all = [0, 1, 2, 3].flatMap((r) => zigzagRows(24, 4, r)).sort((a, b) => a - b);
  assert.equal(all, [...Array(24).keys()]);
});

test('property: Ulysses equals the unsharded reference bit for bit, on every path (anchor mask, GQA)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(1, 2, 4), fc.constantFrom<AttnPrecision>(...PRECISIONS), (seed, N, precision) => {
      const rng = new Rng(seed);
      const L = N * rng.int(1, 6);
      const Hkv = 4;
      const Hq = 8;
      const D = 4;
      const ids = layout(rng, L, 'anchor');
      const x = inputs(rng, Hq, Hkv, L, D);
      const opts = { variant: 'anchor' as const, precision };
      const want = attentionForward(x.q, x.k, x.v, { Hq, Hkv, L, D }, ids, opts);
      const got = ulyssesAttention(x.q, x.k, x.v, { Hq, Hkv, L, D }, ids, opts, N);
      for (let i = 0; i < want.out.length; i++) if (!Object.is(want.out[i], got.out[i])) return false;
      for (let i = 0; i < want.lse.length; i++) if (!Object.is(want.lse[i], got.lse[i])) return false;
      return got.ranks.length === N && got.ranks.every((r) => r.rows.length === L / N);
    }),
    { numRuns: 60, seed: 41 },
  );
});

test('property: zigzag ring attention merged by LSE equals the reference to 1e-12 (f64, random layouts, every variant)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(1, 2, 3, 4), fc.constantFrom<Variant>('anchor', 'anchor', ...VARIANTS), (seed, N, variant) => {
      const rng = new Rng(seed);
      const L = 2 * N * rng.int(1, 5);
      const Hq = 4;
      const Hkv = 2;
      const D = 8;
      const ids = layout(rng, L, variant);
      const x = inputs(rng, Hq, Hkv, L, D);
      const opts = { variant, precision: 'f64' as const };
      const want = attentionForward(x.q, x.k, x.v, { Hq, Hkv, L, D }, ids, opts);
      const got = zigzagRingAttention(x.q, x.k, x.v, { Hq, Hkv, L, D }, ids, opts, N);
      for (let i = 0; i < want.out.length; i++) if (!(Math.abs(want.out[i] - got.out[i]) <= 1e-12)) return false;
      for (let i = 0; i < want.lse.length; i++) if (!(Math.abs(want.lse[i] - got.lse[i]) <= 1e-12)) return false;
      return true;
    }),
    { numRuns: 80, seed: 42 },
  );
});

test('zigzag ring is not bit-exact in general (the merge reorders the softmax sum) — which is why the contract is 1e-12', () => {
  const rng = new Rng(3);
  const L = 32;
  const ids = layout(rng, L, 'full');
  const x = inputs(rng, 2, 2, L, 8);
  const opts = { variant: 'full' as const, precision: 'f64' as const };
  const want = attentionForward(x.q, x.k, x.v, { Hq: 2, Hkv: 2, L, D: 8 }, ids, opts);
  const got = zigzagRingAttention(x.q, x.k, x.v, { Hq: 2, Hkv: 2, L, D: 8 }, ids, opts, 4);
  let differ = 0;
  for (let i = 0; i < want.out.length; i++) if (want.out[i] !== got.out[i]) differ++;
  assert.ok(differ > 0);
});

test('bad shard counts are refused', () => {
  const x = inputs(new Rng(1), 2, 1, 6, 2);
  const ids = new Int32Array(6);
  assert.throws(() => ulyssesAttention(x.q, x.k, x.v, { Hq: 2, Hkv: 1, L: 6, D: 2 }, ids, { variant: 'full', precision: 'f64' }, 2), /Hkv/);
  assert.throws(() => zigzagRingAttention(x.q, x.k, x.v, { Hq: 2, Hkv: 1, L: 6, D: 2 }, ids, { variant: 'full', precision: 'f64' }, 2), /2N/);
});

test.run();

// RoPE properties (fast-check, seeded): the f64 path is an exact rotation with the
// relative-position property; the hf path is bf16 all the way and loses it with Δ;
// half and interleaved are one rotation under a permutation; the stages switch off.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { bf16Value } from '../reference/bf16.ts';
import {
  halfToInterleavedPerm, ropeApply, ropeApplyBackward, ropeCosSin, ropeInvFreq, ropeRotate, ROPE_STAGES,
  type RopeConfig, type RopeLayout, type RopePath,
} from '../reference/rope.ts';
import { Rng } from '../reference/rng.ts';

const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const norm = (a: Float64Array) => Math.sqrt(dot(a, a));
const vec = (rng: Rng, n: number, path: RopePath) =>
  Float64Array.from({ length: n }, () => {
    const v = rng.normal() * 2;
    return path === 'f64' ? v : path === 'f32' ? Math.fround(v) : bf16Value(v);
  });
const bases = fc.constantFrom(1e4, 1e5, 5e5, 1e6, 5e6, 1e7, 5e7);
const dims = fc.constantFrom(2, 4, 8, 64, 128);
const layouts = fc.constantFrom<RopeLayout>('half', 'interleaved');
const paths = fc.constantFrom<RopePath>('f64', 'f32', 'hf', 'paper');
const pos20 = fc.integer({ min: 0, max: 2 ** 20 });

test('f64: <R(m)q, R(n)k> depends only on n − m (1e-12 of |q||k|), positions ≤ 2^20, bases 1e4…5e7', () => {
  fc.assert(
    fc.property(bases, dims, layouts, pos20, pos20, pos20, fc.integer(), (base, D, layout, m, n, shift, seed) => {
      const rng = new Rng(seed);
      const q = vec(rng, D, 'f64');
      const k = vec(rng, D, 'f64');
      const cfg: RopeConfig = { dim: D, base, path: 'f64', layout };
      const s0 = dot(ropeRotate(q, 1, 1, D, [m], cfg), ropeRotate(k, 1, 1, D, [n], cfg));
      const s1 = dot(ropeRotate(q, 1, 1, D, [m + shift], cfg), ropeRotate(k, 1, 1, D, [n + shift], cfg));
      return Math.abs(s1 - s0) <= 1e-12 * norm(q) * norm(k);
    }),
    { numRuns: 300, seed: 41 },
  );
});

test('f64: rotation preserves norms (1e-14) and position 0 is the identity', () => {
  fc.assert(
    fc.property(bases, dims, layouts, fc.integer({ min: 0, max: 2 ** 24 }), fc.integer(), (base, D, layout, p, seed) => {
      const q = vec(new Rng(seed), D, 'f64');
      const cfg: RopeConfig = { dim: D, base, path: 'f64', layout };
      const y = ropeRotate(q, 1, 1, D, [p], cfg);
      const y0 = ropeRotate(q, 1, 1, D, [0], cfg);
      return Math.abs(norm(y) - norm(q)) <= 1e-14 * norm(q) && y0.every((v, i) => v === q[i]);
    }),
    { numRuns: 300, seed: 42 },
  );
});

test('hf: position 0 returns x bit for bit (cos 1, sin 0); every output is bf16-representable', () => {
  fc.assert(
    fc.property(bases, dims, layouts, fc.array(fc.integer({ min: 0, max: 2 ** 25 }), { minLength: 1, maxLength: 6 }), fc.integer(), (base, D, layout, ps, seed) => {
      const rng = new Rng(seed);
      const T = ps.length;
      const x = vec(rng, 2 * T * D, 'hf').map((v) => (v === 0 ? 1 : v)); // −0 + 0 = +0: nonzero inputs
      const cfg: RopeConfig = { dim: D, base, path: 'hf', layout };
      const y = ropeRotate(x, 2, T, D, ps, cfg);
      if (!y.every((v) => bf16Value(v) === v)) return false;
      const y0 = ropeRotate(x, 2, T, D, ps.map(() => 0), cfg);
      return y0.every((v, i) => Object.is(v, x[i]));
    }),
    { numRuns: 200, seed: 43 },
  );
});

// The measured mean |<R(m+Δ)q, R(n+Δ)k> − <R(m)q, R(n)k>| over 300 bf16 pairs (D = 128,
// m, n < 64, standard normal ×2 components), base 1e4; also in SPEC.md.
function meanDeviation(base: number, delta: number, path: RopePath, pairs = 300): number {
  const rng = new Rng(2024);
  const D = 128;
  const cfg: RopeConfig = { dim: D, base, path, layout: 'half' };
  let sum = 0;
  for (let i = 0; i < pairs; i++) {
    const q = vec(rng, D, 'hf');
    const k = vec(rng, D, 'hf');
    const m = rng.int(0, 63);
    const n = rng.int(0, 63);
    const s0 = dot(ropeRotate(q, 1, 1, D, [m], cfg), ropeRotate(k, 1, 1, D, [n], cfg));
    const s1 = dot(ropeRotate(q, 1, 1, D, [m + delta], cfg), ropeRotate(k, 1, 1, D, [n + delta], cfg));
    sum += Math.abs(s1 - s0);
  }
  return sum / pairs;
}
const dev = [1, 2 ** 12, 2 ** 17, 2 ** 20].map((d) => meanDeviation(1e4, d, 'hf'));
test(`hf: the relative-position violation grows with Δ (mean |Δ<q,k>|, base 1e4: ${dev.map((v) => v.toFixed(3)).join(' → ')} for Δ = 1, 2^12, 2^17, 2^20)`, () => {
  assert.ok(dev[0] > 0, 'bf16 cos/sin already break it at Δ = 1');
  assert.ok(dev[3] > 1.3 * dev[0], `Δ = 2^20 (${dev[3]}) should exceed Δ = 1 (${dev[0]}) clearly`);
  assert.ok(dev[2] > dev[0], `Δ = 2^17 (${dev[2]}) should exceed Δ = 1 (${dev[0]})`);
  const ideal = meanDeviation(1e4, 2 ** 20, 'f64', 50);
  assert.ok(ideal < 1e-12, `the f64 path keeps it (${ideal})`);
});

test('half ↔ interleaved: the same rotation under the dimension permutation, bit for bit on every path', () => {
  fc.assert(
    fc.property(bases, fc.constantFrom(2, 8, 64), paths, fc.array(fc.integer({ min: 0, max: 2 ** 21 }), { minLength: 1, maxLength: 4 }), fc.integer(), (base, D, path, ps, seed) => {
      const T = ps.length;
      const H = 2;
      const x = vec(new Rng(seed), H * T * D, path);
      const perm = halfToInterleavedPerm(D);
      const permute = (a: Float64Array) => {
        const out = new Float64Array(a.length);
        for (let r = 0; r < a.length / D; r++) for (let j = 0; j < D; j++) out[r * D + perm[j]] = a[r * D + j];
        return out;
      };
      const yHalf = ropeRotate(x, H, T, D, ps, { dim: D, base, path, layout: 'half' });
      const yInt = ropeRotate(permute(x), H, T, D, ps, { dim: D, base, path, layout: 'interleaved' });
      const want = permute(yHalf);
      return want.every((v, i) => Object.is(v, yInt[i]));
    }),
    { numRuns: 200, seed: 44 },
  );
});

test('backward is the adjoint of apply on the f64 path (<apply(x), dy> = <x, backward(dy)>)', () => {
  fc.assert(
    fc.property(bases, fc.constantFrom(2, 8, 64), layouts, fc.array(pos20, { minLength: 1, maxLength: 4 }), fc.integer(), (base, D, layout, ps, seed) => {
      const rng = new Rng(seed);
      const T = ps.length;
      const x = vec(rng, T * D, 'f64');
      const dy = vec(rng, T * D, 'f64');
      const cfg: RopeConfig = { dim: D, base, path: 'f64', layout };
      const { cos, sin } = ropeCosSin(ps, cfg);
      const a = dot(ropeApply(x, 1, T, D, cos, sin, cfg), dy);
      const b = dot(x, ropeApplyBackward(dy, 1, T, D, cos, sin, cfg));
      return Math.abs(a - b) <= 1e-12 * norm(x) * norm(dy);
    }),
    { numRuns: 200, seed: 45 },
  );
});

test('every stage exact turns hf (and paper, f32) into the f64 path, bit for bit', () => {
  const all = new Set(ROPE_STAGES);
  fc.assert(
    fc.property(bases, fc.constantFrom(8, 64), fc.constantFrom<RopePath>('hf', 'paper', 'f32'), layouts, fc.array(pos20, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.integer(), (base, D, path, layout, ps, bfInv, seed) => {
      const x = vec(new Rng(seed), ps.length * D, 'hf');
      const ideal = ropeRotate(x, 1, ps.length, D, ps, { dim: D, base, path: 'f64', layout });
      const cfg: RopeConfig = { dim: D, base, path, layout, exactStages: all, invFreqDtype: bfInv ? 'bf16' : 'f32' };
      const y = ropeRotate(x, 1, ps.length, D, ps, cfg);
      return y.every((v, i) => Object.is(v, ideal[i]));
    }),
    { numRuns: 100, seed: 46 },
  );
});

test('inv_freq values: the notes\' table (base 1e4, 5e6 at d = 128, f32 and bf16) and the DeepSpeed cast', () => {
  const f32 = (base: number) => Array.from(ropeInvFreq({ dim: 128, base, path: 'hf', layout: 'half' }).invFreq.subarray(0, 4)).map((v) => Number(v.toPrecision(8)));
  const bf = (base: number) => Array.from(ropeInvFreq({ dim: 128, base, path: 'hf', layout: 'half', invFreqDtype: 'bf16' }).invFreq.subarray(0, 4));
  assert.equal(f32(1e4), [1, 0.86596435, 0.7498942, 0.64938164]);
  assert.equal(bf(1e4), [1, 0.8671875, 0.75, 0.6484375]);
  assert.equal(f32(5e6), [1, 0.78583002, 0.61752874, 0.48527262]);
  assert.equal(bf(5e6), [1, 0.78515625, 0.6171875, 0.484375]);
  // position 65535, m = 1: f32 angle and cos (numerics notes, derived with numpy float32)
  const { cos } = ropeCosSin([65535], { dim: 128, base: 1e4, path: 'paper', layout: 'half' });
  assert.is(Number(cos[1].toPrecision(8)), 0.32199365);
  const hf = ropeCosSin([65535], { dim: 128, base: 5e6, path: 'hf', layout: 'half' });
  assert.is(hf.cos[1], -0.7265625);
});

test('bad configurations are named', () => {
  const base: RopeConfig = { dim: 8, base: 1e4, path: 'hf', layout: 'half' };
  assert.throws(() => ropeInvFreq({ ...base, dim: 7 }), /dim must be a positive even/);
  assert.throws(() => ropeInvFreq({ ...base, scaling: { rope_type: 'bogus' } }), /unknown rope_type/);
  assert.throws(() => ropeInvFreq({ ...base, scaling: { rope_type: 'linear' } }), /needs scaling.factor/);
  assert.throws(() => ropeInvFreq({ ...base, scaling: { rope_type: 'dynamic', factor: 2 } }), /needs max_position_embeddings/);
  assert.throws(() => ropeInvFreq({ ...base, scaling: { rope_type: 'linear', factor: 2, beta_fast: 3 } }), /not used by rope_type "linear"/);
  assert.throws(() => ropeInvFreq({ ...base, scaling: { rope_type: 'longrope', short_factor: [1], long_factor: [1], original_max_position_embeddings: 8 } }), /must be 4 positive numbers/);
  assert.throws(() => ropeRotate(new Float64Array(16), 1, 2, 8, [0], base), /positions for T/);
});

test.run();

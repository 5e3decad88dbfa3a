// The transcendental policy (reference/rope-trig.ts): the fast f64 path with its hazard
// check agrees with the BigInt fixed-point path (correct rounding) on random arguments.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { cosF32, powF32, roundScaledToF32, sinF32, slowPowF32, slowSinCosF32, twoProd } from '../reference/rope-trig.ts';

const f32Angle = fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: -20, max: 30 })).map(([m, e]) => Math.fround(m * 2 ** e));

test('cosF32 / sinF32 (fast path + hazard check) equal the BigInt correctly rounded values', () => {
  fc.assert(
    fc.property(f32Angle, fc.boolean(), (x, neg) => {
      const a = neg ? -x : x;
      const slow = slowSinCosF32(a);
      return cosF32(a) === slow.cos && Object.is(sinF32(a), a === 0 ? a : slow.sin);
    }),
    { numRuns: 3000, seed: 51 },
  );
});

test('powF32 equals the BigInt correctly rounded b^e (bases 1.5…1e9, f32 exponents in [0, 1])', () => {
  fc.assert(
    fc.property(fc.double({ min: 1.5, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (b, e) => {
      const bf = Math.fround(b);
      const ef = Math.fround(e);
      return ef === 0 || powF32(bf, ef) === slowPowF32(bf, ef);
    }),
    { numRuns: 1500, seed: 52 },
  );
});

test('the slow path reduces huge arguments exactly (sin 1e22, cos 1e22 known values)', () => {
  // sin(1e22) = -0.8522008497671888017727…, cos(1e22) = 0.5232147853951389454975…
  const r = slowSinCosF32(1e22);
  assert.is(r.sin, Math.fround(-0.8522008497671888));
  assert.is(r.cos, Math.fround(0.5232147853951389));
  assert.is(slowSinCosF32(0).cos, 1);
  assert.is(slowPowF32(2, 0.5), Math.fround(Math.SQRT2));
  assert.is(slowPowF32(1e4, 0.5), 100);
});

test('roundScaledToF32 is RNE to float32 (against Math.fround on random doubles)', () => {
  fc.assert(
    fc.property(fc.double({ min: 2 ** -120, max: 2 ** 100, noNaN: true }), fc.boolean(), (x, neg) => {
      const v = neg ? -x : x;
      // v = M · 2^k exactly with an integer M
      let k = 0;
      let m = Math.abs(v);
      while (!Number.isInteger(m)) { m *= 2; k--; }
      const R = BigInt(m) * (v < 0 ? -1n : 1n);
      return roundScaledToF32(R, k) === Math.fround(v);
    }),
    { numRuns: 3000, seed: 53 },
  );
  // ties to even at the f32 midpoint 1 + 2^-24 and 1 + 3·2^-24
  assert.is(roundScaledToF32((1n << 24n) + 1n, -24), 1);
  assert.is(roundScaledToF32((1n << 24n) + 3n, -24), 1 + 2 ** -22);
});

test('twoProd is exact (the f64 path keeps inv_freq·pos as a double-double)', () => {
  fc.assert(
    fc.property(fc.double({ min: 1e-9, max: 1, noNaN: true }), fc.integer({ min: 0, max: 2 ** 24 }), (a, b) => {
      const { p, e } = twoProd(a, b);
      // exact check with BigInt: a·b·2^K == (p + e)·2^K
      const K = 1100;
      const big = (x: number) => {
        let m = x;
        let s = 0;
        while (!Number.isInteger(m)) { m *= 2; s++; }
        return BigInt(m) << BigInt(K - s);
      };
      const lhs = big(a) * BigInt(b);
      const rhs = big(p) + big(e);
      return lhs === rhs;
    }),
    { numRuns: 1000, seed: 54 },
  );
});

test.run();

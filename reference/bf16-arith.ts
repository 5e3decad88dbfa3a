// bf16 arithmetic on bit patterns, correctly rounded (ieee, ftz) or as PyTorch computes it.
//
// Why f64 is enough for + − × ÷ √ (ieee): bf16 has p = 8 and f64 has 53 ≥ 2p + 2
// significant bits, so rounding the f64 result again to bf16 is the same as one
// correct rounding (no harmful double rounding). fma is NOT covered by that theorem
// (a·b + c can need far more bits), so it uses the exact TwoSum error term instead.
// The pytorch profile computes in float32 and rounds once to bf16, as c10 does.

import { type Profile, fromF32, isNaN16, quiet16, roundValue, toF32, BF16 } from './bf16.ts';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
export const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div'];

function apply(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add': return a + b;
    case 'sub': return a - b;
    case 'mul': return a * b;
    case 'div': return a / b;
  }
}

/** DAZ for the ftz profile: a subnormal operand reads as a zero of its sign */
function operand(b: number, profile: Profile): number {
  if (profile === 'ftz' && (b & 0x7f80) === 0) return b & 0x8000 ? -0 : 0;
  return toF32(b);
}

/** NaN propagation: the first NaN operand, quieted (pytorch: the canonical NaN) */
function propagateNaN(profile: Profile, ...xs: number[]): number | undefined {
  for (const x of xs) if (isNaN16(x)) return profile === 'pytorch' ? BF16.QNAN : quiet16(x);
  return undefined;
}

/** a NaN created by an invalid operation (Inf − Inf, 0 × Inf, 0/0, √−1) */
const DEFAULT_NAN = BF16.QNAN;

/** round a computed f64 result to bf16 under a profile */
function finish(r: number, profile: Profile): number {
  if (r !== r) return DEFAULT_NAN;
  if (profile === 'pytorch') return fromF32(Math.fround(r), { profile });
  return roundValue(r, 0, { profile });
}

export function binary(op: BinaryOp, a: number, b: number, profile: Profile = 'ieee'): number {
  const nan = propagateNaN(profile, a, b);
  if (nan !== undefined) return nan;
  // pytorch: the float32 op is fround(f64 op) (exact for ×, innocuous double rounding
  // for + − ÷ since 53 ≥ 2·24 + 2), then one rounding to bf16.
  return finish(apply(op, operand(a, profile), operand(b, profile)), profile);
}
export const add = (a: number, b: number, p: Profile = 'ieee') => binary('add', a, b, p);
export const sub = (a: number, b: number, p: Profile = 'ieee') => binary('sub', a, b, p);
export const mul = (a: number, b: number, p: Profile = 'ieee') => binary('mul', a, b, p);
export const div = (a: number, b: number, p: Profile = 'ieee') => binary('div', a, b, p);

export function sqrt(a: number, profile: Profile = 'ieee'): number {
  const nan = propagateNaN(profile, a);
  if (nan !== undefined) return nan;
  return finish(Math.sqrt(operand(a, profile)), profile);
}

/** fround of the exact s + e (|e| ≤ ulp_f64(s)/2): only an exact f32 tie in s needs e */
function froundWithTail(s: number, e: number): number {
  const r = Math.fround(s);
  if (r === s || e === 0 || !Number.isFinite(r)) return r;
  const other = r > s ? nextF32Down(r) : nextF32Up(r); // the f32 neighbour on the other side of s
  if (Math.abs(r - s) !== Math.abs(other - s)) return r; // not a tie: s + e rounds like s
  return e > 0 ? Math.max(r, other) : Math.min(r, other);
}
const f32b = new Float32Array(1);
const u32b = new Uint32Array(f32b.buffer);
function nextF32Up(x: number): number {
  f32b[0] = x;
  if (x === 0) return 2 ** -149;
  u32b[0] += x > 0 ? 1 : -1;
  return f32b[0];
}
function nextF32Down(x: number): number {
  return -nextF32Up(-x);
}

/**
 * fma(a, b, c) = a·b + c rounded once. a·b of two bf16 values is exact in f64
 * (16 significant bits, exponents within range); TwoSum then gives s = fl(p + c)
 * and the exact error e with p + c = s + e, and roundValue rounds s + e exactly.
 * pytorch profile: torch.addcmul's CPU kernel, a float32 fma rounded to bf16:
 * bf16(fma_f32(a, b, c)) — two roundings (f32, then bf16), measured against torch.
 */
export function fma(a: number, b: number, c: number, profile: Profile = 'ieee'): number {
  const nan = propagateNaN(profile, a, b, c);
  if (nan !== undefined) return nan;
  const x = operand(a, profile);
  const y = operand(b, profile);
  const z = operand(c, profile);
  const p = x * y; // exact
  if (p !== p) return DEFAULT_NAN; // 0 × Inf
  const s = p + z;
  if (s !== s) return DEFAULT_NAN; // Inf − Inf
  if (!Number.isFinite(s)) return roundValue(s, 0, { profile });
  const bp = s - p;
  const e = (p - (s - bp)) + (z - bp); // TwoSum: exact error of s
  if (profile === 'pytorch') return finish(froundWithTail(s, e), profile);
  if (s === 0 && e === 0) {
    // exact zero: IEEE sign rules are already in s (x·y and z of equal sign keep it)
    return roundValue(s, 0, { profile });
  }
  return roundValue(s, e, { profile });
}

// fast-check arbitraries and properties for bf16, for this project's tests and for other
// people's: pass your implementation to a property and fc.assert it.
//   fc.assert(f32ToBf16Property((u) => myRound(u)), { numRuns: 1000 })

import fc from 'fast-check';
import * as A from '../reference/bf16-arith.ts';
import { fromF32Bits, fromF64, isNaN16 } from '../reference/bf16.ts';
import { BF16_CLASSES, F32_CLASSES, F64_CLASSES } from '../reference/bf16-cases.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const signBit = fc.boolean().map((s) => (s ? 0x80000000 : 0));

/** any bf16 bit pattern, a quarter of them from the named edge classes */
export const bf16Bits = (): fc.Arbitrary<number> =>
  fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffff }) }, { weight: 1, arbitrary: fc.constantFrom(...Object.values(BF16_CLASSES).flat()) });

/** float32 bit patterns weighted to ties, near ties, subnormals, the overflow boundary and NaNs */
export const f32BitsWeighted = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 30, arbitrary: u32 },
    { weight: 20, arbitrary: u32.map((u) => ((u & 0xffff0000) | 0x8000) >>> 0) }, // exact ties
    { weight: 10, arbitrary: fc.tuple(u32, fc.constantFrom(0x7fff, 0x8001, 0x7ffe, 0x8002, 0x0001, 0xffff)).map(([u, lo]) => ((u & 0xffff0000) | lo) >>> 0) },
    { weight: 10, arbitrary: fc.tuple(signBit, fc.integer({ min: 0, max: 0x7fffff })).map(([s, m]) => (s | m) >>> 0) }, // subnormals
    { weight: 10, arbitrary: fc.tuple(signBit, fc.integer({ min: 0x7f000000, max: 0x7f800000 })).map(([s, m]) => (s | m) >>> 0) }, // overflow boundary
    { weight: 5, arbitrary: fc.tuple(signBit, fc.integer({ min: 0x7f800001, max: 0x7fffffff })).map(([s, m]) => (s | m) >>> 0) }, // NaNs
    { weight: 5, arbitrary: fc.constantFrom(...Object.values(F32_CLASSES).flat()) },
  );

const f64FromParts = (neg: boolean, m: number, e: number) => (neg ? -1 : 1) * m * 2 ** e;

/** float64 values weighted to bf16 ties / near ties, the subnormal range, overflow, and specials */
export const f64Weighted = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 20, arbitrary: fc.double({ noNaN: false }) },
    // exact ties at bf16 precision: (m + 1/2) · 2^(e-7), m an 8-bit significand
    { weight: 20, arbitrary: fc.tuple(fc.boolean(), fc.integer({ min: 128, max: 255 }), fc.integer({ min: -133, max: 127 })).map(([s, m, e]) => f64FromParts(s, m + 0.5, e - 7)) },
    // near ties: a tie nudged by 2^-k, k up to 45 (double-rounding traps through f32 included)
    {
      weight: 20,
      arbitrary: fc
        .tuple(fc.boolean(), fc.integer({ min: 128, max: 255 }), fc.integer({ min: -126, max: 127 }), fc.integer({ min: 9, max: 45 }), fc.boolean())
        .map(([s, m, e, k, up]) => f64FromParts(s, m + 0.5 + (up ? 1 : -1) * 2 ** -k, e - 7)),
    },
    { weight: 10, arbitrary: fc.tuple(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true })).map(([s, f]) => f64FromParts(s, f, -126)) }, // bf16 subnormal range
    { weight: 10, arbitrary: fc.tuple(fc.boolean(), fc.double({ min: -1, max: 1, noNaN: true })).map(([s, f]) => f64FromParts(s, 2 ** 128 - 2 ** 119 + f * 2 ** 112, 0)) },
    { weight: 5, arbitrary: fc.constantFrom(...Object.values(F64_CLASSES).flat()) },
  );

const sameBf16 = (a: number, b: number) => a === b || (isNaN16(a) && isNaN16(b));
const hex = (u: number, digits: number) => `0x${(u >>> 0).toString(16).padStart(digits, '0')}`;
const f64Hex = (x: number) => {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, x);
  return `0x${v.getBigUint64(0).toString(16).padStart(16, '0')}`;
};
/** a failed comparison says the bits, in hex, of the input and of both results */
function agree(got: number, want: number, input: string): true {
  if (sameBf16(got, want)) return true;
  throw new Error(`${input}: got ${typeof got === 'number' && Number.isInteger(got) ? hex(got, 4) : String(got)}, the oracle gives ${hex(want, 4)}`);
}

/** someone's f32 bits → bf16 bits (RNE, IEEE NaN policy up to payload) agrees with the oracle */
export const f32ToBf16Property = (impl: (u: number) => number) => fc.property(f32BitsWeighted(), (u) => agree(impl(u), fromF32Bits(u), `f32 ${hex(u, 8)}`));
/** someone's f64 → bf16 (one correct rounding) agrees with the oracle */
export const f64ToBf16Property = (impl: (x: number) => number) => fc.property(f64Weighted(), (x) => agree(impl(x), fromF64(x), `f64 ${f64Hex(x)} (${x})`));
/** someone's bf16 binary op agrees with the correctly rounded oracle */
export const binaryOpProperty = (op: A.BinaryOp, impl: (a: number, b: number) => number) =>
  fc.property(bf16Bits(), bf16Bits(), (a, b) => agree(impl(a, b), A.binary(op, a, b), `${op}(${hex(a, 4)}, ${hex(b, 4)})`));
/** someone's bf16 fma agrees with the single-rounding oracle */
export const fmaProperty = (impl: (a: number, b: number, c: number) => number) =>
  fc.property(bf16Bits(), bf16Bits(), bf16Bits(), (a, b, c) => agree(impl(a, b, c), A.fma(a, b, c), `fma(${hex(a, 4)}, ${hex(b, 4)}, ${hex(c, 4)})`));

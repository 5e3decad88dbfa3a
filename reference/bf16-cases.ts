// Named edge classes and weighted random inputs for bf16 testing (TestFloat-style):
// the case generator of the bf16 ops and the fast-check arbitraries draw from here.

import { Rng } from './rng.ts';

/** bf16 operand classes (bit patterns), each with both signs where it matters */
export const BF16_CLASSES: Record<string, number[]> = {
  zero: [0x0000, 0x8000],
  min_subnormal: [0x0001, 0x8001],
  subnormal: [0x0040, 0x807f, 0x0055],
  min_normal: [0x0080, 0x8080],
  one: [0x3f80, 0xbf80, 0x3f81, 0x3f7f],
  ordinary: [0x4049, 0xc2f7, 0x3dcd, 0x3eab],
  power_of_two: [0x4380, 0x3400, 0xc700],
  near_max: [0x7f7f, 0xff7f, 0x7f7e],
  inf: [0x7f80, 0xff80],
  nan: [0x7fc0, 0xffc1, 0x7fa0, 0x7f81],
};

/** float32 inputs (bit patterns) for the f32 → bf16 conversion, by rounding situation */
export const F32_CLASSES: Record<string, number[]> = {
  zero: [0x00000000, 0x80000000],
  exact: [0x3f800000, 0xc0490000, 0x43800000],
  tie_to_even_down: [0x3f808000, 0xbf808000, 0x43808000],
  tie_to_even_up: [0x3f818000, 0xbf818000, 0x43818000],
  near_tie: [0x3f807fff, 0x3f808001, 0xbf807fff, 0xbf808001],
  carry_into_exponent: [0x3fff8000, 0x3f7fffff, 0xbfffc000],
  f32_subnormal: [0x00000001, 0x00008000, 0x00018000, 0x00007fff, 0x007fffff, 0x807f8000, 0x80000001],
  min_normal: [0x00800000, 0x00807fff, 0x80808000],
  overflow_boundary: [0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0xff7f8000, 0xff7f7fff],
  inf: [0x7f800000, 0xff800000],
  nan: [0x7fc00000, 0xffc00001, 0x7f800001, 0x7fa00000, 0xff812345, 0x7fffffff],
};

/** float64 inputs for f64 → bf16: double-rounding traps, f64-only ranges, specials */
export const F64_CLASSES: Record<string, number[]> = {
  zero: [0, -0],
  exact: [1, -3.140625, 256],
  double_rounding_trap: [1 + 2 ** -8 + 2 ** -30, -(1 + 2 ** -8 + 2 ** -30), 1 + 2 ** -8 + 2 ** -53, 256 + 1 + 2 ** -40],
  tie: [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8)],
  near_tie: [1 + 2 ** -8 - 2 ** -52, 1 + 2 ** -8 + 2 ** -52],
  bf16_subnormal_range: [2 ** -134, 2 ** -134 + 2 ** -160, 3 * 2 ** -134, -(2 ** -130 + 2 ** -140), 2 ** -126 - 2 ** -140],
  below_bf16_range: [2 ** -140, -(2 ** -200), 5e-324, -2.2250738585072014e-308],
  overflow_boundary: [2 ** 128 - 2 ** 119, 2 ** 128 - 2 ** 119 - 2 ** 80, 3.4028234663852886e38, -(2 ** 128 - 2 ** 119)],
  beyond_f32: [1e39, -1e300, Number.MAX_VALUE],
  inf: [Infinity, -Infinity],
  nan: [NaN],
};

/** weighted random f32 bit patterns: ties, near ties, subnormals, near overflow, NaNs, anything */
export function randomF32Bits(rng: Rng): number {
  const r = rng.float();
  const hi = rng.uint32() & 0xffff0000;
  if (r < 0.4) return rng.uint32();
  if (r < 0.6) return (hi | 0x8000) >>> 0; // exact tie
  if (r < 0.7) return (hi | (rng.pick([0x7fff, 0x8001, 0x7ffe, 0x8002]))) >>> 0; // near tie
  if (r < 0.8) return ((rng.uint32() & 0x80000000) | (rng.uint32() & 0x007fffff)) >>> 0; // subnormal
  if (r < 0.9) return ((rng.uint32() & 0x80000000) | ((250 + rng.int(0, 4)) << 23) | (rng.uint32() & 0x007fffff)) >>> 0; // near overflow
  if (r < 0.95) return ((rng.uint32() & 0x80000000) | 0x7f800000 | (1 + (rng.uint32() % 0x7fffff))) >>> 0; // NaN
  return ((rng.uint32() & 0x80000000) | ((120 + rng.int(0, 15)) << 23) | (rng.uint32() & 0x007fffff)) >>> 0; // ordinary
}

/** weighted random float64 values: wide exponents, ties and near ties at bf16 precision */
export function randomF64(rng: Rng): number {
  const r = rng.float();
  const sign = rng.float() < 0.5 ? -1 : 1;
  const e = rng.int(-150, 130);
  const m8 = 128 + rng.int(0, 127);
  if (r < 0.3) return sign * (1 + rng.float()) * 2 ** e;
  if (r < 0.5) return sign * (m8 + 0.5) * 2 ** (e - 7); // exact tie at bf16 precision
  if (r < 0.7) return sign * (m8 + 0.5 + (rng.float() < 0.5 ? -1 : 1) * 2 ** -rng.int(10, 45)) * 2 ** (e - 7); // near tie
  if (r < 0.8) return sign * rng.float() * 2 ** -126; // bf16 subnormal range
  if (r < 0.9) return sign * (2 ** 128 - 2 ** 119 + (rng.float() - 0.5) * 2 ** 112); // overflow boundary
  return sign * rng.float() * 2 ** rng.int(-1074, 1023);
}

/** random bf16 bit patterns, about a quarter from the edge classes */
export function randomBf16Bits(rng: Rng): number {
  if (rng.float() < 0.25) return rng.pick(rng.pick(Object.values(BF16_CLASSES)));
  return rng.uint32() & 0xffff;
}

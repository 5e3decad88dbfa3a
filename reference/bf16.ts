// bfloat16: 1 sign, 8 exponent, 7 fraction bits; the upper half of a float32.
// Values are stored as uint16 bit patterns everywhere in this project, so NaN
// payloads and signed zeros survive. Every rounding is explicit and named.
//
// Profiles (SPEC.md, "bf16 profiles"):
//   ieee    - NaN keeps its sign and top payload bits, quiet bit forced; subnormals kept;
//             f64 inputs get ONE correct rounding.
//   pytorch - c10::BFloat16: every NaN becomes 0x7FC0; f64 inputs go via float32 first.
//   ftz     - as ieee, but subnormal inputs (in their own format) and subnormal results
//             are flushed to a zero of the same sign.

import { bf16BitsToValue } from '../io/bf16-codec.ts';
import { counterUniform16 } from './rng.ts';

export type Profile = 'ieee' | 'pytorch' | 'ftz';
export type Rounding = 'rne' | 'rtz' | 'stochastic';
export const PROFILES: readonly Profile[] = ['ieee', 'pytorch', 'ftz'];
export const ROUNDINGS: readonly Rounding[] = ['rne', 'rtz', 'stochastic'];

export interface RoundOptions {
  profile?: Profile;
  rounding?: Rounding;
  /** stochastic rounding: seed, and the element index that selects the random draw */
  seed?: number;
  index?: number;
}

// ---------------------------------------------------------------- constants (finfo)
export const BF16 = {
  POS_ZERO: 0x0000,
  NEG_ZERO: 0x8000,
  ONE: 0x3f80,
  /** smallest subnormal, 2^-133 */
  MIN_SUBNORMAL: 0x0001,
  /** largest subnormal, 127 * 2^-133 */
  MAX_SUBNORMAL: 0x007f,
  /** smallest normal, 2^-126 */
  MIN_NORMAL: 0x0080,
  /** largest finite, (2 - 2^-7) * 2^127 */
  MAX: 0x7f7f,
  LOWEST: 0xff7f,
  /** machine epsilon 2^-7: the gap between 1 and the next value */
  EPS: 0x3c00,
  POS_INF: 0x7f80,
  NEG_INF: 0xff80,
  /** the quiet NaN PyTorch's c10::BFloat16 produces for every NaN */
  QNAN: 0x7fc0,
  /** a signaling NaN (quiet bit clear, payload nonzero) */
  SNAN: 0x7fa0,
} as const;

export const finfo = {
  bits: 16,
  mantissaBits: 7,
  exponentBits: 8,
  bias: 127,
  eps: 2 ** -7,
  smallestNormal: 2 ** -126,
  smallestSubnormal: 2 ** -133,
  max: (2 - 2 ** -7) * 2 ** 127,
  minExp: -126,
  maxExp: 127,
} as const;

// ---------------------------------------------------------------- raw bit access
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);
const f64Scratch = new Float64Array(1);
const u32PairScratch = new Uint32Array(f64Scratch.buffer); // [lo, hi] on little-endian hosts

/** float32 bit pattern of fround(x). NaN payloads of a JS number are engine-defined: pass bits when they matter. */
export function f32ToBits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}
export function bitsToF32(u: number): number {
  u32Scratch[0] = u;
  return f32Scratch[0];
}
/** [hi, lo] 32-bit words of a float64 */
export function f64ToWords(x: number): [number, number] {
  f64Scratch[0] = x;
  return [u32PairScratch[1], u32PairScratch[0]];
}

/** bf16 bits → its exact value as a JS number (every bf16 value is an f32 value): the storage codec's decode */
export const toF32: (b: number) => number = bf16BitsToValue;

// ---------------------------------------------------------------- classification
export type Bf16Class = 'zero' | 'subnormal' | 'normal' | 'inf' | 'nan';
export function classify(b: number): Bf16Class {
  const e = (b >>> 7) & 0xff;
  const m = b & 0x7f;
  if (e === 0) return m === 0 ? 'zero' : 'subnormal';
  if (e === 0xff) return m === 0 ? 'inf' : 'nan';
  return 'normal';
}
export const isNaN16 = (b: number): boolean => (b & 0x7fff) > 0x7f80;
export const isInf16 = (b: number): boolean => (b & 0x7fff) === 0x7f80;
export const isFinite16 = (b: number): boolean => (b & 0x7f80) !== 0x7f80;
export const isSubnormal16 = (b: number): boolean => (b & 0x7f80) === 0 && (b & 0x7f) !== 0;
export const isZero16 = (b: number): boolean => (b & 0x7fff) === 0;
export const signBit16 = (b: number): number => (b >>> 15) & 1;
/** quiet a NaN: set the quiet bit, keep sign and payload */
export const quiet16 = (b: number): number => (b | 0x0040) & 0xffff;

/** Total order key over non-NaN bf16 bit patterns (-0 < +0 here; use isZero for IEEE equality). */
export function orderKey(b: number): number {
  return b & 0x8000 ? 0x7fff - (b & 0x7fff) : 0x8000 + b;
}

/** the next bf16 value towards +Inf (nextUp of -0 and +0 is the smallest positive subnormal) */
export function nextUp(b: number): number {
  if (isNaN16(b)) return quiet16(b);
  if (b === BF16.POS_INF) return b;
  if (b === BF16.NEG_ZERO) return BF16.MIN_SUBNORMAL;
  return b & 0x8000 ? b - 1 : b + 1;
}
export function nextDown(b: number): number {
  if (isNaN16(b)) return quiet16(b);
  if (b === BF16.NEG_INF) return b;
  if (b === BF16.POS_ZERO) return 0x8001;
  return b & 0x8000 ? b + 1 : b - 1;
}
/** spacing of the bf16 grid at b's magnitude: 2^(e-7) for normals, 2^-133 below 2^-126; NaN for Inf/NaN */
export function ulp(b: number): number {
  const e = (b >>> 7) & 0xff;
  if (e === 0xff) return NaN;
  return e === 0 ? 2 ** -133 : 2 ** (e - 127 - 7);
}

// ---------------------------------------------------------------- f32 → bf16 (bit level)
/**
 * Round a float32 bit pattern to bf16 bits. RNE is the classic bias trick
 * (u + 0x7FFF + lsb) >> 16: it covers ties-to-even, carry into the exponent,
 * overflow to Inf, and leaves Inf alone.
 */
export function fromF32Bits(u: number, opts: RoundOptions = {}): number {
  const profile = opts.profile ?? 'ieee';
  const rounding = opts.rounding ?? 'rne';
  u = u >>> 0;
  const sign = u & 0x80000000;
  const mag = u & 0x7fffffff;
  if (mag > 0x7f800000) return profile === 'pytorch' ? BF16.QNAN : (u >>> 16) | 0x0040;
  if (profile === 'ftz' && mag < 0x00800000) return sign >>> 16; // DAZ: f32 subnormal input → ±0
  let r: number;
  switch (rounding) {
    case 'rne':
      r = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
      break;
    case 'rtz':
      r = u >>> 16;
      break;
    case 'stochastic': {
      const draw = counterUniform16(opts.seed ?? 0, opts.index ?? 0);
      r = mag === 0x7f800000 ? u >>> 16 : (u + draw) >>> 16;
      break;
    }
  }
  return finishBf16(r, sign, profile);
}

/** round a JS number to float32 first (RNE), then to bf16: the via-f32 path */
export function fromF32(x: number, opts: RoundOptions = {}): number {
  return fromF32Bits(f32ToBits(x), opts);
}

// The FTZ flush of a subnormal result, shared by every path.
function finishBf16(r: number, signBits32: number, profile: Profile): number {
  if (profile === 'ftz' && (r & 0x7f80) === 0 && (r & 0x7f) !== 0) return signBits32 >>> 16;
  return r & 0xffff;
}

/**
 * The bf16 VALUE of an op computed in float32: x is rounded to f32 first, then RNE to
 * bf16 (NaN stays NaN). This is PyTorch's "bf16 op = compute in f32, round to bf16"
 * when x is the f64 result of one op (fround(x) is then the f32 op's result).
 * Reference code keeps activations as Float64Array values rounded with this.
 */
export function bf16Value(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  if ((u & 0x7fffffff) > 0x7f800000) return NaN;
  u32Scratch[0] = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
  return f32Scratch[0];
}

// ---------------------------------------------------------------- f64 → bf16 (one rounding)
/**
 * Round a float64 to bf16 with ONE rounding (profiles ieee/ftz), or via float32
 * (profile pytorch, as torch and ml_dtypes do). Works in the value domain: every
 * finite f64 is scaled by a power of two onto the bf16 grid of its binade, where
 * the integer and fractional parts are exact.
 */
export function fromF64(x: number, opts: RoundOptions = {}): number {
  const profile = opts.profile ?? 'ieee';
  if (profile === 'pytorch') return fromF32(Math.fround(x), opts);
  if (x !== x) {
    const [hi, lo] = f64ToWords(x);
    return nanFromF64Words(hi, lo);
  }
  return roundValue(x, 0, opts);
}

/** NaN from f64 words: keep sign and the top 7 payload bits, force the quiet bit. */
export function nanFromF64Words(hi: number, _lo: number): number {
  return (((hi >>> 16) & 0x8000) | 0x7f80 | ((hi >>> 13) & 0x7f) | 0x40) & 0xffff;
}

// 2^k for the exponents roundValue needs (k in [-140, 140]), exact
const POW2 = Float64Array.from({ length: 281 }, (_, i) => 2 ** (i - 140));
const pow2 = (k: number): number => POW2[k + 140];

/** exponent of the highest set bit of a positive finite number: floor(log2(a)), exactly */
function exponentOf(a: number): number {
  f64Scratch[0] = a;
  const biased = (u32PairScratch[1] >>> 20) & 0x7ff;
  if (biased !== 0) return biased - 1023;
  return exponentOf(a * 2 ** 64) - 64; // f64 subnormal
}

/**
 * Round the exact real x + tail to bf16, where tail is an exact error term with
 * |tail| ≤ ulp_f64(x)/2 (0 for a plain value). Used by fromF64 and by fma, whose
 * TwoSum gives a sum and its exact error. Non-NaN input.
 */
export function roundValue(x: number, tail: number, opts: RoundOptions = {}): number {
  const profile = opts.profile ?? 'ieee';
  const rounding = opts.rounding ?? 'rne';
  const negative = x < 0 || Object.is(x, -0) || (x === 0 && tail < 0);
  const signBits = negative ? 0x8000 : 0;
  let a = Math.abs(x);
  let t = negative ? -tail : tail; // tail measured in the direction of |x|
  if (a === Infinity) return signBits | 0x7f80;
  if (a === 0 && t === 0) return signBits;
  if (a === 0) { a = Math.abs(t); t = 0; } // only reachable with a tail; keep it exact
  if (profile === 'ftz' && a < 2 ** -1022) return signBits; // DAZ on an f64 subnormal input

  if (a >= 2 ** 128) return rounding === 'rtz' ? signBits | BF16.MAX : signBits | 0x7f80; // past every rounding boundary
  const e = Math.max(exponentOf(a), -126);
  const qExp = e - 7; // grid spacing 2^qExp in this binade (2^-133 in the subnormal range)
  const inv = pow2(-qExp);
  const scaled = a * inv; // exact: a power-of-two scaling inside f64 range
  const scaledTail = t * inv;
  let n = Math.floor(scaled);
  const frac = scaled - n; // exact
  switch (rounding) {
    case 'rne': {
      if (frac > 0.5 || (frac === 0.5 && (scaledTail > 0 || (scaledTail === 0 && (n & 1) === 1)))) n += 1;
      break;
    }
    case 'rtz':
      if (frac === 0 && scaledTail < 0) {
        // exactly on the grid but the tail pulls below it: the previous grid value,
        // which at a binade start lies on the finer grid below
        if (n === 128 && e > -126) return signBits | (f32ToBits(255 * 2 ** (qExp - 1)) >>> 16);
        n -= 1;
      }
      break;
    case 'stochastic': {
      const draw = counterUniform16(opts.seed ?? 0, opts.index ?? 0);
      const frac16 = Math.floor(frac * 65536);
      if (frac16 + draw >= 65536) n += 1;
      break;
    }
  }
  // n ∈ [0, 256]; n = 256 is a carry into the next binade.
  const value = n * pow2(qExp);
  if (value >= 2 ** 128) {
    return rounding === 'rtz' ? signBits | BF16.MAX : signBits | 0x7f80;
  }
  const r = signBits | (f32ToBits(value) >>> 16); // value is a bf16 number, so exact in f32
  return finishBf16(r, negative ? 0x80000000 : 0, profile);
}

// ---------------------------------------------------------------- bulk conversions
/** Float32Array → bf16 bits, RNE (ieee NaN policy), reading raw bits so NaN payloads survive. */
export function bulkFromF32(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  // int32 view: values stay small integers for V8 (uint32 reads above 2^31 become doubles);
  // x + 0x7fff + lsb never wraps past 2^32 for a non-NaN pattern, and >>> 16 reads it unsigned
  const u = new Int32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    dst[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x0040 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return dst;
}
/** bf16 bits → Float32Array (exact) */
export function bulkToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return dst;
}

let decodeTable: Float32Array | undefined;
/** the 65,536-entry bf16 → f32 decode table, built once */
export function decodeTableF32(): Float32Array {
  if (!decodeTable) {
    decodeTable = new Float32Array(65536);
    const u = new Uint32Array(decodeTable.buffer);
    for (let b = 0; b < 65536; b++) u[b] = b << 16;
  }
  return decodeTable;
}

/** bf16 tensor storage: Uint16Array bits, number access rounds RNE on write. */
export class BF16Array {
  readonly bits: Uint16Array;
  constructor(lengthOrBits: number | Uint16Array) {
    this.bits = typeof lengthOrBits === 'number' ? new Uint16Array(lengthOrBits) : lengthOrBits;
  }
  static fromF32(src: Float32Array | number[]): BF16Array {
    const f = src instanceof Float32Array ? src : Float32Array.from(src);
    return new BF16Array(bulkFromF32(f));
  }
  get length(): number {
    return this.bits.length;
  }
  get(i: number): number {
    return toF32(this.bits[i]);
  }
  set(i: number, x: number): void {
    this.bits[i] = fromF32(x);
  }
  toF32(): Float32Array {
    return bulkToF32(this.bits);
  }
}

// ---------------------------------------------------------------- formatting
export const hex16 = (b: number): string => '0x' + (b & 0xffff).toString(16).toUpperCase().padStart(4, '0');
export const hex32 = (u: number): string => '0x' + (u >>> 0).toString(16).toUpperCase().padStart(8, '0');

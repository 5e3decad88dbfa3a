// The slow, independent oracle for the bf16 library (TestFloat's "slowfloat" idea):
// exact rational arithmetic on BigInt, decoding formats from their bit fields and
// rounding by integer division. It shares no code with bf16.ts / bf16-arith.ts.

export interface Rational {
  /** sign as a separate flag so that −0 is representable */
  neg: boolean;
  num: bigint; // ≥ 0
  den: bigint; // > 0
}
export type Special = { kind: 'nan' } | { kind: 'inf'; neg: boolean };
export type Exact = Rational | Special;

const isSpecial = (x: Exact): x is Special => 'kind' in x;

function fromFields(neg: boolean, expField: number, frac: bigint, fracBits: number, bias: number, maxExp: number): Exact {
  if (expField === maxExp) return frac === 0n ? { kind: 'inf', neg } : { kind: 'nan' };
  // value = (implicit + frac / 2^fracBits) * 2^(e - bias), subnormals use e = 1 and no implicit bit
  const significand = expField === 0 ? frac : frac + (1n << BigInt(fracBits));
  const e = (expField === 0 ? 1 : expField) - bias - fracBits;
  return e >= 0
    ? { neg, num: significand << BigInt(e), den: 1n }
    : { neg, num: significand, den: 1n << BigInt(-e) };
}

export function decodeBf16(b: number): Exact {
  return fromFields((b & 0x8000) !== 0, (b >>> 7) & 0xff, BigInt(b & 0x7f), 7, 127, 0xff);
}
export function decodeF32Bits(u: number): Exact {
  u = u >>> 0;
  return fromFields(u >>> 31 === 1, (u >>> 23) & 0xff, BigInt(u & 0x7fffff), 23, 127, 0xff);
}
export function decodeF64(x: number): Exact {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0);
  const neg = bits >> 63n === 1n;
  const expField = Number((bits >> 52n) & 0x7ffn);
  return fromFields(neg, expField, bits & ((1n << 52n) - 1n), 52, 1023, 0x7ff);
}

const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);

/** floor(log2(num/den)) for num, den > 0 */
function floorLog2(num: bigint, den: bigint): number {
  let k = bitLength(num) - bitLength(den); // 2^(k-1) < num/den < 2^(k+1)
  const ge = (kk: number) => (kk >= 0 ? num >= den << BigInt(kk) : num << BigInt(-kk) >= den);
  if (!ge(k)) k -= 1;
  return k;
}

export type SlowRounding = 'rne' | 'rtz';

/** bf16 bits of a rational under round-to-nearest-even or toward zero; IEEE overflow and subnormals */
export function roundToBf16(x: Exact, rounding: SlowRounding = 'rne'): number {
  if (isSpecial(x)) return x.kind === 'nan' ? 0x7fc0 : x.neg ? 0xff80 : 0x7f80;
  const sign = x.neg ? 0x8000 : 0;
  if (x.num === 0n) return sign;
  const k = Math.max(floorLog2(x.num, x.den), -126);
  const q = k - 7; // quantum exponent
  // n + r/d = x / 2^q
  const num = q >= 0 ? x.num : x.num << BigInt(-q);
  const den = q >= 0 ? x.den << BigInt(q) : x.den;
  let n = num / den;
  const rem = num - n * den;
  if (rounding === 'rne') {
    const twice = 2n * rem;
    if (twice > den || (twice === den && (n & 1n) === 1n)) n += 1n;
  }
  return encode(sign, Number(n), q, rounding);
}

/** bf16 bits of sign · n · 2^q with n ≤ 256 on the grid of the binade selected by q */
function encode(sign: number, n: number, q: number, rounding: SlowRounding): number {
  if (n === 256) { n = 128; q += 1; }
  if (n === 0) return sign;
  const expField = n < 128 ? 0 : q + 7 + 127;
  if (expField >= 0xff) return sign | (rounding === 'rtz' ? 0x7f7f : 0x7f80);
  return sign | (expField << 7) | (n & 0x7f);
}

// ------------------------------------------------------------------ exact arithmetic
function norm(neg: boolean, num: bigint, den: bigint): Rational {
  if (den < 0n) { num = -num; den = -den; }
  if (num < 0n) return { neg: !neg, num: -num, den };
  return { neg, num, den };
}
const signed = (x: Rational): bigint => (x.neg ? -x.num : x.num);

export function addExact(a: Rational, b: Rational): Rational {
  const num = signed(a) * b.den + signed(b) * a.den;
  const den = a.den * b.den;
  if (num === 0n) return { neg: a.neg && b.neg, num: 0n, den: 1n }; // exact zero sum: +0 under RNE unless both −0
  return norm(false, num, den);
}
export function mulExact(a: Rational, b: Rational): Rational {
  return { neg: a.neg !== b.neg, num: a.num * b.num, den: a.den * b.den };
}
export function divExact(a: Rational, b: Rational): Rational {
  return { neg: a.neg !== b.neg, num: a.num * b.den, den: a.den * b.num };
}

/** bf16 bits of sqrt(x) for x ≥ 0, RNE, by integer square roots */
export function sqrtToBf16(x: Rational): number {
  if (x.num === 0n) return x.neg ? 0x8000 : 0;
  // floor(log2 sqrt(x)) = floor(floorLog2(x) / 2)
  const k = Math.max(Math.floor(floorLog2(x.num, x.den) / 2), -126);
  const q = k - 7;
  // n = floor(sqrt(x) / 2^q) = isqrt(floor(x · 2^(-2q)))
  const num = -2 * q >= 0 ? x.num << BigInt(-2 * q) : x.num;
  const den = -2 * q >= 0 ? x.den : x.den << BigInt(2 * q);
  let n = isqrt(num / den);
  // compare sqrt(y) with n + 1/2  ⇔  4y with (2n+1)^2
  const lhs = 4n * num;
  const rhs = (2n * n + 1n) ** 2n * den;
  if (lhs > rhs || (lhs === rhs && (n & 1n) === 1n)) n += 1n;
  return encode(0, Number(n), q, 'rne');
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

// ------------------------------------------------------------------ ops with IEEE specials
/** the IEEE result of a bf16 op, exactly rounded, with NaN reported as 0x7FC0 (compare NaNs by class) */
export function slowBinary(op: 'add' | 'sub' | 'mul' | 'div', ab: number, bb: number): number {
  const a = decodeBf16(ab);
  const b = decodeBf16(bb);
  if (isSpecial(a) || isSpecial(b)) return specialBinary(op, a, b);
  if (op === 'add') return roundToBf16(addExact(a, b));
  if (op === 'sub') return roundToBf16(addExact(a, { ...b, neg: !b.neg }));
  if (op === 'mul') return roundToBf16(mulExact(a, b));
  if (b.num === 0n) return a.num === 0n ? 0x7fc0 : a.neg !== b.neg ? 0xff80 : 0x7f80;
  return roundToBf16(divExact(a, b));
}

export function slowSqrt(ab: number): number {
  const a = decodeBf16(ab);
  if (isSpecial(a)) return a.kind === 'nan' || a.neg ? 0x7fc0 : 0x7f80;
  if (a.neg && a.num !== 0n) return 0x7fc0;
  return sqrtToBf16(a);
}

export function slowFma(ab: number, bb: number, cb: number): number {
  const a = decodeBf16(ab);
  const b = decodeBf16(bb);
  const c = decodeBf16(cb);
  if (isSpecial(a) || isSpecial(b) || isSpecial(c)) {
    if ([a, b, c].some((x) => isSpecial(x) && x.kind === 'nan')) return 0x7fc0;
    const prod = isSpecial(a) || isSpecial(b) ? specialMul(a, b) : null;
    if (prod && prod.kind === 'nan') return 0x7fc0;
    if (prod && isSpecial(c)) return prod.kind === 'inf' && c.kind === 'inf' && prod.neg !== c.neg ? 0x7fc0 : roundToBf16(prod);
    if (prod) return roundToBf16(prod);
    return roundToBf16(c);
  }
  const p = mulExact(a, b);
  return roundToBf16(addExact(p, c));
}

function specialMul(a: Exact, b: Exact): Special {
  if ((isSpecial(a) && a.kind === 'nan') || (isSpecial(b) && b.kind === 'nan')) return { kind: 'nan' };
  const zero = (x: Exact) => !isSpecial(x) && x.num === 0n;
  if (zero(a) || zero(b)) return { kind: 'nan' };
  return { kind: 'inf', neg: (a as { neg: boolean }).neg !== (b as { neg: boolean }).neg };
}

function specialBinary(op: 'add' | 'sub' | 'mul' | 'div', a: Exact, b: Exact): number {
  if ((isSpecial(a) && a.kind === 'nan') || (isSpecial(b) && b.kind === 'nan')) return 0x7fc0;
  const negOf = (x: Exact) => (x as { neg: boolean }).neg;
  const infA = isSpecial(a);
  const infB = isSpecial(b);
  switch (op) {
    case 'add':
    case 'sub': {
      const nb = op === 'sub' ? !negOf(b) : negOf(b);
      if (infA && infB) return negOf(a) !== nb ? 0x7fc0 : negOf(a) ? 0xff80 : 0x7f80;
      const neg = infA ? negOf(a) : nb;
      return neg ? 0xff80 : 0x7f80;
    }
    case 'mul':
      return roundToBf16(specialMul(a, b));
    case 'div': {
      if (infA && infB) return 0x7fc0;
      const neg = negOf(a) !== negOf(b);
      if (infA) return neg ? 0xff80 : 0x7f80;
      return neg ? 0x8000 : 0; // finite / Inf
    }
  }
}

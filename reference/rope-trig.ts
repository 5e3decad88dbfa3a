// The oracle's transcendental policy (SPEC.md, "rope: transcendentals").
//
// cos, sin and pow results that land in float32 are CORRECTLY ROUNDED: the f32 value
// nearest to the exact real result. The fast path evaluates in float64 (V8's fdlibm
// ports, error < 1 f64 ulp) and rounds to f32. Rounding an f64 approximation is only
// safe when the approximation's error interval does not contain an f32 rounding
// boundary (a midpoint between two f32 values); when it does ("a hazard", roughly
// 1 in 10^7 arguments) the value is recomputed in BigInt fixed point with 256
// fraction bits (exact argument reduction, Taylor / atanh series) and that is rounded.
// The slow path's own error is below 2^-200 relative: it could only misround a result
// within 2^-200 of a midpoint, which no f32 argument comes near (documented, not proven).

/** f64 ulps of slack around the fast result (fdlibm is < 1 ulp; 4 leaves room) */
const FAST_MARGIN_ULPS = 4;

/** counters for the demo/tests: how often the slow path ran */
export const trigStats = { fast: 0, slow: 0 };

// ---------------------------------------------------------------- BigInt fixed point
const S = 256n; // fraction bits
const ONE = 1n << S;

function fixMul(a: bigint, b: bigint): bigint {
  return (a * b) >> S;
}
function fixDivInt(a: bigint, n: bigint): bigint {
  return a / n;
}

/** atan(1/n) in fixed point, by its alternating series */
function atanInv(n: bigint): bigint {
  const n2 = n * n;
  let term = ONE / n;
  let sum = term;
  for (let k = 1n; term !== 0n; k++) {
    term /= n2;
    const t = term / (2n * k + 1n);
    sum += k & 1n ? -t : t;
  }
  return sum;
}
/** π by Machin's formula, 16·atan(1/5) − 4·atan(1/239) (a few guard bits lost at the last place) */
const PI = 16n * atanInv(5n) - 4n * atanInv(239n);
const HALF_PI = PI >> 1n;
/** ln 2 = 2·atanh(1/3) */
const LN2 = 2n * atanhFix(ONE / 3n);

function atanhFix(z: bigint): bigint {
  const z2 = fixMul(z, z);
  let p = z;
  let sum = z;
  for (let k = 3n; p !== 0n; k += 2n) {
    p = fixMul(p, z2);
    sum += p / k;
  }
  return sum;
}

/** the exact value of a finite double as fixed point (exact when its lowest bit is ≥ 2^-256) */
function toFix(x: number): bigint {
  if (!Number.isFinite(x)) throw new RangeError(`rope-trig: non-finite argument ${x}`);
  if (x === 0) return 0n;
  const neg = x < 0;
  let a = Math.abs(x);
  let e = 0;
  while (a >= 2 ** 53) { a /= 2; e++; } // exact: halving a double
  while (!Number.isInteger(a)) { a *= 2; e--; } // exact doubling until integral
  let m = BigInt(a);
  m = e >= 0 ? m << (S + BigInt(e)) : m << S >> BigInt(-e);
  return neg ? -m : m;
}

/** bit length of a non-negative BigInt */
function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** round R·2^scale (R an integer) to the nearest float32, ties to even. Normal f32 range assumed. */
export function roundScaledToF32(R: bigint, scale: number): number {
  if (R === 0n) return 0;
  const neg = R < 0n;
  let a = neg ? -R : R;
  const L = bitLength(a);
  let shift = L - 24;
  // subnormal f32: keep fewer bits so the last kept bit is 2^-149
  if (L + scale - 1 < -126) shift = -149 - scale;
  if (shift > 0) {
    const rem = a & ((1n << BigInt(shift)) - 1n);
    const half = 1n << BigInt(shift - 1);
    a >>= BigInt(shift);
    if (rem > half || (rem === half && (a & 1n) === 1n)) a += 1n;
  } else shift = 0;
  const v = Number(a) * 2 ** (shift + scale); // a ≤ 2^24: exact
  return Math.fround(neg ? -v : v);
}

// ---------------------------------------------------------------- slow sin / cos
/** sin and cos of a fixed-point r with |r| ≤ π/4, Taylor series */
function sinCosSmall(r: bigint): { s: bigint; c: bigint } {
  const r2 = fixMul(r, r);
  let s = r;
  let term = r;
  for (let n = 1n; term !== 0n; n++) {
    term = -fixDivInt(fixMul(term, r2), 2n * n * (2n * n + 1n));
    s += term;
  }
  let c = ONE;
  term = ONE;
  for (let n = 1n; term !== 0n; n++) {
    term = -fixDivInt(fixMul(term, r2), (2n * n - 1n) * (2n * n));
    c += term;
  }
  return { s, c };
}

/** exact reduction x = k·π/2 + r (|r| ≤ π/4) then the quadrant's series; fixed-point sin, cos */
function sinCosFix(x: number): { s: bigint; c: bigint } {
  const X = toFix(x);
  // k = nearest integer to X / (π/2)
  const k = (2n * X + (X >= 0n ? HALF_PI : -HALF_PI)) / (2n * HALF_PI);
  const r = X - k * HALF_PI;
  const { s, c } = sinCosSmall(r);
  switch (Number(((k % 4n) + 4n) % 4n)) {
    case 0: return { s, c };
    case 1: return { s: c, c: -s };
    case 2: return { s: -s, c: -c };
    default: return { s: -c, c: s };
  }
}

/** correctly rounded f32 cos(x) and sin(x) from the slow path (x a finite double, |x| < 2^40) */
export function slowSinCosF32(x: number): { cos: number; sin: number } {
  const { s, c } = sinCosFix(x);
  return { cos: roundScaledToF32(c, -256), sin: roundScaledToF32(s, -256) };
}

// ---------------------------------------------------------------- slow pow
/** exp of a fixed-point x, as (mantissa fixed point, power of two) */
function expFix(x: bigint): { m: bigint; e: number } {
  // x = k·ln2 + r, |r| ≤ ln2/2; exp(r) = (exp(r/2^16))^(2^16)
  const k = (2n * x + (x >= 0n ? LN2 : -LN2)) / (2n * LN2);
  const r = (x - k * LN2) >> 16n;
  let sum = ONE;
  let term = ONE;
  for (let n = 1n; term !== 0n; n++) {
    term = fixMul(term, r) / n;
    sum += term;
  }
  for (let i = 0; i < 16; i++) sum = fixMul(sum, sum);
  return { m: sum, e: Number(k) };
}
/** ln of a positive finite double, fixed point: ln(m·2^E) = E·ln2 + 2·atanh((m−1)/(m+1)) */
function logFix(b: number): bigint {
  let E = 0;
  let m = b;
  while (m >= 2) { m /= 2; E++; }
  while (m < 1) { m *= 2; E--; }
  const M = toFix(m);
  const z = ((M - ONE) << S) / (M + ONE);
  return BigInt(E) * LN2 + 2n * atanhFix(z);
}
/** correctly rounded f32 of b^e (b > 0) from the slow path */
export function slowPowF32(b: number, e: number): number {
  const { m, e: k } = expFix(fixMul(toFix(e), logFix(b)));
  return roundScaledToF32(m, k - 256);
}

// ---------------------------------------------------------------- fast path + hazard check
/**
 * f32 rounding of y, an f64 approximation with error ≤ FAST_MARGIN_ULPS f64 ulps, or
 * undefined when that interval straddles an f32 rounding boundary.
 */
function safeRoundF32(y: number): number | undefined {
  const slack = FAST_MARGIN_ULPS * Math.max(Math.abs(y) * 2 ** -52, 2 ** -1074);
  const lo = Math.fround(y - slack);
  const hi = Math.fround(y + slack);
  return lo === hi ? lo : undefined;
}

/** correctly rounded float32 cos(x) of a double x */
export function cosF32(x: number): number {
  const r = safeRoundF32(Math.cos(x));
  if (r !== undefined) { trigStats.fast++; return r; }
  trigStats.slow++;
  return slowSinCosF32(x).cos;
}
/** correctly rounded float32 sin(x) of a double x (sin(±0) = ±0) */
export function sinF32(x: number): number {
  if (x === 0) return x;
  const r = safeRoundF32(Math.sin(x));
  if (r !== undefined) { trigStats.fast++; return r; }
  trigStats.slow++;
  return slowSinCosF32(x).sin;
}
/** correctly rounded float32 b^e for b > 0 (the pow in inv_freq = 1 / base^(2m/d)) */
export function powF32(b: number, e: number): number {
  if (e === 0 || b === 1) return 1;
  const y = Math.pow(b, e);
  if (!Number.isFinite(y) || y === 0) return Math.fround(y); // overflow / underflow: no boundary to resolve
  const r = safeRoundF32(y);
  if (r !== undefined) { trigStats.fast++; return r; }
  trigStats.slow++;
  return slowPowF32(b, e);
}

// ---------------------------------------------------------------- the f64 ideal
/** Dekker's exact product: a·b = p + e exactly (no fma in JS) */
export function twoProd(a: number, b: number): { p: number; e: number } {
  const p = a * b;
  const split = (x: number) => {
    const c = 134217729 * x; // 2^27 + 1
    const hi = c - (c - x);
    return [hi, x - hi];
  };
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  const e = ah * bh - p + ah * bl + al * bh + al * bl;
  return { p, e };
}

/**
 * cos and sin of the EXACT angle a·b (a double-double product), to about 1 f64 ulp: the
 * f64 path's ideal, so that the angle's own f64 rounding (≈ 2^-53·|angle|, 1e-10 rad at
 * position 2^20) does not masquerade as a relative-position violation.
 */
export function cosSinOfProduct(a: number, b: number): { cos: number; sin: number } {
  const { p, e } = twoProd(a, b);
  const c = Math.cos(p);
  const s = Math.sin(p);
  // cos(p + e) = cos p − e·sin p + O(e²), |e| ≤ 2^-53·|p|
  return { cos: c - e * s, sin: s + e * c };
}

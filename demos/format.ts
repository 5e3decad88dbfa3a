// How the demos print a measured number: `digits` significant digits inside [lo, hi), exponent
// form (digits − 1 decimals) outside it, 0 as "0"; NaN and ±Infinity print as themselves.
export function fmtSig(x: number, digits = 4, lo = 1e-3, hi = 1e4): string {
  if (x === 0) return '0';
  return Math.abs(x) >= lo && Math.abs(x) < hi ? x.toPrecision(digits) : x.toExponential(digits - 1);
}

// Small statistics for the experiments (demos/experiments.ts): means and spreads over seeds,
// Spearman's rank correlation, a log-log slope with its standard error, and the one test
// that decides whether two groups of seeds differ by more than their spread. Every verdict
// the report prints is computed by these functions from the numbers, never typed in.

export const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** sample standard deviation (n − 1); 0 for fewer than two values */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** 1-based ranks, ties sharing their average rank */
export function ranks(xs: readonly number[]): number[] {
  const idx = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && xs[idx[j + 1]] === xs[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Pearson correlation; NaN when either side is constant or there are fewer than 2 points */
export function pearson(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new RangeError(`pearson: ${x.length} ≠ ${y.length} values`);
  if (x.length < 2) return NaN;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Spearman's ρ: Pearson on the ranks (ties averaged) */
export const spearman = (x: readonly number[], y: readonly number[]): number => pearson(ranks(x), ranks(y));

export interface LogLogFit {
  /** d ln y / d ln x of the least-squares line */
  slope: number;
  /** the slope's standard error (NaN with fewer than 3 points) */
  se: number;
  intercept: number;
  n: number;
}

/** least squares of ln y on ln x (every x, y must be > 0) */
export function logLogFit(x: readonly number[], y: readonly number[]): LogLogFit {
  if (x.length !== y.length) throw new RangeError(`logLogFit: ${x.length} ≠ ${y.length} values`);
  if (x.length < 2) throw new RangeError('logLogFit: needs at least 2 points');
  if (x.some((v) => !(v > 0)) || y.some((v) => !(v > 0))) throw new RangeError('logLogFit: every value must be positive');
  const lx = x.map(Math.log);
  const ly = y.map(Math.log);
  const mx = mean(lx);
  const my = mean(ly);
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < lx.length; i++) {
    sxx += (lx[i] - mx) ** 2;
    sxy += (lx[i] - mx) * (ly[i] - my);
  }
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const n = lx.length;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (ly[i] - intercept - slope * lx[i]) ** 2;
  const se = n > 2 ? Math.sqrt(sse / (n - 2) / sxx) : NaN;
  return { slope, se, intercept, n };
}

export interface Spread {
  n: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}
export function spread(xs: readonly number[]): Spread {
  return { n: xs.length, mean: mean(xs), std: std(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

export interface SpreadVerdict {
  /** mean(a) − mean(b) */
  diff: number;
  /** √((s_a² + s_b²) / 2), sample standard deviations over the seeds */
  pooledStd: number;
  /** [min, max] of a and of b overlap */
  rangesOverlap: boolean;
  /** |diff| > 2·pooledStd AND the ranges do not overlap (both sides need ≥ 2 seeds) */
  larger: boolean;
  /** 'larger than seed spread' | 'within seed spread' | 'n/a (…)' */
  text: string;
}

/** the factor of the pooled standard deviation a difference must exceed */
export const SPREAD_FACTOR = 2;

/**
 * Do two groups of per-seed values differ by more than their seed-to-seed spread? The
 * test: |mean(a) − mean(b)| > 2·pooled std, and the two [min, max] ranges do not overlap.
 * Both must hold (identical groups, or groups whose ranges interleave, are "within seed
 * spread"); with fewer than 2 seeds on a side there is no spread to compare with.
 */
export function compareSpread(a: readonly number[], b: readonly number[]): SpreadVerdict {
  const diff = mean(a) - mean(b);
  const pooledStd = Math.sqrt((std(a) ** 2 + std(b) ** 2) / 2);
  const rangesOverlap = Math.max(Math.min(...a), Math.min(...b)) <= Math.min(Math.max(...a), Math.max(...b));
  if (a.length < 2 || b.length < 2) return { diff, pooledStd, rangesOverlap, larger: false, text: 'n/a (needs ≥ 2 seeds per side)' };
  const larger = Math.abs(diff) > SPREAD_FACTOR * pooledStd && !rangesOverlap;
  return { diff, pooledStd, rangesOverlap, larger, text: larger ? 'larger than seed spread' : 'within seed spread' };
}

// Self-contained SVG line plots (no dependencies): linear or log axes, several series,
// a legend. Used by demos, the trainer's loss curve, benchmarks and the report.

export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** draw markers at the points as well as the line */
  markers?: boolean;
  dashed?: boolean;
}
export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** at most this many ticks on an axis, whatever the data */
const MAX_TICKS = 40;

/**
 * Tick values for [lo, hi]. Bounded: never more than MAX_TICKS, whatever lo and hi are
 * (non-finite bounds, or a non-positive lo on a log axis, give no ticks), and computed
 * from an integer index so a step below the ulp of lo cannot stall the loop.
 */
export function niceTicks(lo: number, hi: number, log: boolean): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi < lo) return [];
  if (log) {
    if (!(lo > 0)) return [];
    const e0 = Math.floor(Math.log10(lo));
    const e1 = Math.ceil(Math.log10(hi));
    const every = Math.max(1, Math.ceil((e1 - e0 + 1) / MAX_TICKS));
    const ticks: number[] = [];
    for (let k = 0; k <= e1 - e0 && ticks.length < MAX_TICKS; k += every) ticks.push(10 ** (e0 + k));
    return ticks.filter((t) => Number.isFinite(t) && t >= lo * 0.999 && t <= hi * 1.001);
  }
  const span = hi - lo || Math.abs(hi) || 1;
  if (!Number.isFinite(span)) return [lo, hi];
  const step0 = 10 ** Math.floor(Math.log10(span / 5));
  const step = [1, 2, 5, 10].map((m) => m * step0).find((s) => span / s <= 6) ?? step0 * 10;
  const k0 = Math.ceil(lo / step);
  const k1 = Math.floor((hi + step * 1e-9) / step);
  if (!Number.isFinite(k0) || !Number.isFinite(k1) || !(step > 0)) return [];
  const ticks: number[] = [];
  for (let k = k0; k <= k1 && ticks.length < MAX_TICKS; k++) {
    const t = k * step;
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

export function linePlot(series: Series[], o: PlotOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 420;
  const m = { l: 78, r: 20, t: 40, b: 56 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b - 18 * Math.ceil(series.length / 3);
  // points that cannot be drawn are left out, never fatal: non-finite values always, and
  // values ≤ 0 on a log axis; an axis asked to be log with no positive value falls back
  // to linear, and the plot says so
  let total = 0;
  let finite = 0;
  let posX = false;
  let posY = false;
  let posXY = false;
  for (const s of series)
    for (let i = 0; i < s.x.length; i++) {
      total++;
      const x = s.x[i];
      const y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      finite++;
      if (x > 0) posX = true;
      if (y > 0) posY = true;
      if (x > 0 && y > 0) posXY = true;
    }
  let logX = Boolean(o.logX);
  let logY = Boolean(o.logY);
  const notes: string[] = [];
  if (finite && logX && logY && !posXY && posX && posY) {
    // no point is positive on both axes: keep the log axis that has more to show
    logX = false;
    notes.push('no point positive on both axes: x axis linear');
  }
  if (finite && logX && !posX) {
    logX = false;
    notes.push('no positive x value: x axis linear');
  }
  if (finite && logY && !posY) {
    logY = false;
    notes.push('no positive y value: y axis linear');
  }
  if (!finite) {
    logX = logY = false;
    notes.push(total ? 'no finite value to plot' : 'no data to plot');
  }
  const ok = (v: number, log: boolean) => Number.isFinite(v) && (!log || v > 0);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of series)
    for (let i = 0; i < s.x.length; i++)
      if (ok(s.x[i], logX) && ok(s.y[i], logY)) {
        xs.push(s.x[i]);
        ys.push(s.y[i]);
      }
  if (finite && xs.length < total) notes.push(`${total - xs.length} of ${total} points not drawn (${logX || logY ? 'not finite, or ≤ 0 on a log axis' : 'not finite'})`);
  const extent = (v: number[]): [number, number] => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of v) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    return v.length ? [lo, hi] : [0, 1];
  };
  let [x0, x1] = extent(xs);
  let [y0, y1] = extent(ys);
  if (x0 === x1) [x0, x1] = logX ? [x0 / 2, x1 * 2] : [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = logY ? [y0 / 2, y1 * 2] : [y0 - 1, y1 + 1];
  o = { ...o, logX, logY };
  if (!o.logY) {
    const pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
  }
  const tx = (v: number) => m.l + (o.logX ? (Math.log(v) - Math.log(x0)) / (Math.log(x1) - Math.log(x0)) : (v - x0) / (x1 - x0)) * pw;
  const ty = (v: number) => m.t + ph - (o.logY ? (Math.log(v) - Math.log(y0)) / (Math.log(y1) - Math.log(y0)) : (v - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of niceTicks(x0, x1, Boolean(o.logX))) {
    const X = tx(t).toFixed(1);
    parts.push(`<line x1="${X}" y1="${m.t}" x2="${X}" y2="${m.t + ph}" stroke="#eee"/><text x="${X}" y="${m.t + ph + 16}" text-anchor="middle">${fmtTick(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1, Boolean(o.logY))) {
    const Y = ty(t).toFixed(1);
    parts.push(`<line x1="${m.l}" y1="${Y}" x2="${m.l + pw}" y2="${Y}" stroke="#eee"/><text x="${m.l - 6}" y="${Y}" text-anchor="end" dominant-baseline="middle">${fmtTick(t)}</text>`);
  }
  notes.forEach((n, k) => parts.push(`<text x="${m.l + pw / 2}" y="${m.t + 18 + 16 * k}" text-anchor="middle" fill="#a00">${esc(n)}</text>`));
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 36}" text-anchor="middle">${esc(o.xLabel)}${o.logX ? ' (log)' : ''}</text>`);
  parts.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}${o.logY ? ' (log)' : ''}</text>`);
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    const pts: string[] = [];
    for (let i = 0; i < s.x.length; i++) if (ok(s.x[i], logX) && ok(s.y[i], logY)) pts.push(`${tx(s.x[i]).toFixed(1)},${ty(s.y[i]).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.join(' ')}"/>`);
    if (s.markers) for (const p of pts) parts.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${color}"/>`);
    const lx = m.l + (k % 3) * (pw / 3);
    const ly = m.t + ph + 50 + 18 * Math.floor(k / 3);
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="2.5"/><text x="${lx + 28}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** a simple bar chart: one bar per label */
export function barPlot(labels: string[], values: number[], o: Omit<PlotOptions, 'logX'>): string {
  const W = o.width ?? 720;
  const H = o.height ?? 380;
  const m = { l: 78, r: 20, t: 40, b: 90 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  // a log axis with no positive value falls back to linear (and says so)
  let note = '';
  if (o.logY && !values.some((v) => Number.isFinite(v) && v > 0)) {
    o = { ...o, logY: false };
    note = values.some(Number.isFinite) ? 'no positive value: linear axis' : 'no finite value to plot';
  } else if (!values.some(Number.isFinite)) note = 'no finite value to plot';
  const finite = values.filter((v) => Number.isFinite(v) && (!o.logY || v > 0));
  const lo = finite.reduce((a, v) => Math.min(a, v), Infinity);
  const y1 = finite.length ? finite.reduce((a, v) => Math.max(a, v), -Infinity) : 1;
  const y0 = o.logY ? lo / 2 : Math.min(0, finite.length ? lo : 0);
  const ty = (v: number) => m.t + ph - (o.logY ? (Math.log(v) - Math.log(y0)) / (Math.log(y1) - Math.log(y0)) : (v - y0) / (y1 - y0 || 1)) * ph;
  const bw = pw / Math.max(1, labels.length);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of niceTicks(y0 || (o.logY ? 1e-12 : 0), y1, Boolean(o.logY))) {
    const Y = ty(t).toFixed(1);
    parts.push(`<line x1="${m.l}" y1="${Y}" x2="${m.l + pw}" y2="${Y}" stroke="#eee"/><text x="${m.l - 6}" y="${Y}" text-anchor="end" dominant-baseline="middle">${fmtTick(t)}</text>`);
  }
  labels.forEach((lab, i) => {
    const v = values[i];
    const x = m.l + i * bw + bw * 0.15;
    if (Number.isFinite(v) && (!o.logY || v > 0)) {
      const top = ty(v);
      parts.push(`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(bw * 0.7).toFixed(1)}" height="${(ty(o.logY ? y0 : Math.max(y0, 0)) - top).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"/>`);
    }
    parts.push(`<text transform="translate(${(x + bw * 0.35).toFixed(1)} ${m.t + ph + 12}) rotate(30)" font-size="11">${esc(lab)}</text>`);
  });
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  if (note) parts.push(`<text x="${m.l + pw / 2}" y="${m.t + 18}" text-anchor="middle" fill="#a00">${esc(note)}</text>`);
  parts.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

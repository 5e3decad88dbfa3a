// Self-contained SVG plots (no dependencies): line plots on linear or log axes, several
// series, one or several panels (each with its own axes) in one SVG, and bar charts. Used by
// the demos, the trainer's loss curve, the benchmarks and the report.
//
// Readability rules, all enforced here rather than left to callers:
// - every axis shows at least 3 labelled ticks, labelled in one format per axis (0.002 or 2e-3),
//   never colliding: a log axis gets powers of ten, or 1…9 / 1-2-5 / 1-3 mantissas within a
//   decade or two, or, on a range within a small factor, ticks evenly spaced in value;
// - each series has its own colour, dash pattern and marker shape, later series are drawn
//   thinner and with offset markers so a curve lying exactly on another stays visible;
// - the legend sits outside the plot area (below it), long names wrap, the SVG grows to fit;
// - every drawn point carries a <title> (series, x, y) for hover;
// - points that cannot be drawn (not finite, or ≤ 0 on a log axis) are counted in the legend;
// - text is measured conservatively (0.6 · font size per character, 0.66 bold) so nothing is
//   clipped: margins come from the longest tick label, titles wrap.

export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** a marker at every point (default: every point up to 25 points, else about 16 spread along the curve) */
  markers?: boolean;
  /** kept for compatibility: every series now gets its own dash pattern whatever this says */
  dashed?: boolean;
}

export interface AxisOptions {
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
}

/** one panel of a `linePlot(..., { panels })`: takes the series `select` accepts (the rest when absent) */
export interface PanelSpec extends Partial<AxisOptions> {
  title: string;
  /** a series goes to the first panel whose `select` accepts its name (RegExp) or itself (function) */
  select?: RegExp | ((s: Series) => boolean);
}

export interface PlotOptions extends AxisOptions {
  title: string;
  /** width of the whole SVG (default 720, or 940 with panels side by side) */
  width?: number;
  /** height of the plot area plus its axes, per panel; the SVG grows for titles and legends (default 420) */
  height?: number;
  /** split the series into panels, each with its own axes (empty panels are left out) */
  panels?: PanelSpec[];
  /** panels per row (default: all side by side, at most 2) */
  columns?: number;
}

export interface Panel {
  title: string;
  series: Series[];
  /** axes of this panel (labels default to the figure's) */
  options?: Partial<AxisOptions>;
}

export interface FigureOptions extends Partial<AxisOptions> {
  title: string;
  width?: number;
  height?: number;
  columns?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];
/** dash patterns, '' = solid */
const DASHES = ['', '7 3', '2 2.5', '9 3 2 3', '4 2 1 2 1 2', '13 4'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'triangle-down', 'cross', 'plus'] as const;
export type Marker = (typeof MARKERS)[number];

/** the style of the k-th series: (colour, dash, marker) triples are distinct for k < 210 */
export function seriesStyle(k: number): { color: string; dash: string; marker: Marker } {
  return { color: COLORS[k % COLORS.length], dash: DASHES[k % DASHES.length], marker: MARKERS[k % MARKERS.length] };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

/** at most this many ticks on an axis, whatever the data */
const MAX_TICKS = 40;
const FONT = 12;
const TITLE_FONT = 15;
const PANEL_TITLE_FONT = 13;
const NOTE = '#a00';

/** conservative width of a text in pixels: 0.6 · font size per character (0.66 when bold) */
export function textWidth(s: string, fontSize = FONT, bold = false): number {
  return [...s].length * fontSize * (bold ? 0.66 : 0.6);
}

/** greedy word wrap to maxPx; a word longer than a line is cut */
export function wrapText(s: string, maxPx: number, fontSize = FONT, bold = false): string[] {
  const per = Math.max(1, Math.floor(maxPx / (fontSize * (bold ? 0.66 : 0.6))));
  const lines: string[] = [];
  let cur = '';
  for (let word of s.split(/\s+/).filter(Boolean)) {
    while ([...word].length > per) {
      if (cur) {
        lines.push(cur);
        cur = '';
      }
      const cps = [...word];
      lines.push(cps.slice(0, per).join(''));
      word = cps.slice(per).join('');
    }
    if (!cur) cur = word;
    else if ([...cur].length + 1 + [...word].length <= per) cur += ' ' + word;
    else {
      lines.push(cur);
      cur = word;
    }
  }
  if (cur || !lines.length) lines.push(cur);
  return lines;
}

/** wrapText with lines of even length: as many lines as greedy wrapping needs, none longer than it must be */
function wrapBalanced(s: string, maxPx: number, fontSize: number, bold: boolean): string[] {
  const lines = wrapText(s, maxPx, fontSize, bold);
  if (lines.length < 2) return lines;
  let lo = 1;
  let hi = maxPx;
  while (hi - lo > 1) {
    const mid = (lo + hi) / 2;
    if (wrapText(s, mid, fontSize, bold).length <= lines.length) hi = mid;
    else lo = mid;
  }
  return wrapText(s, hi, fontSize, bold);
}

// ------------------------------------------------------------------ ticks

/** multiples of step in [lo, hi], or undefined when there would be more than MAX_TICKS */
function linearCandidate(lo: number, hi: number, step: number): number[] | undefined {
  if (!(step > 0) || !Number.isFinite(step)) return undefined;
  const k0 = Math.ceil(lo / step - 1e-9);
  const k1 = Math.floor(hi / step + 1e-9);
  if (!Number.isFinite(k0) || !Number.isFinite(k1) || k1 - k0 + 1 > MAX_TICKS) return undefined;
  const out: number[] = [];
  // an integer index, not k++: past 2^53, k + 1 === k
  for (let i = 0; i <= k1 - k0; i++) {
    const t = (k0 + i) * step;
    const v = Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(15));
    if (out[out.length - 1] !== v) out.push(v);
  }
  return out;
}

/** candidate tick sets for [lo, hi], finest first; each has ≤ MAX_TICKS ticks */
function tickCandidates(lo: number, hi: number, log: boolean): number[][] {
  const out: number[][] = [];
  const linear = (a: number, b: number) => {
    const span = b - a;
    if (!(span > 0) || !Number.isFinite(span)) return [];
    const res: number[][] = [];
    // log10(span) − log10(MAX_TICKS), not log10(span / MAX_TICKS): that underflows to −∞ near 5e-324
    const e0 = Math.floor(Math.log10(span) - Math.log10(MAX_TICKS)) - 1;
    if (!Number.isFinite(e0)) return [];
    for (let e = e0; e <= e0 + 4; e++)
      for (const m of [1, 2, 5]) {
        const t = linearCandidate(a, b, m * 10 ** e);
        if (t) res.push(t);
      }
    return res;
  };
  if (!log) return linear(lo, hi);
  const inRange = (t: number) => Number.isFinite(t) && t > 0 && t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9);
  const d0 = Math.floor(Math.log10(lo));
  const d1 = Math.floor(Math.log10(hi));
  for (const mantissas of [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 5], [1, 3]]) {
    if ((d1 - d0 + 1) * mantissas.length > 4 * MAX_TICKS) continue;
    const t: number[] = [];
    for (let e = d0; e <= d1; e++) for (const m of mantissas) if (inRange(Number(`${m}e${e}`))) t.push(Number(`${m}e${e}`));
    if (t.length <= MAX_TICKS) out.push(t);
  }
  for (const every of [1, 2, 3, 4, 5, 10, 20, 25, 50, 100]) {
    const t: number[] = [];
    const first = Math.ceil(Math.log10(lo) - 1e-9);
    const start = Math.ceil(first / every) * every;
    const last = Math.floor(Math.log10(hi) + 1e-9);
    if ((last - start) / every + 1 > MAX_TICKS) continue;
    for (let e = start; e <= last; e += every) if (inRange(Number(`1e${e}`))) t.push(Number(`1e${e}`));
    out.push(t);
  }
  // a range within a small factor: ticks evenly spaced in value (still placed on the log scale)
  for (const t of linear(lo, hi)) out.push(t.filter((v) => v > 0));
  return out;
}

/**
 * Ticks for [lo, hi]: the finest candidate set with at least 3 ticks that `fits` (no label
 * collision), else the coarsest set with at least 3. Never more than MAX_TICKS, whatever lo and hi
 * are (non-finite bounds, or a non-positive lo on a log axis, give no ticks).
 */
function chooseTicks(lo: number, hi: number, log: boolean, fits: (ticks: number[]) => boolean): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi < lo) return [];
  if (log && !(lo > 0)) return [];
  if (hi === lo) return [lo];
  const cands = tickCandidates(lo, hi, log).filter((t) => t.length >= 3);
  if (!cands.length) {
    // a range only a few floats wide (1e17 … 1e17 + 16): its ends and middle, as far as distinct
    const mid = log ? Math.sqrt(lo) * Math.sqrt(hi) : lo / 2 + hi / 2;
    return [lo, mid, hi].filter((t, i, a) => Number.isFinite(t) && a.indexOf(t) === i);
  }
  // candidates come in order of preference (finest first; on a log axis, powers of ten before
  // linear-in-value ticks): the first that fits
  const fitting = cands.find(fits);
  if (fitting) return fitting;
  return cands.reduce((a, b) => (b.length < a.length ? b : a));
}

/** tick values for [lo, hi]: at least 3 when the range allows, at most 8 (bounded for any input) */
export function niceTicks(lo: number, hi: number, log: boolean): number[] {
  return chooseTicks(lo, hi, log, (t) => t.length <= 8);
}

/** tick labels in one format per axis: plain decimals, or all exponents (1e-3, 2.5e-3) when a value is tiny or huge */
export function formatTicks(ticks: number[]): string[] {
  if (!ticks.length) return [];
  const nz = ticks.filter((t) => t !== 0).map(Math.abs);
  const expo = nz.some((a) => a < 1e-3 || a >= 1e6);
  let gap = Infinity;
  for (let i = 1; i < ticks.length; i++) gap = Math.min(gap, Math.abs(ticks[i] - ticks[i - 1]));
  if (!Number.isFinite(gap) || gap === 0) gap = Math.max(...nz, 1);
  const tol = gap * 1e-6;
  const fmt = (t: number, d: number) => {
    if (t === 0) return '0';
    if (expo) return t.toExponential(d).replace(/(\.\d*?)0+e/, '$1e').replace('.e', 'e').replace('e+', 'e');
    return String(Number(t.toPrecision(d + 1)));
  };
  for (let d = 0; d <= 20; d++) {
    const labels = ticks.map((t) => fmt(t, d));
    if (labels.every((l, i) => Math.abs(Number(l) - ticks[i]) <= tol)) return labels;
  }
  return ticks.map((t) => fmt(t, 20));
}

/** a value for a hover title: 6 significant digits */
const fmtValue = (v: number) => (v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? String(Number(v.toPrecision(6))) : v.toExponential(5).replace(/(\.\d*?)0+e/, '$1e').replace('.e', 'e').replace('e+', 'e'));

// ------------------------------------------------------------------ markers
function markerPath(shape: Marker, x: number, y: number, r: number): string {
  const p = (pts: [number, number][]) => 'M' + pts.map(([a, b]) => `${f1(x + a)} ${f1(y + b)}`).join('L') + 'Z';
  switch (shape) {
    case 'circle':
      return `M${f1(x - r)} ${f1(y)}a${r} ${r} 0 1 0 ${2 * r} 0a${r} ${r} 0 1 0 ${-2 * r} 0Z`;
    case 'square':
      return p([[-r * 0.85, -r * 0.85], [r * 0.85, -r * 0.85], [r * 0.85, r * 0.85], [-r * 0.85, r * 0.85]]);
    case 'triangle':
      return p([[0, -r * 1.1], [r, r * 0.75], [-r, r * 0.75]]);
    case 'triangle-down':
      return p([[0, r * 1.1], [r, -r * 0.75], [-r, -r * 0.75]]);
    case 'diamond':
      return p([[0, -r * 1.2], [r, 0], [0, r * 1.2], [-r, 0]]);
    case 'cross':
      return `M${f1(x - r)} ${f1(y - r)}L${f1(x + r)} ${f1(y + r)}M${f1(x - r)} ${f1(y + r)}L${f1(x + r)} ${f1(y - r)}`;
    case 'plus':
      return `M${f1(x - r * 1.2)} ${f1(y)}L${f1(x + r * 1.2)} ${f1(y)}M${f1(x)} ${f1(y - r * 1.2)}L${f1(x)} ${f1(y + r * 1.2)}`;
  }
}

// ------------------------------------------------------------------ text helpers
function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${f1(x)}" y="${f1(y)}"${attrs ? ' ' + attrs : ''}>${esc(s)}</text>`;
}

// ------------------------------------------------------------------ one panel

interface PreparedSeries {
  s: Series;
  style: ReturnType<typeof seriesStyle>;
  /** drawable runs of points (a dropped point breaks the line) */
  runs: [number, number][][];
  drawn: number;
  nonPositive: number;
  nonFinite: number;
}

interface PanelLayout {
  header: number;
  footer: number;
  /** draw with the plot area's top at plotTop; the row's panel titles take rowHeader above it */
  render(x0: number, plotTop: number, rowHeader: number): string[];
}

const LINE = 16; // line height of 12px text

function layoutPanel(title: string, series: Series[], styleOf: (s: Series) => number, axes: AxisOptions, width: number, ph: number): PanelLayout {
  // points that cannot be drawn are left out, never fatal: non-finite values always, and
  // values ≤ 0 on a log axis; an axis asked to be log with no positive value falls back to
  // linear, and the plot says so
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
  let logX = Boolean(axes.logX);
  let logY = Boolean(axes.logY);
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
  const prepared: PreparedSeries[] = series.map((s) => {
    const runs: [number, number][][] = [];
    let cur: [number, number][] = [];
    let nonPositive = 0;
    let nonFinite = 0;
    let drawn = 0;
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const x = s.x[i];
      const y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) nonFinite++;
      else if ((logX && x <= 0) || (logY && y <= 0)) nonPositive++;
      else {
        cur.push([x, y]);
        drawn++;
        continue;
      }
      if (cur.length) runs.push(cur);
      cur = [];
    }
    nonFinite += Math.max(s.x.length, s.y.length) - n;
    if (cur.length) runs.push(cur);
    return { s, style: seriesStyle(styleOf(s)), runs, drawn, nonPositive, nonFinite };
  });
  const xs: number[] = [];
  const ys: number[] = [];
  for (const p of prepared) for (const r of p.runs) for (const [x, y] of r) xs.push(x), ys.push(y);
  const extent = (v: number[]): [number, number] => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of v) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    return v.length ? [lo, hi] : [0, 1];
  };
  // axis ranges: the data plus a margin (in log space on a log axis) so no point sits on the frame
  const range = (v: number[], log: boolean): [number, number] => {
    const [a, b] = extent(v);
    const valid = (r: [number, number]) => Number.isFinite(r[0]) && Number.isFinite(r[1]) && r[1] > r[0] && (!log || r[0] > 0);
    const tries: [number, number][] = [];
    if (log) {
      let la = Math.log10(a);
      let lb = Math.log10(b);
      if (la === lb) [la, lb] = [la - 0.15, lb + 0.15];
      const pad = (lb - la) * 0.04;
      tries.push([10 ** (la - pad), 10 ** (lb + pad)], [a, b], [a, a * 4], [a / 4, a]);
    } else {
      const [c, d] = a === b ? (a === 0 ? [-1, 1] : [a - Math.abs(a) * 0.1, b + Math.abs(b) * 0.1]) : [a, b];
      const pad = (d - c) * 0.05;
      tries.push([c - pad, d + pad], [c, d], [a, b], [a - Math.abs(a) * 0.1, a], [a, a + Math.abs(a) * 0.1]);
    }
    return tries.find(valid) ?? [a, b];
  };
  const [x0, x1] = range(xs, logX);
  const [y0, y1] = range(ys, logY);
  const frac = (v: number, a: number, b: number, log: boolean) => (log ? (Math.log(v) - Math.log(a)) / (Math.log(b) - Math.log(a)) : (v - a) / (b - a));

  // y ticks: labels at least a line and a bit apart
  const yTicks = chooseTicks(y0, y1, logY, (t) => {
    if (t.length > 8) return false;
    for (let i = 1; i < t.length; i++) if (Math.abs(frac(t[i], y0, y1, logY) - frac(t[i - 1], y0, y1, logY)) * ph < FONT + 8) return false;
    return true;
  });
  const yLabels = formatTicks(yTicks);
  const yLabelW = Math.max(0, ...yLabels.map((l) => textWidth(l)));
  const yTitle = axes.yLabel + (logY ? ' (log)' : '');
  const yTitleLines = wrapText(yTitle, ph, FONT);
  const left = 8 + yTitleLines.length * LINE + 6 + yLabelW + 8;

  // x ticks depend on the plot width, which depends on how far the last label reaches right
  let right = 14;
  let xTicks: number[] = [];
  let xLabels: string[] = [];
  for (let iter = 0; iter < 4; iter++) {
    const pw = Math.max(40, width - left - right);
    xTicks = chooseTicks(x0, x1, logX, (t) => {
      if (t.length > 10) return false;
      const labels = formatTicks(t);
      for (let i = 1; i < t.length; i++) {
        const d = Math.abs(frac(t[i], x0, x1, logX) - frac(t[i - 1], x0, x1, logX)) * pw;
        if (d < (textWidth(labels[i]) + textWidth(labels[i - 1])) / 2 + 10) return false;
      }
      return true;
    });
    xLabels = formatTicks(xTicks);
    let need = 14;
    xTicks.forEach((t, i) => {
      const X = frac(t, x0, x1, logX) * pw;
      need = Math.max(need, X + textWidth(xLabels[i]) / 2 + 6 - pw);
    });
    if (need <= right) break;
    right = need;
  }
  const pw = Math.max(40, width - left - right);
  const xTitleLines = wrapText(axes.xLabel + (logX ? ' (log)' : ''), pw, FONT);

  // legend: below the x axis title, as many columns as fit, long names wrapped
  const legendW = width - 16;
  const sw = 40; // swatch
  const items = prepared.map((p) => {
    const dropped: string[] = [];
    if (p.nonPositive) dropped.push(`${p.nonPositive} value${p.nonPositive > 1 ? 's' : ''} ≤ 0`);
    if (p.nonFinite) dropped.push(`${p.nonFinite} non-finite`);
    return { p, name: p.s.name, note: !dropped.length ? '' : p.drawn ? `(${dropped.join(', ')} not drawn)` : `(nothing drawn: ${dropped.join(', ')})` };
  });
  // the column count that gives the shortest legend (more columns on a tie)
  const legendFor = (cols: number) => {
    const tw = legendW / cols - sw - 16;
    const lines = items.map((it) => ({ name: wrapText(it.name, tw), note: it.note ? wrapText(it.note, tw) : [] }));
    const rowH: number[] = [];
    for (let r = 0; r * cols < items.length; r++) {
      let h = 1;
      for (let c = 0; c < cols; c++) {
        const l = lines[r * cols + c];
        if (l) h = Math.max(h, l.name.length + l.note.length);
      }
      rowH.push(h * LINE + 4);
    }
    return { cols, lines, rowH, height: rowH.reduce((a, b) => a + b, 0) };
  };
  let legend = legendFor(1);
  for (let c = 2; c <= Math.min(items.length, 4); c++) {
    const l = legendFor(c);
    if (l.height <= legend.height) legend = l;
  }
  const { cols, rowH } = legend;
  const itemLines = legend.lines;
  const rows = rowH.length;
  const legendH = items.length ? legend.height + 10 : 0;

  const titleLines = title ? wrapBalanced(title, width - 16, PANEL_TITLE_FONT, true) : [];
  const noteLines = notes.flatMap((n) => wrapText(n, width - 16));
  const header = titleLines.length * (PANEL_TITLE_FONT + 5) + noteLines.length * LINE + (titleLines.length || noteLines.length ? 8 : 2);
  const footer = 6 + LINE + 4 + xTitleLines.length * LINE + 10 + legendH + 8;

  return {
    header,
    footer,
    render(px: number, plotTop: number, rowHeader: number) {
      const L = px + left;
      const T = plotTop;
      const tx = (v: number) => L + frac(v, x0, x1, logX) * pw;
      const ty = (v: number) => T + ph - frac(v, y0, y1, logY) * ph;
      const parts: string[] = [];
      let y = plotTop - rowHeader + 2;
      for (const l of titleLines) {
        y += PANEL_TITLE_FONT + 5;
        parts.push(text(px + width / 2, y - 4, l, `text-anchor="middle" font-size="${PANEL_TITLE_FONT}" font-weight="bold"`));
      }
      for (const l of noteLines) {
        y += LINE;
        parts.push(text(px + width / 2, y - 4, l, `text-anchor="middle" fill="${NOTE}"`));
      }
      // grid and tick labels
      xTicks.forEach((t, i) => {
        const X = f1(tx(t));
        parts.push(`<line x1="${X}" y1="${T}" x2="${X}" y2="${T + ph}" stroke="#eee"/><line x1="${X}" y1="${T + ph}" x2="${X}" y2="${T + ph + 4}" stroke="#333"/>`);
        parts.push(text(tx(t), T + ph + 6 + 12, xLabels[i], 'class="tick-x" text-anchor="middle"'));
      });
      yTicks.forEach((t, i) => {
        const Y = f1(ty(t));
        parts.push(`<line x1="${L}" y1="${Y}" x2="${L + pw}" y2="${Y}" stroke="#eee"/><line x1="${L - 4}" y1="${Y}" x2="${L}" y2="${Y}" stroke="#333"/>`);
        parts.push(text(L - 7, ty(t), yLabels[i], 'class="tick-y" text-anchor="end" dominant-baseline="middle"'));
      });
      parts.push(`<rect class="plot-frame" x="${f1(L)}" y="${f1(T)}" width="${f1(pw)}" height="${f1(ph)}" fill="none" stroke="#333"/>`);
      xTitleLines.forEach((l, i) => parts.push(text(L + pw / 2, T + ph + 6 + LINE + 4 + (i + 1) * LINE - 4, l, 'class="axis-title" text-anchor="middle"')));
      yTitleLines.forEach((l, i) => {
        const cx = px + 8 + (i + 1) * LINE - 3;
        const cy = T + ph / 2;
        parts.push(`<text class="axis-title" x="${f1(cx)}" y="${f1(cy)}" transform="rotate(-90 ${f1(cx)} ${f1(cy)})" text-anchor="middle">${esc(l)}</text>`);
      });
      // series: later ones thinner, so one lying exactly on an earlier one leaves it showing
      const hover: string[] = [];
      prepared.forEach((p, k) => {
        const { color, dash, marker } = p.style;
        const w = Math.max(0.9, 2.4 - 0.35 * k);
        const mr = Math.max(2.4, 4.4 - 0.4 * k);
        const g: string[] = [`<g class="series" data-name="${esc(p.s.name)}" data-color="${color}" data-dash="${dash || 'none'}" data-marker="${marker}">`];
        for (const r of p.runs) {
          const pts = r.map(([x, yv]) => `${f1(tx(x))},${f1(ty(yv))}`).join(' ');
          g.push(`<polyline fill="none" stroke="${color}" stroke-width="${w.toFixed(2)}" stroke-dasharray="${dash || 'none'}" stroke-linejoin="round" points="${pts}"/>`);
        }
        // markers: every point on short series; on long ones a spread subset, offset per series
        const flat = p.runs.flat();
        const every = p.s.markers || flat.length <= 25 ? 1 : Math.ceil(flat.length / 16);
        const offset = every > 1 ? Math.round((k * every) / Math.max(2, prepared.length)) % every : 0;
        const d: string[] = [];
        flat.forEach(([x, yv], i) => {
          if ((i - offset) % every === 0) d.push(markerPath(marker, tx(x), ty(yv), mr));
        });
        if (d.length) g.push(`<path class="marker" data-shape="${marker}" fill="none" stroke="${color}" stroke-width="1.3" d="${d.join('')}"/>`);
        g.push('</g>');
        parts.push(g.join(''));
        for (const [x, yv] of flat)
          hover.push(`<circle class="hover" cx="${f1(tx(x))}" cy="${f1(ty(yv))}" r="5" fill="#000" fill-opacity="0"><title>${esc(`${p.s.name}: x = ${fmtValue(x)}, y = ${fmtValue(yv)}`)}</title></circle>`);
      });
      parts.push(...hover);
      // legend
      if (items.length) {
        const top = T + ph + 6 + LINE + 4 + xTitleLines.length * LINE + 10;
        const colW = legendW / cols;
        parts.push(`<rect class="legend-box" x="${f1(px + 8)}" y="${f1(top)}" width="${f1(legendW)}" height="${f1(legendH - 4)}" fill="none" stroke="#ccc"/>`);
        let ry = top + 5;
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const idx = r * cols + c;
            const it = items[idx];
            if (!it) continue;
            const { color, dash, marker } = it.p.style;
            const lx = px + 8 + c * colW + 6;
            const ly = ry + LINE / 2;
            parts.push(
              `<g class="legend-item" data-name="${esc(it.name)}"><line x1="${f1(lx)}" y1="${f1(ly)}" x2="${f1(lx + sw - 6)}" y2="${f1(ly)}" stroke="${color}" stroke-width="2" stroke-dasharray="${dash || 'none'}"/><path data-shape="${marker}" fill="none" stroke="${color}" stroke-width="1.3" d="${markerPath(marker, lx + (sw - 6) / 2, ly, 3.6)}"/>`,
            );
            const lines = itemLines[idx];
            lines.name.forEach((l, i) => parts.push(text(lx + sw, ry + (i + 1) * LINE - 4, l)));
            lines.note.forEach((l, i) => parts.push(text(lx + sw, ry + (lines.name.length + i + 1) * LINE - 4, l, `class="legend-note" fill="${NOTE}"`)));
            parts.push('</g>');
          }
          ry += rowH[r];
        }
      }
      return parts;
    },
  };
}

// ------------------------------------------------------------------ figures
function svgOpen(W: number, H: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f1(W)}" height="${f1(H)}" viewBox="0 0 ${f1(W)} ${f1(H)}" style="max-width:100%;height:auto" font-family="sans-serif" font-size="${FONT}">`,
    `<rect width="${f1(W)}" height="${f1(H)}" fill="white"/>`,
  ];
}

/**
 * One SVG with several panels, each with its own axes (left to right, `columns` per row).
 * A series keeps one style (by name) in every panel, so a legend entry means one thing.
 */
export function panelPlot(panels: Panel[], o: FigureOptions): string {
  const styleIdx = new Map<string, number>();
  for (const p of panels) for (const s of p.series) if (!styleIdx.has(s.name)) styleIdx.set(s.name, styleIdx.size);
  return figure(panels, o, styleIdx);
}

function figure(panels: Panel[], o: FigureOptions, styleIdx: Map<string, number>): string {
  if (!panels.length) panels = [{ title: '', series: [] }];
  const columns = Math.max(1, Math.min(panels.length, o.columns ?? 2));
  const W = o.width ?? (columns > 1 ? 940 : 720);
  const ph = Math.max(100, (o.height ?? 420) - 130);
  const cellW = W / columns;
  const layouts = panels.map((p) =>
    layoutPanel(
      p.title,
      p.series,
      (s) => styleIdx.get(s.name) ?? 0,
      { xLabel: p.options?.xLabel ?? o.xLabel ?? 'x', yLabel: p.options?.yLabel ?? o.yLabel ?? 'y', logX: p.options?.logX ?? o.logX, logY: p.options?.logY ?? o.logY },
      cellW,
      ph,
    ),
  );
  const titleLines = o.title ? wrapBalanced(o.title, W - 20, TITLE_FONT, true) : [];
  let y = 8 + titleLines.length * (TITLE_FONT + 5);
  const body: string[] = [];
  titleLines.forEach((l, i) => body.push(text(W / 2, 8 + (i + 1) * (TITLE_FONT + 5) - 4, l, `text-anchor="middle" font-size="${TITLE_FONT}" font-weight="bold"`)));
  for (let r = 0; r * columns < layouts.length; r++) {
    const row = layouts.slice(r * columns, (r + 1) * columns);
    const header = Math.max(...row.map((l) => l.header));
    const footer = Math.max(...row.map((l) => l.footer));
    row.forEach((l, c) => body.push(...l.render(c * cellW, y + header, header)));
    y += header + ph + footer;
  }
  const H = y + 4;
  return [...svgOpen(W, H), ...body, '</svg>'].join('\n');
}

/**
 * A line plot. With `panels`, the series are split over several panels with their own axes
 * (a series goes to the first panel that selects it; panels left empty are left out; series
 * no panel selects go to a last one). Styles follow the order of `series` either way.
 */
export function linePlot(series: Series[], o: PlotOptions): string {
  const styleIdx = new Map<string, number>();
  for (const s of series) if (!styleIdx.has(s.name)) styleIdx.set(s.name, styleIdx.size);
  if (!o.panels?.length) return figure([{ title: '', series }], o, styleIdx);
  const left = [...series];
  const panels: Panel[] = [];
  for (const spec of o.panels) {
    const take = left.filter((s) => !spec.select || (spec.select instanceof RegExp ? spec.select.test(s.name) : spec.select(s)));
    for (const s of take) left.splice(left.indexOf(s), 1);
    if (take.length) panels.push({ title: spec.title, series: take, options: { xLabel: spec.xLabel, yLabel: spec.yLabel, logX: spec.logX, logY: spec.logY } });
  }
  if (left.length) panels.push({ title: 'other series', series: left });
  return figure(panels, o, styleIdx);
}

/** a simple bar chart: one bar per label */
export function barPlot(labels: string[], values: number[], o: Omit<PlotOptions, 'logX' | 'panels' | 'columns'>): string {
  const W = o.width ?? 720;
  const ph = Math.max(100, (o.height ?? 380) - 130);
  // a log axis with no positive value falls back to linear (and says so)
  let note = '';
  let logY = Boolean(o.logY);
  if (logY && !values.some((v) => Number.isFinite(v) && v > 0)) {
    logY = false;
    note = values.some(Number.isFinite) ? 'no positive value: linear axis' : 'no finite value to plot';
  } else if (!values.some(Number.isFinite)) note = 'no finite value to plot';
  const drawable = (v: number) => Number.isFinite(v) && (!logY || v > 0);
  const finite = values.filter(drawable);
  const dropped = values.length - finite.length;
  if (dropped && !note) note = `${dropped} value${dropped > 1 ? 's' : ''} not drawn (${logY ? 'not finite, or ≤ 0 on a log axis' : 'not finite'})`;
  const lo = finite.reduce((a, v) => Math.min(a, v), Infinity);
  let y1 = finite.length ? finite.reduce((a, v) => Math.max(a, v), -Infinity) : 1;
  let y0 = logY ? lo / 2 : Math.min(0, finite.length ? lo : 0);
  if (logY) y1 *= 1.1;
  else {
    if (y1 < 0) y1 = 0;
    if (y1 <= y0) y1 = y0 + 1;
    y1 += (y1 - y0) * 0.05;
  }
  if (!(y0 < y1)) y0 = logY ? y1 / 10 : y1 - 1;
  const frac = (v: number) => (logY ? (Math.log(v) - Math.log(y0)) / (Math.log(y1) - Math.log(y0)) : (v - y0) / (y1 - y0));
  const ticks = chooseTicks(y0, y1, logY, (t) => {
    if (t.length > 8) return false;
    for (let i = 1; i < t.length; i++) if (Math.abs(frac(t[i]) - frac(t[i - 1])) * ph < FONT + 8) return false;
    return true;
  });
  const tickLabels = formatTicks(ticks);
  const yTitleLines = wrapText(o.yLabel + (logY ? ' (log)' : ''), ph);
  const left = 8 + yTitleLines.length * LINE + 6 + Math.max(0, ...tickLabels.map((l) => textWidth(l, FONT))) + 8;
  // bar labels are rotated 30°: they reach down by w·sin 30° and right by w·cos 30°
  const LF = 11;
  const labW = labels.map((l) => textWidth(l, LF));
  let right = 14;
  let pw = W - left - right;
  for (let iter = 0; iter < 3; iter++) {
    const bw = pw / Math.max(1, labels.length);
    let need = 14;
    labW.forEach((w, i) => (need = Math.max(need, i * bw + bw / 2 + w * Math.cos(Math.PI / 6) + LF + 6 - pw)));
    right = need;
    pw = Math.max(40, W - left - right);
  }
  const bw = pw / Math.max(1, labels.length);
  const bottom = 10 + Math.max(0, ...labW.map((w) => w * Math.sin(Math.PI / 6) + LF)) + 10;
  const titleLines = wrapBalanced(o.title, W - 20, TITLE_FONT, true);
  const noteLines = note ? wrapText(note, W - 20) : [];
  const T = 8 + titleLines.length * (TITLE_FONT + 5) + noteLines.length * LINE + 8;
  const H = T + ph + bottom + 4;
  const L = left;
  const ty = (v: number) => T + ph - frac(v) * ph;
  const parts = svgOpen(W, H);
  titleLines.forEach((l, i) => parts.push(text(W / 2, 8 + (i + 1) * (TITLE_FONT + 5) - 4, l, `text-anchor="middle" font-size="${TITLE_FONT}" font-weight="bold"`)));
  noteLines.forEach((l, i) => parts.push(text(W / 2, 8 + titleLines.length * (TITLE_FONT + 5) + (i + 1) * LINE - 4, l, `text-anchor="middle" fill="${NOTE}"`)));
  ticks.forEach((t, i) => {
    const Y = f1(ty(t));
    parts.push(`<line x1="${L}" y1="${Y}" x2="${f1(L + pw)}" y2="${Y}" stroke="#eee"/>`);
    parts.push(text(L - 7, ty(t), tickLabels[i], 'class="tick-y" text-anchor="end" dominant-baseline="middle"'));
  });
  const base = ty(logY ? y0 : Math.max(y0, 0));
  labels.forEach((lab, i) => {
    const v = values[i];
    const x = L + i * bw + bw * 0.15;
    if (drawable(v)) {
      const top = ty(v);
      const [a, b] = top <= base ? [top, base] : [base, top];
      parts.push(`<rect x="${f1(x)}" y="${f1(a)}" width="${f1(bw * 0.7)}" height="${f1(b - a)}" fill="${COLORS[i % COLORS.length]}"><title>${esc(`${lab}: ${fmtValue(v)}`)}</title></rect>`);
    }
    const cx = x + bw * 0.35;
    const cy = T + ph + 12;
    parts.push(`<text x="${f1(cx)}" y="${f1(cy)}" transform="rotate(30 ${f1(cx)} ${f1(cy)})" font-size="${LF}">${esc(lab)}</text>`);
  });
  parts.push(`<rect class="plot-frame" x="${f1(L)}" y="${f1(T)}" width="${f1(pw)}" height="${f1(ph)}" fill="none" stroke="#333"/>`);
  yTitleLines.forEach((l, i) => {
    const cx = 8 + (i + 1) * LINE - 3;
    const cy = T + ph / 2;
    parts.push(`<text class="axis-title" x="${f1(cx)}" y="${f1(cy)}" transform="rotate(-90 ${f1(cx)} ${f1(cy)})" text-anchor="middle">${esc(l)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

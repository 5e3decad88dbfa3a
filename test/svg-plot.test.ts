// io/svg-plot.ts, checked structurally on the SVGs it writes: the SVG is well-formed XML
// (parsed here by a small XML parser, not matched by regexes), every axis has ≥ 3 labelled
// ticks that do not collide, whatever the range (within one decade on a log axis, 1e-16 … 1e-2,
// a tight range, linear, huge offsets), each series has its own (colour, dash, marker), every
// drawn point has a <title> with its values, the legend sits outside the plot area, every text
// lies inside the viewBox (measured conservatively), and values ≤ 0 on a log axis are reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { barPlot, formatTicks, linePlot, niceTicks, panelPlot, type Series } from '../io/svg-plot.ts';

// ------------------------------------------------------------------ a tiny XML parser
interface El {
  name: string;
  attrs: Record<string, string>;
  children: (El | string)[];
  parent?: El;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function decode(s: string, where: number): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '&') {
      if (s[i] === '<') throw new Error(`raw < at ${where + i}`);
      out += s[i];
      continue;
    }
    const end = s.indexOf(';', i);
    if (end < 0) throw new Error(`unterminated entity at ${where + i}`);
    const name = s.slice(i + 1, end);
    if (name in ENTITIES) out += ENTITIES[name];
    else if (/^#[0-9]+$/.test(name)) out += String.fromCodePoint(Number(name.slice(1)));
    else if (/^#x[0-9a-fA-F]+$/.test(name)) out += String.fromCodePoint(parseInt(name.slice(2), 16));
    else throw new Error(`unknown entity &${name}; at ${where + i}`);
    i = end;
  }
  return out;
}

/** parse one XML document (elements, attributes, text; no DTD, PIs or CDATA), or throw */
function parseXml(src: string): El {
  let i = 0;
  const isName = (c: string) => /[A-Za-z0-9_:.-]/.test(c);
  const ws = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  const name = () => {
    const s = i;
    while (i < src.length && isName(src[i])) i++;
    if (i === s) throw new Error(`name expected at ${i}`);
    return src.slice(s, i);
  };
  const element = (parent?: El): El => {
    if (src[i] !== '<') throw new Error(`< expected at ${i}`);
    i++;
    const el: El = { name: name(), attrs: {}, children: [], parent };
    for (;;) {
      const before = i;
      ws();
      if (src.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (src[i] === '>') {
        i++;
        break;
      }
      if (i === before) throw new Error(`space expected before attribute at ${i}`);
      const a = name();
      ws();
      if (src[i] !== '=') throw new Error(`= expected at ${i}`);
      i++;
      ws();
      const q = src[i];
      if (q !== '"' && q !== "'") throw new Error(`quote expected at ${i}`);
      const end = src.indexOf(q, i + 1);
      if (end < 0) throw new Error(`unterminated attribute at ${i}`);
      if (a in el.attrs) throw new Error(`duplicate attribute ${a} at ${i}`);
      el.attrs[a] = decode(src.slice(i + 1, end), i + 1);
      i = end + 1;
    }
    for (;;) {
      if (i >= src.length) throw new Error(`</${el.name}> missing`);
      if (src.startsWith('</', i)) {
        i += 2;
        const n = name();
        if (n !== el.name) throw new Error(`</${n}> closes <${el.name}> at ${i}`);
        ws();
        if (src[i] !== '>') throw new Error(`> expected at ${i}`);
        i++;
        return el;
      }
      if (src[i] === '<') el.children.push(element(el));
      else {
        const end = src.indexOf('<', i);
        const t = src.slice(i, end < 0 ? src.length : end);
        el.children.push(decode(t, i));
        i += t.length;
      }
    }
  };
  ws();
  const root = element();
  ws();
  if (i !== src.length) throw new Error(`content after the root element at ${i}`);
  return root;
}

const all = (el: El, pred: (e: El) => boolean, out: El[] = []): El[] => {
  if (pred(el)) out.push(el);
  for (const c of el.children) if (typeof c !== 'string') all(c, pred, out);
  return out;
};
const textOf = (el: El): string => el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
const num = (el: El, a: string) => Number(el.attrs[a]);
const byClass = (root: El, cls: string) => all(root, (e) => (e.attrs.class ?? '').split(' ').includes(cls));
const inherited = (el: El, a: string): string | undefined => {
  for (let e: El | undefined = el; e; e = e.parent) if (a in e.attrs) return e.attrs[a];
  return undefined;
};

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
/** a conservative box around a <text>: 0.6 · font size per character (0.66 bold), rotation applied */
function textBox(t: El): Box {
  const fs = Number(inherited(t, 'font-size') ?? 16);
  const s = textOf(t);
  const w = [...s].length * fs * (inherited(t, 'font-weight') === 'bold' ? 0.66 : 0.6);
  const x = num(t, 'x');
  const y = num(t, 'y');
  const anchor = inherited(t, 'text-anchor') ?? 'start';
  const xa = anchor === 'middle' ? x - w / 2 : anchor === 'end' ? x - w : x;
  const [ya, yb] = t.attrs['dominant-baseline'] === 'middle' ? [y - 0.6 * fs, y + 0.6 * fs] : [y - 0.9 * fs, y + 0.25 * fs];
  let corners: [number, number][] = [
    [xa, ya],
    [xa + w, ya],
    [xa, yb],
    [xa + w, yb],
  ];
  const tr = t.attrs.transform;
  if (tr) {
    const m = /^rotate\((-?[\d.]+) (-?[\d.]+) (-?[\d.]+)\)$/.exec(tr);
    assert.ok(m, `unexpected transform ${tr}`);
    const [a, cx, cy] = m!.slice(1).map(Number);
    const c = Math.cos((a * Math.PI) / 180);
    const sn = Math.sin((a * Math.PI) / 180);
    corners = corners.map(([px, py]) => [cx + (px - cx) * c - (py - cy) * sn, cy + (px - cx) * sn + (py - cy) * c]);
  }
  const xs = corners.map((p) => p[0]);
  const ys = corners.map((p) => p[1]);
  return { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
}
const rectBox = (r: El): Box => ({ x0: num(r, 'x'), y0: num(r, 'y'), x1: num(r, 'x') + num(r, 'width'), y1: num(r, 'y') + num(r, 'height') });
const overlap = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/** parse an SVG and check what every plot must satisfy; returns the tree */
function checkSvg(svg: string, what: string, bars = false): El {
  let root: El;
  try {
    root = parseXml(svg);
  } catch (e) {
    assert.unreachable(`${what}: not well-formed XML: ${(e as Error).message}`);
    throw e;
  }
  assert.is(root.name, 'svg', what);
  const [vx, vy, vw, vh] = root.attrs.viewBox.split(' ').map(Number);
  assert.is(vx, 0);
  assert.is(vy, 0);
  for (const t of all(root, (e) => e.name === 'text')) {
    const b = textBox(t);
    assert.ok(b.x0 >= vx && b.y0 >= vy && b.x1 <= vw && b.y1 <= vh, `${what}: text "${textOf(t)}" at ${JSON.stringify(b)} leaves the viewBox 0 0 ${vw} ${vh}`);
  }
  // legends never overlap a plot area
  const frames = byClass(root, 'plot-frame').map(rectBox);
  assert.ok(frames.length >= 1, `${what}: a plot frame`);
  for (const l of byClass(root, 'legend-box').map(rectBox)) {
    assert.ok(l.y1 <= vh && l.x1 <= vw, `${what}: the legend inside the SVG`);
    for (const f of frames) assert.not.ok(overlap(l, f), `${what}: legend ${JSON.stringify(l)} overlaps plot area ${JSON.stringify(f)}`);
  }
  // tick labels: ≥ 3 per axis per panel, distinct, one format, no two overlapping
  for (const f of frames) {
    for (const axis of bars ? ['tick-y'] : ['tick-x', 'tick-y']) {
      const ticks = byClass(root, axis).filter((t) => {
        const x = num(t, 'x');
        const y = num(t, 'y');
        return axis === 'tick-x' ? x >= f.x0 - 1 && x <= f.x1 + 1 && y > f.y1 && y < f.y1 + 30 : y >= f.y0 - 1 && y <= f.y1 + 1 && x < f.x0 && x > f.x0 - 200;
      });
      const labels = ticks.map(textOf);
      assert.ok(labels.length >= 3, `${what}: ${axis} has ${labels.length} labels (${labels.join(', ')})`);
      assert.is(new Set(labels).size, labels.length, `${what}: ${axis} labels repeat: ${labels.join(', ')}`);
      const expo = labels.filter((l) => l !== '0').map((l) => l.includes('e'));
      assert.ok(expo.every((e) => e === expo[0]), `${what}: ${axis} mixes formats: ${labels.join(', ')}`);
      const boxes = ticks.map(textBox);
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) assert.not.ok(overlap(boxes[i], boxes[j]), `${what}: ${axis} labels ${labels[i]} and ${labels[j]} collide`);
    }
  }
  // axis titles present
  assert.ok(byClass(root, 'axis-title').length >= (bars ? 1 : 2) * frames.length, `${what}: axis titles`);
  return root;
}

const o = { title: 'a plot', xLabel: 'x', yLabel: 'y' };
const xs = [1, 2, 3, 4, 5, 6, 7, 8];
const spread = (lo: number, hi: number, log: boolean) => xs.map((_, i) => (log ? 10 ** (Math.log10(lo) + ((Math.log10(hi) - Math.log10(lo)) * i) / 7) : lo + ((hi - lo) * i) / 7));

test('XML check: the parser rejects what is not well-formed', () => {
  for (const bad of ['<svg><g></svg>', '<svg a="1" a="2"/>', '<svg>a < b</svg>', '<svg>&nbsp;</svg>', '<svg x=1/>', '<svg/><svg/>', '<svg><text>x</tex></svg>'])
    assert.throws(() => parseXml(bad), undefined, bad);
  assert.is(textOf(parseXml('<svg><text a="&quot;">a &amp; b</text></svg>')), 'a & b');
});

test('ticks: ≥ 3 per axis whatever the range (one decade, 1e-16 … 1e-2, tight, linear, huge)', () => {
  const cases: [number, number, boolean][] = [
    [2e-3, 8e-3, true],
    [3.1e-3, 3.4e-3, true],
    [0.03124, 0.03129, true],
    [1e-16, 1e-2, true],
    [1e-3, 4e-2, true],
    [0.5, 2000, true],
    [5e-324, 1e308, true],
    [0, 1, false],
    [0.05, 1.05, false],
    [-3, 7, false],
    [1e5, 1e5 + 3, false],
    [-1e-9, 2e-9, false],
    [2.5e6, 2.6e6, false],
  ];
  for (const [lo, hi, log] of cases) {
    const t = niceTicks(lo, hi, log);
    assert.ok(t.length >= 3 && t.length <= 40, `niceTicks(${lo}, ${hi}, ${log}) = ${t}`);
    const tol = log ? 1e-9 * hi : 1e-9 * (hi - lo);
    assert.ok(t.every((v) => (log ? v >= lo * (1 - 1e-9) : v >= lo - tol) && v <= hi + tol), `niceTicks(${lo}, ${hi}) in range: ${t}`);
    const labels = formatTicks(t);
    assert.is(new Set(labels).size, labels.length, `labels distinct: ${labels}`);
    labels.forEach((l, i) => assert.ok(Math.abs(Number(l) - t[i]) <= Math.abs(t[1] - t[0]) * 1e-6, `label ${l} reads back as ${t[i]}`));
    // the same range as plot data on both axes
    const v = spread(lo, hi, log && lo > 0);
    checkSvg(linePlot([{ name: 's', x: v, y: v }], { ...o, logX: log, logY: log }), `range ${lo} … ${hi}${log ? ' log' : ''}`);
  }
  assert.equal(formatTicks([1e-4, 2e-4, 5e-4, 1e-3]), ['1e-4', '2e-4', '5e-4', '1e-3']);
  assert.equal(formatTicks([1e-16, 1e-12, 1e-8, 1e-4, 1]), ['1e-16', '1e-12', '1e-8', '1e-4', '1e0']);
  assert.equal(formatTicks([0.002, 0.004, 0.006]), ['0.002', '0.004', '0.006']);
  assert.equal(formatTicks([0, 0.5, 1]), ['0', '0.5', '1']);
});

test('series: each its own (colour, dash, marker), the polyline and markers drawn with it', () => {
  const series: Series[] = Array.from({ length: 8 }, (_, k) => ({ name: `series ${k}`, x: xs, y: xs.map((x) => x * x) }));
  const root = checkSvg(linePlot(series, o), 'eight identical series');
  const groups = byClass(root, 'series');
  assert.is(groups.length, 8);
  const triples = groups.map((g) => {
    const lines = all(g, (e) => e.name === 'polyline');
    const marks = all(g, (e) => e.name === 'path' && e.attrs.class === 'marker');
    assert.ok(lines.length >= 1 && marks.length === 1, g.attrs['data-name']);
    for (const l of lines) {
      assert.is(l.attrs.stroke, g.attrs['data-color']);
      assert.is(l.attrs['stroke-dasharray'], g.attrs['data-dash']);
    }
    assert.is(marks[0].attrs.stroke, g.attrs['data-color']);
    assert.is(marks[0].attrs['data-shape'], g.attrs['data-marker']);
    return `${g.attrs['data-color']} | ${g.attrs['data-dash']} | ${g.attrs['data-marker']}`;
  });
  assert.is(new Set(triples).size, 8, triples.join('\n'));
  // colour, dash and marker each differ between neighbours, so each alone tells two apart
  for (let k = 1; k < 8; k++) for (const part of [0, 1, 2]) assert.is.not(triples[k].split(' | ')[part], triples[k - 1].split(' | ')[part], `${triples[k - 1]} / ${triples[k]}`);
  // later series thinner: an identical curve drawn later leaves the earlier one showing
  const widths = groups.map((g) => Number(all(g, (e) => e.name === 'polyline')[0].attrs['stroke-width']));
  for (let k = 1; k < 4; k++) assert.ok(widths[k] < widths[k - 1], `widths ${widths}`);
  // the legend shows the same triple per series
  const items = byClass(root, 'legend-item');
  assert.is(items.length, 8);
  items.forEach((it, k) => {
    const line = all(it, (e) => e.name === 'line')[0];
    const mark = all(it, (e) => e.name === 'path')[0];
    assert.is(`${line.attrs.stroke} | ${line.attrs['stroke-dasharray']} | ${mark.attrs['data-shape']}`, triples[k]);
  });
});

test('hover: every drawn point has a <title> naming the series and its x and y', () => {
  const series: Series[] = [
    { name: 'a & <b>', x: [1, 2, 3], y: [0.001234567, 2, 3e-9] },
    { name: 'long', x: Array.from({ length: 60 }, (_, i) => i + 1), y: Array.from({ length: 60 }, (_, i) => Math.sin(i) + 2) },
  ];
  const root = checkSvg(linePlot(series, { ...o, logY: true }), 'hover');
  const hovers = byClass(root, 'hover');
  assert.is(hovers.length, 63);
  let k = 0;
  for (const s of series)
    for (let i = 0; i < s.x.length; i++, k++) {
      const t = all(hovers[k], (e) => e.name === 'title');
      assert.is(t.length, 1);
      const m = /^(.*): x = (\S+), y = (\S+)$/.exec(textOf(t[0]));
      assert.ok(m, textOf(t[0]));
      assert.is(m![1], s.name);
      assert.ok(Math.abs(Number(m![2]) - s.x[i]) <= 1e-5 * Math.abs(s.x[i]), `${m![2]} vs ${s.x[i]}`);
      assert.ok(Math.abs(Number(m![3]) - s.y[i]) <= 1e-5 * Math.abs(s.y[i]), `${m![3]} vs ${s.y[i]}`);
    }
});

test('legend: outside the plot area, long names wrapped, the SVG grown to fit', () => {
  const long = 'a very long series name that would run far past the right edge of the plot if it were not wrapped';
  const series: Series[] = Array.from({ length: 7 }, (_, k) => ({ name: `${k}: ${long}`, x: xs, y: xs.map((x) => x + k) }));
  const svg = linePlot(series, { ...o, width: 480 });
  const root = checkSvg(svg, 'long legend');
  const legend = rectBox(byClass(root, 'legend-box')[0]);
  const frame = rectBox(byClass(root, 'plot-frame')[0]);
  assert.ok(legend.y0 >= frame.y1, 'legend below the plot area');
  for (const it of byClass(root, 'legend-item')) assert.ok(all(it, (e) => e.name === 'text').length >= 2, 'the long name wraps onto several lines');
  for (const t of byClass(root, 'legend-item').flatMap((it) => all(it, (e) => e.name === 'text'))) {
    const b = textBox(t);
    assert.ok(b.x0 >= legend.x0 && b.x1 <= legend.x1 && b.y0 >= legend.y0 - 2 && b.y1 <= legend.y1 + 2, `legend text "${textOf(t)}" inside the legend box`);
  }
  assert.ok(Number(root.attrs.height) > 420, 'the SVG grew');
});

test('log axes: values ≤ 0 are dropped and said so in the legend; no positive value at all falls back to linear with a note', () => {
  const root = checkSvg(
    linePlot(
      [
        { name: 'some zeros', x: [1, 2, 3, 4], y: [0, 1e-3, -2, 2e-3] },
        { name: 'all zero', x: [1, 2, 3, 4], y: [0, 0, 0, 0] },
        { name: 'fine', x: [1, 2, 3, 4], y: [1e-3, 2e-3, 3e-3, 4e-3] },
        { name: 'nan', x: [1, 2, 3, 4], y: [NaN, 1e-3, Infinity, 1e-3] },
      ],
      { ...o, logY: true },
    ),
    'zeros on a log axis',
  );
  const notes = Object.fromEntries(byClass(root, 'legend-item').map((it) => [it.attrs['data-name'], byClass(it, 'legend-note').map(textOf).join(' ')]));
  assert.match(notes['some zeros'], /2 values ≤ 0 not drawn/);
  assert.match(notes['all zero'], /nothing drawn: 4 values ≤ 0/);
  assert.is(notes.fine, '');
  assert.match(notes.nan, /2 non-finite not drawn/);
  assert.is(byClass(root, 'hover').length, 2 + 0 + 4 + 2);
  // the line is broken where a point was dropped, not drawn across it
  assert.is(all(byClass(root, 'series')[0], (e) => e.name === 'polyline').length, 2);
  const fallback = checkSvg(linePlot([{ name: 'z', x: [1, 2, 3], y: [0, 0, 0] }], { ...o, logY: true }), 'no positive value');
  assert.ok(all(fallback, (e) => e.name === 'text').some((t) => textOf(t) === 'no positive y value: y axis linear'));
  const bar = checkSvg(barPlot(['a', 'b', 'c'], [0, 2, 5], { ...o, logY: true }), 'bar with a zero on a log axis', true);
  assert.ok(all(bar, (e) => e.name === 'text').some((t) => /1 value not drawn/.test(textOf(t))));
});

test('panels: one SVG, each panel its own axes; the drift plot case (bf16 ~1e-2, f64 ~1e-16, f32 ~1e-6)', () => {
  const d1 = [0.5, 2, 4, 8, 15, 17, 50, 100, 500, 1000, 2000];
  const series: Series[] = [
    { name: 'f64', x: d1, y: d1.map((_, i) => 3e-16 * (1 + 0.1 * Math.sin(i))) },
    { name: 'f32', x: d1, y: d1.map((_, i) => 2e-6 * (1 + i / 5)) },
    { name: 'bf16 hf', x: d1, y: d1.map((_, i) => 0.048 + 0.002 * Math.sin(i)) },
    { name: 'bf16 paper', x: d1, y: d1.map((_, i) => 0.036 + 0.001 * Math.cos(i)) },
    { name: 'bf16 hf, bf16 inv_freq', x: d1, y: d1.map((_, i) => 0.048 + 0.002 * Math.sin(i)) },
  ];
  const opts = { title: 'Eq. 4 D(X, Δ1, 16), trained (200 steps) (Δ1 = 0 drawn at 0.5)', xLabel: 'Δ1', yLabel: 'D', logX: true, logY: true };
  // on one axis: still ≥ 3 ticks
  checkSvg(linePlot(series, opts), 'one axis, 1e-16 … 1e-2');
  const svg = linePlot(series, { ...opts, panels: [{ title: 'bf16 paths', select: /bf16/ }, { title: 'f64 / f32' }] });
  const root = checkSvg(svg, 'drift panels');
  const frames = byClass(root, 'plot-frame').map(rectBox);
  assert.is(frames.length, 2);
  assert.ok(frames[0].x1 <= frames[1].x0, 'side by side');
  const names = byClass(root, 'legend-item').map((e) => e.attrs['data-name']);
  assert.equal(names, ['bf16 hf', 'bf16 paper', 'bf16 hf, bf16 inv_freq', 'f64', 'f32']);
  const inFrame = (f: { x0: number; x1: number }) => byClass(root, 'tick-y').filter((t) => num(t, 'x') < f.x0 && num(t, 'x') > f.x0 - 200).map(textOf);
  // the bf16 panel's axis spans its own values, not 1e-16 … 1e-2
  const bfTicks = inFrame(frames[0]).map(Number);
  assert.ok(Math.min(...bfTicks) >= 0.01 && Math.max(...bfTicks) <= 0.1, `bf16 ticks ${bfTicks}`);
  // styles follow the caller's order whatever the panel
  const style = Object.fromEntries(byClass(root, 'series').map((g) => [g.attrs['data-name'], g.attrs['data-color']]));
  assert.is(style.f64, '#1f77b4');
  assert.is(style['bf16 hf'], '#2ca02c');
  // panelPlot directly, stacked, with a linear panel
  const stacked = panelPlot(
    [
      { title: 'bf16 paths (linear)', series: series.slice(2), options: { logY: false } },
      { title: 'f64 / f32', series: series.slice(0, 2) },
    ],
    { ...opts, columns: 1 },
  );
  const sroot = checkSvg(stacked, 'stacked panels');
  const sf = byClass(sroot, 'plot-frame').map(rectBox);
  assert.is(sf.length, 2);
  assert.ok(sf[0].y1 < sf[1].y0, 'stacked');
  for (const l of byClass(sroot, 'legend-box').map(rectBox)) for (const f of sf) assert.not.ok(overlap(l, f));
});

test('hostile input ends with a small SVG: empty, NaN, huge magnitudes, long titles', () => {
  const long = 'A title long enough to need wrapping over more than one line in a plot that is only this wide, with more words';
  const svgs = [
    linePlot([], { ...o, logX: true, logY: true }),
    linePlot([{ name: 'a', x: [8, 16], y: [NaN, Infinity] }], { ...o, logY: true }),
    linePlot([{ name: 'a', x: [1, 2], y: [5e-324, 1e308] }], { ...o, logY: true }),
    linePlot([{ name: 'a', x: [1, 2, 3], y: [1, 2, 3] }], { title: long, xLabel: long, yLabel: long, width: 360 }),
    barPlot(['a', 'b'], [0, -1], { ...o, logY: true }),
    barPlot(['a label that is fairly long', 'b'], [3, 4], { ...o, title: long }),
  ];
  for (const [k, s] of svgs.entries()) {
    assert.ok(s.length < 100_000);
    const root = parseXml(s);
    const [, , vw, vh] = root.attrs.viewBox.split(' ').map(Number);
    for (const t of all(root, (e) => e.name === 'text')) {
      const b = textBox(t);
      assert.ok(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= vw && b.y1 <= vh, `svg ${k}: "${textOf(t)}" ${JSON.stringify(b)} outside 0 0 ${vw} ${vh}`);
    }
  }
  checkSvg(svgs[3], 'long titles');
});

test.run();

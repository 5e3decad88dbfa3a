/// <reference lib="dom" />
// The explorer's browser entry (bundled into an IIFE by explorer/html.ts and inlined in the
// report): wires the forms in <section id="anchor-explorer"> to explorer/model.ts and draws
// the results. Full-precision values ride on data- attributes (f64 numbers with 17
// significant digits, bit patterns as hex) so a test can compare them with the reference
// run in Node. Bad input shows one line in the panel; nothing is thrown to the console.

import { glProbe, ropeOnGl } from './webgl.ts';
import { bitsIn, MAX_DIM, pairOf, parseMaskInputs, parseRopeInputs, maskModel, ropeModel, type MaskModel, type Raw, type RopeModel, type RopeRow } from './model.ts';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** full precision, round-trips every double */
const full = (v: number): string => v.toPrecision(17);
/** short display */
function show(v: number, digits = 7): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-4 && a < 1e7 ? String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
}
const showErr = (v: number): string => (v === 0 ? '0' : v.toExponential(2));

function readForm(form: HTMLFormElement): Raw {
  const raw: Raw = {};
  for (const el of Array.from(form.elements) as (HTMLInputElement | HTMLSelectElement)[]) if (el.name) raw[el.name] = el.value;
  return raw;
}

function q<T extends Element>(root: ParentNode, role: string): T {
  const el = root.querySelector<T>(`[data-ax="${role}"]`);
  if (!el) throw new Error(`explorer: missing element ${role}`);
  return el;
}

/** run `update` on every input; any failure becomes the panel's one-line message */
function wire(panel: HTMLElement, form: HTMLFormElement, msg: HTMLElement, out: HTMLElement, update: (raw: Raw) => string | undefined): void {
  let updates = 0;
  const run = () => {
    let problem: string | undefined;
    try {
      problem = update(readForm(form));
    } catch (e) {
      problem = `could not compute this: ${e instanceof Error ? e.message : String(e)}`;
    }
    msg.textContent = problem ?? '';
    msg.hidden = problem === undefined;
    out.hidden = problem !== undefined;
    panel.dataset.state = problem === undefined ? 'ok' : 'error';
    panel.dataset.updates = String(++updates);
  };
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('input', run);
  form.addEventListener('change', run);
  run();
}

// ---------------------------------------------------------------- RoPE
type SortKey = 'index' | 'rot' | 'viol' | 'cossin';
const cosSinErr = (r: RopeRow): number => Math.max(Math.abs(r.cos - r.cosExact), Math.abs(r.sin - r.sinExact));

function ropeChart(m: RopeModel): string {
  const W = 680;
  const H = 220;
  const left = 52;
  const right = 10;
  const top = 26;
  const bottom = 30;
  const rows = m.rows;
  const series: { name: string; color: string; line: boolean; v: number[] }[] = [
    { name: '|cos − cos exact|', color: '#4e79a7', line: false, v: rows.map((r) => Math.abs(r.cos - r.cosExact)) },
    { name: '|sin − sin exact|', color: '#f28e2b', line: false, v: rows.map((r) => Math.abs(r.sin - r.sinExact)) },
    { name: 'rotation error', color: '#59a14f', line: true, v: rows.map((r) => r.rotErr) },
    { name: 'violation', color: '#e15759', line: true, v: rows.map((r) => r.viol) },
  ];
  const pos = series.flatMap((s) => s.v.filter((v) => v > 0 && Number.isFinite(v)));
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" class="ax-chart" role="img" aria-label="errors by frequency index">`];
  parts.push(`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="#fff" stroke="#bbb"/>`);
  const n = rows.length;
  const xOf = (i: number) => left + (n <= 1 ? 0.5 : i / (n - 1)) * (W - left - right);
  for (let t = 0; t <= 4; t++) {
    const i = Math.round((t * (n - 1)) / 4);
    parts.push(`<text x="${xOf(i).toFixed(1)}" y="${H - bottom + 14}" text-anchor="middle">${i}</text>`);
  }
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 3}" text-anchor="middle">frequency index i (inv_freq falls with i)</text>`);
  let legendX = left;
  for (const s of series) {
    parts.push(s.line ? `<line x1="${legendX}" y1="12" x2="${legendX + 16}" y2="12" stroke="${s.color}" stroke-width="2"/>` : `<circle cx="${legendX + 8}" cy="12" r="3" fill="${s.color}"/>`);
    parts.push(`<text x="${legendX + 20}" y="16">${esc(s.name)}</text>`);
    legendX += 30 + s.name.length * 6.2;
  }
  if (!pos.length) {
    parts.push(`<text x="${(left + W - right) / 2}" y="${H / 2}" text-anchor="middle">every error is exactly 0 here</text></svg>`);
    return parts.join('');
  }
  let lo = Math.floor(Math.log10(Math.min(...pos)));
  let hi = Math.ceil(Math.log10(Math.max(...pos)));
  if (hi === lo) hi = lo + 1;
  const yOf = (v: number) => top + ((hi - Math.log10(v)) / (hi - lo)) * (H - top - bottom);
  const step = Math.max(1, Math.ceil((hi - lo) / 8));
  for (let e = hi; e >= lo; e -= step) {
    const y = yOf(10 ** e).toFixed(1);
    parts.push(`<line x1="${left}" y1="${y}" x2="${W - right}" y2="${y}" stroke="#eee"/><text x="${left - 4}" y="${y}" dy="4" text-anchor="end">1e${e}</text>`);
  }
  for (const s of series) {
    if (s.line) {
      // a polyline per run of positive values (zeros have no place on a log axis)
      let run: string[] = [];
      const flush = () => {
        if (run.length > 1) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${run.join(' ')}"/>`);
        else if (run.length === 1) parts.push(`<circle cx="${run[0].split(',')[0]}" cy="${run[0].split(',')[1]}" r="1.5" fill="${s.color}"/>`);
        run = [];
      };
      s.v.forEach((v, i) => (v > 0 ? run.push(`${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`) : flush()));
      flush();
    } else s.v.forEach((v, i) => v > 0 && parts.push(`<circle cx="${xOf(i).toFixed(1)}" cy="${yOf(v).toFixed(1)}" r="2" fill="${s.color}" fill-opacity=".75"/>`));
  }
  parts.push('</svg>');
  return parts.join('');
}

function ropeTable(m: RopeModel, sort: SortKey): string {
  const key: Record<SortKey, (r: RopeRow) => number> = { index: (r) => -r.i, rot: (r) => r.rotErr, viol: (r) => r.viol, cossin: cosSinErr };
  const rows = [...m.rows].sort((a, b) => key[sort](b) - key[sort](a) || a.i - b.i);
  const { path } = m.inputs;
  const kernel = path !== 'f64';
  const head = ['i', 'inv_freq', path === 'f64' ? 'angle (f64 product)' : 'angle (f32)', 'cos exact', `cos ${path}`, '|Δcos|', 'sin exact', `sin ${path}`, '|Δsin|', `${m.bitsKind} bits cos / sin`, '|R̃x − Rx|', 'violation', `R̃x ${m.outKind} bits [a] / [b]`];
  if (kernel) head.push('WebGL2 kernel bits [a] / [b]');
  const body = rows.map((r) => {
    const [a, b] = pairOf(r.i, m.inputs.dim, m.inputs.layout);
    const attrs = [
      `data-i="${r.i}"`,
      `data-y-bits="${bitsIn(m.rx[a], m.outKind)} ${bitsIn(m.rx[b], m.outKind)}"`,
      `data-inv-freq="${full(r.invFreq)}"`,
      `data-angle="${full(r.angle)}"`,
      `data-cos-exact="${full(r.cosExact)}"`,
      `data-sin-exact="${full(r.sinExact)}"`,
      `data-cos="${full(r.cos)}"`,
      `data-sin="${full(r.sin)}"`,
      `data-cos-bits="${r.cosBits}"`,
      `data-sin-bits="${r.sinBits}"`,
      `data-rot-err="${full(r.rotErr)}"`,
      `data-viol="${full(r.viol)}"`,
    ].join(' ');
    const cells = [
      String(r.i),
      show(r.invFreq),
      show(r.angle),
      show(r.cosExact, 10),
      show(r.cos, 10),
      showErr(Math.abs(r.cos - r.cosExact)),
      show(r.sinExact, 10),
      show(r.sin, 10),
      showErr(Math.abs(r.sin - r.sinExact)),
      `<code>${r.cosBits} / ${r.sinBits}</code>`,
      showErr(r.rotErr),
      showErr(r.viol),
      `<code>${bitsIn(m.rx[a], m.outKind)} / ${bitsIn(m.rx[b], m.outKind)}</code>`,
    ];
    if (kernel) cells.push('<span data-ax="gl-cell">…</span>');
    return `<tr ${attrs}>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  });
  return `<table data-ax="rope-table"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

function initRope(panel: HTMLElement): void {
  const form = q<HTMLFormElement>(panel, 'rope-form');
  const out = q<HTMLElement>(panel, 'rope-out');
  wire(panel, form, q(panel, 'rope-msg'), out, (raw) => {
    const inputs = parseRopeInputs(raw);
    if (typeof inputs === 'string') return inputs;
    const m = ropeModel(inputs);
    const { base, dim, p, delta, n, path, layout, seed } = inputs;
    let worst = m.rows[0];
    for (const r of m.rows) if (cosSinErr(r) > cosSinErr(worst)) worst = r;
    const summary =
      `<p data-ax="rope-summary" data-rot-err="${full(m.rotErr)}" data-viol="${full(m.viol)}">` +
      `path <b>${path}</b>, layout ${layout}, D = ${dim}, base ${show(base)}, seed ${seed}. ` +
      `At p = ${p}: worst |cos/sin − exact| = <b>${showErr(cosSinErr(worst))}</b> (i = ${worst.i}); ` +
      `‖R̃(p)x − R(p)x‖ = <b>${showErr(m.rotErr)}</b>. ` +
      `|⟨R̃(p+Δ)q, R̃(n+Δ)k⟩ − ⟨R̃(p)q, R̃(n)k⟩| with n = ${n}, Δ = ${delta}: <b>${showErr(m.viol)}</b> ` +
      `(x, q, k: ${dim} seeded bf16 normals each; exact R = the f64 path).</p>`;
    out.innerHTML = summary + `<p data-ax="rope-gl" data-state="running">WebGL2 kernel: …</p>` + `<figure class="ax-fig">${ropeChart(m)}</figure><div class="ax-scroll">${ropeTable(m, (raw.sort as SortKey) || 'index')}</div>`;
    glLine(out, m);
    return undefined;
  });
}

/**
 * The generated ropeApply kernel on WebGL2 (explorer/webgl.ts) for the same x, cos and sin:
 * fills the line and the table's kernel column. Asynchronous (kernels/ops.ts is); a newer
 * input replaces the line, and a stale result then finds it gone and is dropped.
 */
function glLine(out: HTMLElement, m: RopeModel): void {
  const line = q<HTMLElement>(out, 'rope-gl');
  const { path, layout, dim } = m.inputs;
  const done = (stateName: string, html: string) => {
    line.dataset.state = stateName;
    line.innerHTML = html;
  };
  const probe = glProbe();
  if (!probe.ok) {
    for (const cell of Array.from(out.querySelectorAll('[data-ax="gl-cell"]'))) cell.textContent = '—';
    return done('none', `No WebGL2 kernel check here: ${esc(probe.reason)}.`);
  }
  line.dataset.renderer = probe.renderer;
  if (path === 'f64') return done('f64', `WebGL2 kernel (${esc(probe.renderer)}): the f64 path has no kernel (the kernels compute in float32); choose f32, hf or paper.`);
  const unit = m.outKind === 'bf16' ? 'bf16' : 'f32';
  ropeOnGl(m.x, m.cos, m.sin, m.rx, path, layout).then(
    (r) => {
      if (!line.isConnected) return;
      line.dataset.same = String(r.same);
      line.dataset.total = String(dim);
      line.dataset.maxUlp = String(r.maxUlp);
      line.dataset.bits = Array.from(r.y, (v) => bitsIn(v, 'f32')).join(',');
      done(
        'ok',
        `WebGL2 kernel (${esc(r.renderer)}): <b>${r.same} of ${dim}</b> elements bit-identical to the reference; ` +
          `largest difference <b>${r.maxUlp} ${unit} ulp${r.maxUlp === 1 ? '' : 's'}</b> (generated/ropeApply.webgl2.ts through kernels/ops.ts ropeApply, path ${path}, ${layout}).`,
      );
      for (const tr of Array.from(out.querySelectorAll<HTMLElement>('[data-ax="rope-table"] tbody tr'))) {
        const cell = tr.querySelector<HTMLElement>('[data-ax="gl-cell"]');
        if (!cell) continue;
        const [a, b] = pairOf(Number(tr.dataset.i), dim, layout);
        const ya = bitsIn(r.y[a], m.outKind);
        const yb = bitsIn(r.y[b], m.outKind);
        tr.dataset.glBits = `${bitsIn(r.y[a], 'f32')} ${bitsIn(r.y[b], 'f32')}`;
        const same = f32Same(r.y[a], m.rx[a]) && f32Same(r.y[b], m.rx[b]);
        cell.innerHTML = `<code${same ? '' : ' class="ax-diff"'}>${ya} / ${yb}</code>`;
      }
    },
    (e: unknown) => {
      for (const cell of Array.from(out.querySelectorAll('[data-ax="gl-cell"]'))) cell.textContent = '—';
      if (line.isConnected) done('error', `WebGL2 kernel (${esc(probe.renderer)}) failed: ${esc(e instanceof Error ? e.message.split('\n')[0] : String(e))}`);
    },
  );
}
const f32Same = (a: number, b: number): boolean => bitsIn(a, 'f32') === bitsIn(b, 'f32');

// ---------------------------------------------------------------- masks
const DOC_COLORS = ['#4e79a7', '#59a14f', '#b07aa1', '#76b7b2', '#9c755f', '#edc948', '#bab0ac', '#e15759'];
const ANCHOR_COLOR = '#f28e2b';
const docColor = (d: number): string => (d === 0 ? ANCHOR_COLOR : DOC_COLORS[(d - 1) % DOC_COLORS.length]);
const KIND_NAMES = ['empty', 'partial', 'full'];

/** tiles per side up to which the grid draws the tiles and their boundaries */
const MAX_DRAWN_TILES = 128;
const gridSize = (L: number): number => Math.min(520, Math.max(180, L * 8));

function maskGrid(m: MaskModel): string {
  const { L, mask, docIds, nb, kind } = m;
  const B = m.inputs.blockSize;
  const size = gridSize(L);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-0.5 -0.5 ${L + 1} ${L + 1}" width="${size}" height="${size}" shape-rendering="crispEdges" class="ax-grid" data-ax="mask-grid" data-l="${L}" role="img" aria-label="attention mask, query rows, key columns">`,
  ];
  parts.push(`<rect x="0" y="0" width="${L}" height="${L}" fill="#fff"/>`);
  // tiles behind the cells: full green, partial yellow (not drawn past MAX_DRAWN_TILES per side)
  const drawTiles = nb <= MAX_DRAWN_TILES;
  if (drawTiles)
    for (let qb = 0; qb < nb; qb++)
      for (let kb = 0; kb < nb; kb++) {
        const t = kind[qb * nb + kb];
        if (!t) continue;
        const w = Math.min(B, L - kb * B);
        const h = Math.min(B, L - qb * B);
        parts.push(`<rect x="${kb * B}" y="${qb * B}" width="${w}" height="${h}" fill="${t === 2 ? '#59a14f' : '#edc948'}" fill-opacity="${t === 2 ? 0.2 : 0.3}"/>`);
      }
  // allowed cells: one rect per run of allowed keys of one document in a row
  parts.push('<g data-ax="mask-cells">');
  for (let qi = 0; qi < L; qi++) {
    let k = 0;
    while (k < L) {
      if (!mask[qi * L + k]) {
        k++;
        continue;
      }
      const d = docIds[k];
      let e = k + 1;
      while (e < L && mask[qi * L + e] && docIds[e] === d) e++;
      parts.push(`<rect x="${k}" y="${qi}" width="${e - k}" height="1" fill="${docColor(d)}"/>`);
      k = e;
    }
  }
  parts.push('</g>');
  const lines: string[] = [];
  if (drawTiles) for (let b = B; b < L; b += B) lines.push(`M${b} 0V${L}M0 ${b}H${L}`);
  if (lines.length) parts.push(`<path d="${lines.join('')}" stroke="#333" stroke-width="1" stroke-dasharray="3 2" vector-effect="non-scaling-stroke" fill="none"/>`);
  parts.push(`<rect x="0" y="0" width="${L}" height="${L}" fill="none" stroke="#333" stroke-width="1" vector-effect="non-scaling-stroke"/></svg>`);
  return parts.join('');
}

function blockTable(m: MaskModel): string {
  const { nb, kind } = m;
  if (nb > 48) return `<p>(the ${nb}×${nb} block table is too large to draw here; the counts above cover it)</p>`;
  const rows: string[] = [];
  rows.push(`<tr><th></th>${Array.from({ length: nb }, (_, kb) => `<th>k${kb}</th>`).join('')}</tr>`);
  for (let qb = 0; qb < nb; qb++) {
    const cells = Array.from({ length: nb }, (_, kb) => {
      const t = kind[qb * nb + kb];
      return `<td class="ax-k${t}" title="query block ${qb}, key block ${kb}: ${KIND_NAMES[t]}">${t === 2 ? 'F' : t === 1 ? 'P' : '·'}</td>`;
    });
    rows.push(`<tr><th>q${qb}</th>${cells.join('')}</tr>`);
  }
  return `<table class="ax-blocks" data-ax="block-table">${rows.join('')}</table>`;
}

function initMask(panel: HTMLElement): void {
  const form = q<HTMLFormElement>(panel, 'mask-form');
  const out = q<HTMLElement>(panel, 'mask-out');
  wire(panel, form, q(panel, 'mask-msg'), out, (raw) => {
    const inputs = parseMaskInputs(raw);
    if (typeof inputs === 'string') return inputs;
    const m = maskModel(inputs);
    const { L, nb, counts, pairs, positions, docIds } = m;
    const B = inputs.blockSize;
    let maskBits = '';
    for (const v of m.mask) maskBits += v;
    const computed = counts.partial + counts.full;
    const docs = [...new Set(docIds)];
    const legend = docs
      .slice(0, 12)
      .map((d) => `<span class="ax-swatch" style="background:${docColor(d)}"></span>${d === 0 ? 'anchor (doc 0)' : `doc ${d}`}`)
      .join(' ');
    const posText: string[] = [];
    for (let t = 0; t < L; t++) posText.push((t > 0 && docIds[t] !== docIds[t - 1] ? '│ ' : '') + positions[t]);
    out.innerHTML =
      `<p data-ax="mask-summary" data-l="${L}" data-nb="${nb}" data-empty="${counts.empty}" data-partial="${counts.partial}" data-full="${counts.full}" data-pairs="${pairs}">` +
      `<b>${inputs.variant}</b>: L = ${L} tokens${inputs.variant === 'anchor' ? ' (anchor first)' : ''}, ${pairs} allowed (q, k) pairs of ${(L * (L + 1)) / 2} causal. ` +
      `Block size ${B}: ${nb}×${nb} tiles, <b>${counts.full}</b> full, <b>${counts.partial}</b> partial, <b>${counts.empty}</b> empty; FlexAttention computes ${computed}.</p>` +
      `<div class="ax-row"><figure class="ax-fig" style="width:${gridSize(L)}px">${maskGrid(m)}<figcaption>rows: queries, columns: keys; cells coloured by the key's document; ${nb <= MAX_DRAWN_TILES ? 'tiles: green full, yellow partial' : `tiles not drawn (${nb} per side)`}</figcaption></figure>` +
      `<div><p class="ax-legend">${legend}</p><div class="ax-scroll ax-small">${blockTable(m)}</div></div></div>` +
      `<p>position ids:</p><div class="ax-pos" data-ax="positions">${posText.join(' ')}</div>` +
      `<div hidden data-ax="mask-data" data-mask="${maskBits}" data-positions="${Array.from(positions).join(',')}" data-doc-ids="${Array.from(docIds).join(',')}" data-blocks="${Array.from(m.kind).join('')}"></div>`;
    return undefined;
  });
}

// ---------------------------------------------------------------- start
function start(): void {
  const root = document.getElementById('anchor-explorer');
  if (!root) return;
  root.dataset.maxDim = String(MAX_DIM);
  initRope(q(root, 'rope'));
  initMask(q(root, 'mask'));
  root.dataset.ready = '1';
}

try {
  start();
} catch (e) {
  const root = document.getElementById('anchor-explorer');
  if (root) {
    const p = document.createElement('p');
    p.className = 'ax-msg';
    p.textContent = `the explorer could not start: ${e instanceof Error ? e.message : String(e)}`;
    root.prepend(p);
  }
}

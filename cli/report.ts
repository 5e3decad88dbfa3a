// npm start: the main job. Computes, in this run, everything a reader of the paper wants to
// see — the bf16 tour, RoPE error against position, Eq. 4 / Eq. 5 on a random-init and a
// briefly trained tiny model, the first token's share, the decomposition by rounding stage,
// why the anchor key is exact, and the attention savings — and writes report/index.html
// (self-contained: SVGs inline, also written beside it) with a printed summary.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './main.ts';
import { intOption } from './main.ts';
import { Progress, fmtSeconds } from './progress.ts';
import { tinyPreset } from './train.ts';
import { bf16Tour } from '../demos/bf16.ts';
import { ropeReport } from '../demos/rope.ts';
import {
  anchorKeyExperiment,
  anchorKeyTable,
  decompositionOf,
  decompositionTable,
  driftSequences,
  logitCurves,
  logitTable,
  ModelAtPrecisions,
  PAPER_DELTA1,
  perTokenTable,
  RUNS,
  shiftCurves,
  shiftTable,
} from '../demos/drift.ts';
import { savingsLines, savingsTable } from '../demos/savings.ts';
import { shiftDeviation } from '../reference/drift.ts';
import { docIdsFromLengths, VARIANTS } from '../reference/masks.ts';
import { loadDocuments } from '../data/docs.ts';
import { ByteTokenizer } from '../data/tokenizer.ts';
import { writeFileAtomic } from '../io/lines.ts';
import { linePlot, type Series } from '../io/svg-plot.ts';
import { randomInitModel, type Model } from '../reference/model/params.ts';
import { train } from '../train/trainer.ts';

const root = new URL('..', import.meta.url).pathname;

interface Section {
  title: string;
  intro: string;
  lines: string[];
  svgs: { name: string; svg: string }[];
}

export interface ReportOptions {
  out: string;
  seqs: number;
  len: number;
  steps: number;
  maxT: number;
  seed: number;
}

/** the report's sections, each computed here; `tick` reports progress */
export async function buildReport(o: ReportOptions, tick: (what: string) => void): Promise<Section[]> {
  const sections: Section[] = [];
  sections.push({ title: 'bf16 in one screen', intro: 'Each line is computed by the reference (reference/bf16.ts), not typed in.', lines: bf16Tour(o.seed), svgs: [] });
  tick('bf16 tour');

  sections.push(ropeSection(o.seed));
  tick('RoPE error against position');

  // the two models of the drift experiments
  const config = tinyPreset('unused').model;
  const randomModel = randomInitModel(config, o.seed, 'pytorch');
  const tok = new ByteTokenizer();
  const docs = await loadDocuments(undefined, 'raw_json', tok, root, () => {});
  const trainOut = join(o.out, 'tiny-model');
  const t0 = Date.now();
  const trained = train(docs, { ...tinyPreset(trainOut), steps: o.steps, checkpointEvery: o.steps, seed: o.seed }, false, { quiet: true, log: () => {} });
  const trainSeconds = (Date.now() - t0) / 1000;
  const losses = trained.losses;
  const lossSvg = linePlot([{ name: 'loss', x: losses.map((_, i) => i + 1), y: losses }], { title: `tiny LLaMA trained on the default corpus (${o.steps} steps, anchor/flex, f32)`, xLabel: 'step', yLabel: 'cross-entropy (nats)' });
  tick('training the tiny model');
  const stream = docs.slice(0, 400).flat();

  for (const [name, model] of [['random init (PyTorch default init)', randomModel], [`trained (${o.steps} steps)`, trained.model]] as [string, Model][]) {
    const m = new ModelAtPrecisions(model);
    // the trained model sees windows of the corpus that start with BOS, as its training windows do
    const trainedModel = name.startsWith('trained');
    const first = trainedModel ? tok.bos ?? undefined : undefined;
    const seqs = driftSequences(config.vocabSize, o.seqs, o.len, o.seed, trainedModel ? stream : undefined, first);
    const shift = shiftCurves(m, seqs, PAPER_DELTA1, 16, RUNS);
    tick(`Eq. 4 on the ${name} model`);
    const lengths = [64, 128, 256, 512, 1024, 2048, 4096].filter((t) => t <= o.maxT);
    const logit = logitCurves(m, lengths, Math.max(1, Math.floor(o.seqs / 2)), o.seed, 0, 16, RUNS, trainedModel ? stream : undefined, undefined, first);
    tick(`Eq. 5 on the ${name} model`);
    const slug = name.startsWith('trained') ? 'trained' : 'random';
    const svgs = [
      { name: `${slug}-eq4.svg`, svg: linePlot(shift.map((c) => ({ name: c.label, x: c.delta1.map((d) => (d === 0 ? 0.5 : d)), y: c.D, markers: true })), { title: `Eq. 4 D(X, Δ1, 16), ${name} (Δ1 = 0 drawn at 0.5)`, xLabel: 'Δ1', yLabel: 'D', logX: true, logY: true }) },
      { name: `${slug}-per-token.svg`, svg: linePlot(shift.map((c) => ({ name: c.label, x: Array.from(c.perToken, (_, j) => j + 1), y: Array.from(c.perToken) })), { title: `Per key token, Δ1 = 0 vs 16, ${name}`, xLabel: 'key token (1 = first)', yLabel: 'n_j Σ_i |ΔATTN|', logX: true, logY: true }) },
      { name: `${slug}-eq5.svg`, svg: linePlot(logit.map((c) => ({ name: c.label, x: c.T, y: c.D_logit, markers: true })), { title: `Eq. 5 D_logit against T, ${name}`, xLabel: 'T', yLabel: 'D_logit', logX: true, logY: true }) },
    ];
    if (slug === 'trained') svgs.unshift({ name: 'tiny-loss.svg', svg: lossSvg });
    const intro =
      slug === 'trained'
        ? `A tiny LLaMA (${config.numLayers} layers, ${config.numHeads} heads of ${config.headDim}, vocab ${config.vocabSize}) trained for ${o.steps} steps in this run (anchor attention, flex layout, f32; ${fmtSeconds(trainSeconds)}; loss ${losses[0].toFixed(3)} → ${losses[losses.length - 1].toFixed(3)}), measured on ${o.seqs} windows of ${o.len} tokens of the default corpus that start with BOS, as its training windows do: the first token is where an attention sink forms, and its share of the deviation is the paper's Fig. 1 middle.`
        : `The same architecture with PyTorch's default initialisation (seed ${o.seed}), on ${o.seqs} random token sequences of ${o.len}.`;
    sections.push({ title: `Shift metrics: ${name} model`, intro, lines: [...shiftTable(shift, 16), '', ...perTokenTable(shift, 16), '', ...logitTable(logit, 0, 16)], svgs });

    if (slug === 'trained') {
      const d = decompositionOf(m, 'shift', seqs, 0, 16, RUNS['bf16 hf']);
      tick('decomposition');
      sections.push({
        title: 'Which rounding causes the deviation',
        intro: 'Eq. 4 on the trained model (bf16, transformers\' RoPE path), re-run with one rounding stage at a time computed exactly, and with all but one exact. Stages: inv_freq (f32 pow/reciprocal), angle (f32 inv_freq·pos), cos_sin (f32 transcendental), cos_sin_cast (cos/sin → bf16), mul and add (the bf16 rotation ops), qk (QKᵀ: q and k as given, exact logits). The eager attention re-reads q and k in bf16, so making add exact alone changes nothing unless qk is exact too; the right-hand column (only this stage rounded) isolates each stage, and with every stage exact the deviation is 0.',
        lines: decompositionTable(d, 'trained tiny model, bf16 hf, Δ1 = 0, Δ2 = 16'),
        svgs: [],
      });
      sections.push({
        title: 'Shift deviation by attention variant',
        intro: `The trained model on the same BOS-first windows, cut into 3 documents (the anchor variant keeps BOS as the shared anchor, doc id 0), each variant with its own mask and position ids shifted by Δ: bf16 hf path, Δ1 = 0 vs Δ2 = 16.`,
        lines: variantLines(m, seqs, o.len),
        svgs: [],
      });
      tick('variants');
    }
  }

  const anchorRows = anchorKeyExperiment({ base: 10000, D: 128, deltas: [16, 1024, 16384, 65536], distances: [1, 16, 256, 4096], samples: 8, seed: o.seed });
  tick('the anchor key experiment');
  sections.push({
    title: 'Why an anchor at position 0 helps',
    intro: 'RoPE at position 0 is the identity (cos 1, sin 0) on every path, so the anchor\'s key is rotated with no rounding at all; only the query side of its logit carries RoPE error. Full attention\'s first key sits at a shifted position and carries error on both sides. (Random bf16 q, k of width 128; logits in f64 so only RoPE rounding shows.)',
    lines: anchorKeyTable(anchorRows, 10000, 'hf'),
    svgs: [],
  });

  const rows = savingsTable();
  tick('attention savings');
  const mixes = [...new Set(rows.map((r) => r.mix))];
  const savingsSvg = linePlot(
    mixes.flatMap((mix) => {
      const rs = rows.filter((r) => r.mix === mix);
      return [{ name: mix, x: rs.map((r) => r.L), y: rs.map((r) => r.endToEnd), markers: true }] as Series[];
    }),
    { title: 'AnchorAttention: estimated LLaMA-2-7B forward speed-up over full causal', xLabel: 'window L (tokens)', yLabel: 'speed-up ×', logX: true },
  );
  sections.push({ title: 'What the masks save', intro: 'Allowed (q, k) pairs relative to full causal attention on packed windows, and the implied forward speed-up for LLaMA-2-7B dimensions.', lines: savingsLines(rows), svgs: [{ name: 'savings.svg', svg: savingsSvg }] });
  return sections;
}

/** Eq. 4 and the first token's share per mask variant on 3-document windows */
function variantLines(m: ModelAtPrecisions, seqs: Int32Array[], L: number): string[] {
  const third = Math.floor((L - 1) / 3);
  const lengths = [third, third, L - 1 - 2 * third];
  const out = ['| variant | D (bf16 hf) | D (f32) | first token share (bf16 hf) |', '|---|---:|---:|---:|'];
  for (const variant of VARIANTS) {
    // full and intra_doc variants: BOS opens document 1; anchor: BOS is the anchor (doc 0)
    const docIds = variant === 'anchor' ? docIdsFromLengths(lengths, true) : docIdsFromLengths([lengths[0] + 1, lengths[1], lengths[2]]);
    const bf = shiftDeviation(m.get('bf16'), seqs, 0, 16, { ...RUNS['bf16 hf'], variant, docIds });
    const f32 = shiftDeviation(m.get('f32'), seqs, 0, 16, { ...RUNS.f32, variant, docIds });
    const total = bf.perToken.reduce((a, b) => a + b, 0);
    out.push(`| ${variant} | ${bf.D.toPrecision(4)} | ${f32.D.toExponential(3)} | ${((100 * bf.perToken[0]) / total).toFixed(1)}% |`);
  }
  return out;
}

/** the RoPE section: the RoPE demo's table and plot */
function ropeSection(seed: number): Section {
  return { title: 'RoPE in bf16: error against position', intro: 'cos/sin error of the bf16 cast and the relative-position violation, for several bases (reference/rope.ts).', ...ropeReport(seed) };
}

// ------------------------------------------------------------------ HTML
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** our printed lines as HTML: Markdown-style tables become <table>, the rest <pre> */
function linesToHtml(lines: string[]): string {
  const out: string[] = [];
  let pre: string[] = [];
  let table: string[][] = [];
  const flushPre = () => {
    if (pre.length) out.push(`<pre>${esc(pre.join('\n'))}</pre>`);
    pre = [];
  };
  const flushTable = () => {
    if (!table.length) return;
    const [head, , ...body] = table;
    out.push(`<table><thead><tr>${head.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${body.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`);
    table = [];
  };
  for (const l of lines) {
    if (l.startsWith('|')) {
      flushPre();
      table.push(l.slice(1, -1).split('|').map((c) => c.trim()));
    } else {
      flushTable();
      if (l.trim() === '' && !pre.length) continue;
      pre.push(l);
    }
  }
  flushPre();
  flushTable();
  return out.join('\n');
}

export function renderHtml(sections: Section[], meta: string): string {
  const body = sections
    .map((s) => `<section><h2>${esc(s.title)}</h2><p>${esc(s.intro)}</p>${linesToHtml(s.lines)}${s.svgs.map((g) => `<figure>${g.svg}<figcaption>${esc(g.name)}</figcaption></figure>`).join('')}</section>`)
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>anchor-oracle report</title><style>
body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}pre{background:#f8f8f8;padding:.6em;overflow-x:auto;font-size:13px}figure{margin:1em 0}figcaption{font-size:12px;color:#666}
</style></head><body><h1>anchor-oracle: bf16 breaks RoPE, and what the anchor does about it</h1>
<p>Every number on this page was computed in the run that wrote it (${esc(meta)}). Paper: <em>When Precision Meets Position: BFloat16 Breaks Down RoPE in Long-Context Training</em> (arXiv 2411.13476).</p>
${body}
</body></html>\n`;
}

export const command: Command = {
  summary: 'the main job (npm start): compute the report and write report/index.html with its SVG plots',
  usage: 'anchor-oracle report [--out DIR] [--seqs N] [--len T] [--steps N] [--max-t T] [--seed S]   (bigger numbers: a bigger, slower report)',
  options: { out: { type: 'string' }, seqs: { type: 'string' }, len: { type: 'string' }, steps: { type: 'string' }, 'max-t': { type: 'string' }, seed: { type: 'string' } },
  async run(v) {
    const o: ReportOptions = {
      out: (v.out as string | undefined) ?? 'report',
      seqs: intOption(v.seqs, 'seqs', 4, 1),
      len: intOption(v.len, 'len', 64, 8),
      steps: intOption(v.steps, 'steps', 200, 1),
      maxT: intOption(v['max-t'], 'max-t', 1024, 64),
      seed: intOption(v.seed, 'seed', 1),
    };
    const started = Date.now();
    // a bar with ETA on a terminal; a plain line per finished part otherwise
    const steps = 13;
    const bar = process.stderr.isTTY ? new Progress('report', steps) : undefined;
    let done = 0;
    const sections = await buildReport(o, (what) => {
      done++;
      if (bar) bar.update(Math.min(steps - 1, done));
      else process.stderr.write(`report: ${what} (${fmtSeconds((Date.now() - started) / 1000)})\n`);
    });
    bar?.update(steps);
    for (const s of sections) for (const g of s.svgs) writeFileAtomic(join(o.out, g.name), g.svg);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const meta = `anchor-oracle ${pkg.version}, node ${process.version}, seed ${o.seed}, ${new Date().toISOString()}, ${fmtSeconds((Date.now() - started) / 1000)}`;
    writeFileAtomic(join(o.out, 'index.html'), renderHtml(sections, meta));
    for (const s of sections) {
      console.log(`\n# ${s.title}\n`);
      for (const l of s.lines) console.log(l);
    }
    console.log(`\nwrote ${join(o.out, 'index.html')} and ${sections.reduce((a, s) => a + s.svgs.length, 0)} SVG plots in ${fmtSeconds((Date.now() - started) / 1000)}`);
    return 0;
  },
};

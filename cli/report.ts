// npm start: the main job. Computes, in this run, everything a reader of the paper wants to
// see — the paper's findings side by side with this run's (verdicts computed), the bf16 tour,
// RoPE error against position, Eq. 4 / Eq. 5 on a random-init and a trained tiny model, the
// decomposition by rounding stage, the attention sink over training, Eq. 5 against T and why,
// each attention variant trained, why the anchor key is exact, the savings at 8K–128K, and an
// interactive explorer — and writes report/index.html (self-contained: SVGs inline, also written
// beside it) section by section, with a short summary and the page's link at the end.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from './main.ts';
import { enumOption, intOption } from './main.ts';
import { StepProgress, fmtSeconds } from '../io/progress.ts';
import { tinyPreset } from '../train/presets.ts';
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
import { driftFixtureModel, eq5VsT, EXPERIMENT_SIZES, sinkCurveFromSnapshots, snapshotRecorder, VARIANT_METRICS, variantTraining, type Eq5Result, type VariantResult } from '../demos/experiments.ts';
import { anchorTrainingFinding, findingsLines, firstTokenFinding, lengthGrowthFinding, precisionOrderFinding, pretrainingFinding, savingsFinding, type Finding } from '../demos/findings.ts';
import { measuredSavings, measuredSavingsLines, savingsLines, savingsTable, type MeasuredSavingsRow } from '../demos/savings.ts';
import { explorerHtml } from '../explorer/html.ts';
import { OpError } from '../io/errors.ts';
import { shiftDeviation } from '../reference/drift.ts';
import { docIdsFromLengths, VARIANTS, type Variant } from '../reference/masks.ts';
import { loadDocuments } from '../data/docs.ts';
import { ByteTokenizer } from '../data/tokenizer.ts';
import { writeFileAtomic } from '../io/lines.ts';
import { linePlot, type Series } from '../io/svg-plot.ts';
import { randomInitModel, type Model } from '../reference/model/params.ts';
import { train } from '../train/trainer.ts';

const root = new URL('..', import.meta.url).pathname;

interface Section {
  /** anchor id in the page */
  id: string;
  title: string;
  intro: string;
  lines: string[];
  svgs: { name: string; svg: string }[];
  /** raw HTML after the lines (the explorer) */
  html?: string;
}

export interface ReportOptions {
  out: string;
  seqs: number;
  len: number;
  steps: number;
  maxT: number;
  seed: number;
  preset: 'tiny' | 'small' | 'large';
}

/**
 * The report's steps and their relative cost (seconds on 2 idle cores, small preset): the
 * progress line names the step and gets its ETA from these, scaled by the pace measured so far.
 */
export const REPORT_STEPS = {
  'bf16 tour': 0.1,
  'RoPE error against position': 1.4,
  'training the tiny model': 18,
  'Eq. 4 and Eq. 5, random init': 28,
  'Eq. 4 and Eq. 5, trained': 30,
  'decomposition by rounding stage': 1.5,
  'Eq. 4 by attention variant': 1,
  'attention sink over training': 3,
  'Eq. 5 against T, three models': 5,
  'training each attention variant': 21,
  'the anchor key': 0.3,
  'savings at 8K–128K': 9,
  'the explorer': 0.5,
} as const satisfies Record<string, number>;
/** a report step's name: buildReport's step() calls are checked against REPORT_STEPS by the type checker */
export type ReportStep = keyof typeof REPORT_STEPS;

/** what the findings table needs, filled in as the steps run */
interface Measured {
  D?: { name: string; D: { f64: number; f32: number; bf16: number } }[];
  perToken?: Float64Array;
  eq5?: Eq5Result;
  variants?: VariantResult;
  savings?: MeasuredSavingsRow[];
}

/**
 * Compute the report step by step: `emit` receives each finished section (the caller writes the
 * page as it grows), `step` names the step starting; returns the findings.
 */
export async function buildReport(o: ReportOptions, step: (name: ReportStep) => void, emit: (s: Section) => void, poke: () => void = () => {}): Promise<Finding[]> {
  const size = EXPERIMENT_SIZES[o.preset];
  const got: Measured = {};
  step('bf16 tour');
  emit({ id: 'bf16', title: 'bf16 in one screen', intro: 'Each line is computed by the reference (reference/bf16.ts), not typed in.', lines: bf16Tour(o.seed), svgs: [] });

  step('RoPE error against position');
  emit(ropeSection(o.seed));

  // the two models of the drift experiments
  step('training the tiny model');
  const config = tinyPreset('unused').model;
  const randomModel = randomInitModel(config, o.seed, 'pytorch');
  const tok = new ByteTokenizer();
  const docs = await loadDocuments(undefined, 'raw_json', tok, root, () => {});
  const trainOut = join(o.out, 'tiny-model');
  const t0 = Date.now();
  // snapshots of this one run feed the attention-sink curve (no retraining)
  const rec = snapshotRecorder({ ...tinyPreset(trainOut), steps: o.steps, checkpointEvery: o.steps, seed: o.seed }, Math.max(1, Math.round(o.steps / 8)));
  const trained = train(docs, rec.options, false, { quiet: true, log: () => {}, onStep: (st, loss) => (rec.hooks.onStep!(st, loss), poke()) });
  const trainSeconds = (Date.now() - t0) / 1000;
  const losses = trained.losses;
  const lossSvg = linePlot([{ name: 'loss', x: losses.map((_, i) => i + 1), y: losses }], { title: `tiny LLaMA trained on the default corpus (${o.steps} steps, anchor/flex, f32)`, xLabel: 'step', yLabel: 'cross-entropy (nats)' });
  const stream = docs.slice(0, 400).flat();
  let trainedAt: ModelAtPrecisions | undefined;
  let trainedSeqs: Int32Array[] = [];

  for (const [name, model] of [['random init (PyTorch default init)', randomModel], [`trained (${o.steps} steps)`, trained.model]] as [string, Model][]) {
    const m = new ModelAtPrecisions(model);
    // the trained model sees windows of the corpus that start with BOS, as its training windows do
    const trainedModel = name.startsWith('trained');
    step(trainedModel ? 'Eq. 4 and Eq. 5, trained' : 'Eq. 4 and Eq. 5, random init');
    const first = trainedModel ? tok.bos ?? undefined : undefined;
    const seqs = driftSequences(config.vocabSize, o.seqs, o.len, o.seed, trainedModel ? stream : undefined, first);
    const shift = shiftCurves(m, seqs, PAPER_DELTA1, 16, RUNS, poke);
    const lengths = [64, 128, 256, 512, 1024, 2048, 4096].filter((t) => t <= o.maxT);
    const logit = logitCurves(m, lengths, Math.max(1, Math.floor(o.seqs / 2)), o.seed, 0, 16, RUNS, trainedModel ? stream : undefined, poke, first);
    const slug = trainedModel ? 'trained' : 'random';
    const at0 = (label: string) => shift.find((c) => c.label === label)!.D[0]; // Δ1 = 0
    (got.D ??= []).push({ name: slug === 'trained' ? 'trained' : 'random init', D: { f64: at0('f64'), f32: at0('f32'), bf16: at0('bf16 hf') } });
    if (trainedModel) got.perToken = shift.find((c) => c.label === 'bf16 hf')!.perToken;
    const svgs = [
      { name: `${slug}-eq4.svg`, svg: linePlot(shift.map((c) => ({ name: c.label, x: c.delta1.map((d) => (d === 0 ? 0.5 : d)), y: c.D, markers: true })), { title: `Eq. 4 D(X, Δ1, 16), ${name} (Δ1 = 0 drawn at 0.5)`, xLabel: 'Δ1', yLabel: 'D', logX: true, logY: true, panels: [{ title: 'bf16 paths', select: /bf16/ }, { title: 'f64 / f32' }] }) },
      { name: `${slug}-per-token.svg`, svg: linePlot(shift.map((c) => ({ name: c.label, x: Array.from(c.perToken, (_, j) => j + 1), y: Array.from(c.perToken) })), { title: `Per key token, Δ1 = 0 vs 16, ${name}`, xLabel: 'key token (1 = first)', yLabel: 'n_j Σ_i |ΔATTN|', logX: true, logY: true, panels: [{ title: 'bf16 paths', select: /bf16/ }, { title: 'f64 / f32' }] }) },
      { name: `${slug}-eq5.svg`, svg: linePlot(logit.map((c) => ({ name: c.label, x: c.T, y: c.D_logit, markers: true })), { title: `Eq. 5 D_logit against T, ${name}`, xLabel: 'T', yLabel: 'D_logit', logX: true, logY: true, panels: [{ title: 'bf16 paths', select: /bf16/ }, { title: 'f64 / f32' }] }) },
    ];
    if (slug === 'trained') svgs.unshift({ name: 'tiny-loss.svg', svg: lossSvg });
    const intro =
      slug === 'trained'
        ? `A tiny LLaMA (${config.numLayers} layers, ${config.numHeads} heads of ${config.headDim}, vocab ${config.vocabSize}) trained for ${o.steps} steps in this run (anchor attention, flex layout, f32; ${fmtSeconds(trainSeconds)}; loss ${losses[0].toFixed(3)} → ${losses[losses.length - 1].toFixed(3)}), measured on ${o.seqs} windows of ${o.len} tokens of the default corpus that start with BOS, as its training windows do: the first token is where an attention sink would form, and its share of the deviation is the paper's Fig. 1 middle.`
        : `The same architecture with PyTorch's default initialisation (seed ${o.seed}), on ${o.seqs} random token sequences of ${o.len}.`;
    emit({ id: `shift-${slug}`, title: `Shift metrics: ${name} model`, intro, lines: [...shiftTable(shift, 16), '', ...perTokenTable(shift, 16), '', ...logitTable(logit, 0, 16)], svgs });
    if (trainedModel) {
      trainedAt = m;
      trainedSeqs = seqs;
    }
  }

  step('decomposition by rounding stage');
  const d = decompositionOf(trainedAt!, 'shift', trainedSeqs, 0, 16, RUNS['bf16 hf']);
  emit({
    id: 'decomposition',
    title: 'Which rounding causes the deviation',
    intro: 'Eq. 4 on the trained model (bf16, transformers\' RoPE path), re-run with one rounding stage at a time computed exactly, and with all but one exact. Stages: inv_freq (f32 pow/reciprocal), angle (f32 inv_freq·pos), cos_sin (f32 transcendental), cos_sin_cast (cos/sin → bf16), mul and add (the bf16 rotation ops), qk (QKᵀ: q and k as given, exact logits). The eager attention re-reads q and k in bf16, so making add exact alone changes nothing unless qk is exact too; the right-hand column (only this stage rounded) isolates each stage, and with every stage exact the deviation is 0.',
    lines: decompositionTable(d, 'trained tiny model, bf16 hf, Δ1 = 0, Δ2 = 16'),
    svgs: [],
  });

  step('Eq. 4 by attention variant');
  const variantRows = variantDeviation(trainedAt!, trainedSeqs, o.len);
  const anchorRows = anchorKeyExperiment({ base: 10000, D: 128, deltas: [16, 1024, 16384, 65536], distances: [1, 16, 256, 4096], samples: 8, seed: o.seed });
  emit({
    id: 'by-variant',
    title: 'Shift deviation by attention variant',
    intro: `The trained model on the same BOS-first windows, cut into 3 documents (the anchor variant keeps BOS as the shared anchor, doc id 0), each variant with its own mask and position ids shifted by Δ: bf16 hf path, Δ1 = 0 vs Δ2 = 16.`,
    lines: variantLines(variantRows),
    svgs: [],
  });

  step('attention sink over training');
  const sink = sinkCurveFromSnapshots(rec.snapshots, losses, { seed: o.seed, T: size.sink.T, nSeqs: size.sink.nSeqs, stream, first: tok.bos ?? undefined, onStep: poke });
  emit({
    id: 'sink',
    title: 'Does an attention sink form, and does the first token dominate with it?',
    intro: `The paper's Fig. 1 middle shows the first token dominating the deviation of a pretrained 7B model and links it to attention sinks. Here: snapshots of this run's tiny model every ${Math.max(1, Math.round(o.steps / 8))} steps, each measured for the first key's attention mass (a sink) and its share of Eq. 4.`,
    lines: sink.lines,
    svgs: [
      {
        name: 'sink.svg',
        svg: linePlot(
          [
            { name: 'first-key mass ÷ uniform', x: sink.rows.map((r) => r.step), y: sink.rows.map((r) => r.mass / r.uniform), markers: true },
            { name: 'first-token share of Eq. 4 (%)', x: sink.rows.map((r) => r.step), y: sink.rows.map((r) => 100 * r.share), markers: true },
          ],
          { title: 'Attention sink and first-token share over training (tiny model, bf16 hf)', xLabel: 'training step', yLabel: 'value', panels: [{ title: 'first-key mass ÷ uniform', select: /mass/ }, { title: 'first-token share (%)' }] },
        ),
      },
    ],
  });

  step('Eq. 5 against T, three models');
  const fixture = driftFixtureModel();
  const eq5 = eq5VsT(
    [{ label: 'random init', model: randomModel }, { label: 'trained', model: trained.model, stream, first: tok.bos ?? undefined }, ...(fixture ? [{ label: 'test fixture checkpoint', model: fixture }] : [])],
    { seed: o.seed, ...size.eq5, onStep: poke },
  );
  got.eq5 = eq5;
  emit({
    id: 'eq5-growth',
    title: 'Eq. 5 against context length, and why it grows or not',
    intro: 'D_logit (bf16, transformers\' RoPE path, Δ1 = 0 vs 16) at T = 64 … for each model this report has, including a small pretrained-style checkpoint kept as a test fixture; then the per-stage RoPE error against position and where the growth comes from.',
    lines: eq5.lines,
    svgs: [{ name: 'eq5-models.svg', svg: linePlot(eq5.models.map((f) => ({ name: `${f.label} (slope ${f.slope.toFixed(3)}, ${f.verdict})`, x: f.T, y: f.D_logit, markers: true })), { title: 'Eq. 5 D_logit against T (bf16 hf), each model', xLabel: 'T', yLabel: 'D_logit', logX: true, logY: true }) }],
  });

  step('training each attention variant');
  const variants = variantTraining({ seed: o.seed, ...size.variants, docs, onStep: poke });
  got.variants = variants;
  emit({
    id: 'variant-training',
    title: 'Training with each attention variant (the paper\'s claim, at toy scale)',
    intro: `The tiny model trained in bf16 with full, intra-document (± position reset) and anchor attention on the same packed short documents, ${variants.size.steps} steps at L = ${variants.size.L}, ${variants.size.seeds} seeds each; compared on held-out loss, Eq. 4 D and the long-context tasks. A difference counts only when it is larger than the seed-to-seed spread.`,
    lines: variants.lines,
    svgs: [],
  });

  step('the anchor key');
  emit({
    id: 'anchor-key',
    title: 'Why an anchor at position 0 helps',
    intro: 'RoPE at position 0 is the identity (cos 1, sin 0) on every path, so the anchor\'s key is rotated with no rounding at all; only the query side of its logit carries RoPE error. Full attention\'s first key sits at a shifted position and carries error on both sides. (Random bf16 q, k of width 128; logits in f64 so only RoPE rounding shows.)',
    lines: [...anchorKeyTable(anchorRows, 10000, 'hf'), '', ...reconcile(variantRows)],
    svgs: [],
  });

  step('savings at 8K–128K');
  const measured = measuredSavings(docs, { bos: tok.bos!, seed: o.seed, onStep: poke, ...(o.preset === 'tiny' ? { lengths: [2048, 4096, 8192], tokens: 2 ** 15 } : {}) });
  got.savings = measured;
  const rows = o.preset === 'tiny' ? savingsTable([8192, 16384], 2, o.seed) : savingsTable(undefined, 64, o.seed);
  const mixes = [...new Set(rows.map((r) => r.mix))];
  const savingsSvg = linePlot(
    [
      { name: 'demo corpus (measured lengths), element-sparse', x: measured.map((r) => r.L), y: measured.map((r) => 100 * r.timeShare.pairs), markers: true },
      { name: 'demo corpus (measured lengths), 128² blocks', x: measured.map((r) => r.L), y: measured.map((r) => 100 * r.timeShare.blocks), markers: true },
      ...mixes.map((mix) => {
        const rs = rows.filter((r) => r.mix === mix);
        return { name: `${mix} (modelled lengths)`, x: rs.map((r) => r.L), y: rs.map((r) => 100 / r.endToEnd), markers: true } as Series;
      }),
      { name: "the paper's claim: 50%", x: [measured[0].L, measured[measured.length - 1].L], y: [50, 50] },
    ],
    { title: 'AnchorAttention: estimated LLaMA-2-7B time as a share of full attention', xLabel: 'window L (tokens)', yLabel: 'anchor time ÷ full time (%)', logX: true },
  );
  emit({
    id: 'savings',
    title: 'What the masks save',
    intro: 'Allowed (q, k) pairs relative to full causal attention on packed windows, and the LLaMA-2-7B time they imply, set beside the paper\'s "less than 50% of the training time". Measured: the document lengths of the corpus this report trains on (byte tokens, so documents are 3–4× longer than in a BPE tokenizer\'s tokens, which makes the saving smaller). Modelled: the paper\'s source mixes with assumed log-normal lengths (forward only).',
    lines: [...measuredSavingsLines(measured, `the demo corpus (${docs.length} documents)`), '', ...savingsLines(rows)],
    svgs: [{ name: 'savings.svg', svg: savingsSvg }],
  });

  step('the explorer');
  let explorer = '';
  try {
    explorer = await explorerHtml();
  } catch (e) {
    if (!(e instanceof OpError)) throw e;
    explorer = `<p>${esc(e.message)}</p>`;
  }
  emit({ id: 'explorer', title: 'Explore: bf16 RoPE and the masks', intro: 'Computed in this page by the reference code itself (bundled for the browser): change an input and every number follows.', lines: [], svgs: [], html: explorer });

  const setting = `tiny LLaMA (${config.numLayers} layers, d ${config.hiddenSize}), ${o.seqs} windows of ${o.len}`;
  return [
    precisionOrderFinding(got.D!, setting),
    pretrainingFinding(got.D!.find((m) => m.name === 'random init')!.D.bf16, got.D!.find((m) => m.name === 'trained')!.D.bf16, `${setting}, ${o.steps} training steps`),
    firstTokenFinding(got.perToken!, `trained tiny model, ${o.seqs} BOS-first windows of ${o.len}`),
    lengthGrowthFinding(
      eq5.models.map((f) => ({ name: f.label, T0: f.T[0], T1: f.T[f.T.length - 1], from: f.D_logit[0], to: f.D_logit[f.D_logit.length - 1], slope: f.slope, verdict: f.verdict })),
      `${size.eq5.nSeqs} window(s) per model`,
    ),
    anchorTrainingFinding(
      variants.pairs.map((p) => ({ a: p.a, b: p.b, metric: p.metric, better: VARIANT_METRICS.find((m) => m.key === p.metric)!.better, diff: p.v.diff, larger: p.v.larger })),
      variants.allTasksZero,
      `tiny model, bf16, ${variants.size.steps} steps at L = ${variants.size.L}, ${variants.size.seeds} seeds; the anchor's windows carry one BOS instead of one per document, so it sees more text per step`,
    ),
    savingsFinding(measured, `LLaMA-2-7B FLOPs, document lengths of the demo corpus in byte tokens`),
  ];
}

/** Eq. 4 of one variant on 3-document windows, split into the first key's part and the rest */
interface VariantRow {
  variant: Variant;
  D: number;
  first: number;
  f32: number;
}

/** Eq. 4 and the first token's share per mask variant on 3-document windows */
function variantDeviation(m: ModelAtPrecisions, seqs: Int32Array[], L: number): VariantRow[] {
  const third = Math.floor((L - 1) / 3);
  const lengths = [third, third, L - 1 - 2 * third];
  return VARIANTS.map((variant) => {
    // full and intra_doc variants: BOS opens document 1; anchor: BOS is the anchor (doc 0)
    const docIds = variant === 'anchor' ? docIdsFromLengths(lengths, true) : docIdsFromLengths([lengths[0] + 1, lengths[1], lengths[2]]);
    const bf = shiftDeviation(m.get('bf16'), seqs, 0, 16, { ...RUNS['bf16 hf'], variant, docIds });
    const f32 = shiftDeviation(m.get('f32'), seqs, 0, 16, { ...RUNS.f32, variant, docIds });
    return { variant, D: bf.D, first: bf.perToken[0], f32: f32.D };
  });
}

function variantLines(rows: VariantRow[]): string[] {
  return [
    '| variant | D (bf16 hf) | of which the first key | the other keys | first token share | D (f32) |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.variant} | ${r.D.toPrecision(4)} | ${r.first.toPrecision(4)} | ${(r.D - r.first).toPrecision(4)} | ${((100 * r.first) / r.D).toFixed(1)}% | ${r.f32.toExponential(3)} |`),
  ];
}

/**
 * The anchor-key table and the by-variant table side by side: the anchor removes RoPE rounding
 * from the first key's side of its logits; Eq. 4 sums every key. Which part moved, computed.
 */
function reconcile(rows: VariantRow[]): string[] {
  const a = rows.find((r) => r.variant === 'anchor')!;
  const f = rows.find((r) => r.variant === 'full')!;
  const cmp = (x: number, y: number) => (x < y ? 'lower' : x > y ? 'higher' : 'equal');
  return [
    `Reconciling the two tables: in the by-variant table the anchor's Eq. 4 is ${a.D.toPrecision(3)}, ${cmp(a.D, f.D)} than full attention's ${f.D.toPrecision(3)}. ` +
      `Its first key contributes ${a.first.toPrecision(3)} (full: ${f.first.toPrecision(3)}, ${cmp(a.first, f.first)}) and the other keys ${(a.D - a.first).toPrecision(3)} (full: ${(f.D - f.first).toPrecision(3)}, ${cmp(a.D - a.first, f.D - f.first)}). ` +
      `The table above speaks only of the first key's logit; Eq. 4 also counts every other key.` +
      (a.first < f.first ? ' The first key\'s part is lower with the anchor, as the mechanism predicts.' : ' Here even the first key\'s part is not lower with the anchor: at this scale the mechanism does not show in Eq. 4.'),
  ];
}

/** the RoPE section: the RoPE demo's table and plot */
function ropeSection(seed: number): Section {
  return { id: 'rope', title: 'RoPE in bf16: error against position', intro: 'cos/sin error of the bf16 cast and the relative-position violation, for several bases (reference/rope.ts).', ...ropeReport(seed) };
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

/** the page: findings first (or a note while the run is still going), then every section so far */
export function renderHtml(sections: Section[], findings: Finding[] | undefined, meta: string, pending: string[] = []): string {
  const body = sections
    .map((s) => `<section id="${s.id}"><h2>${esc(s.title)}</h2><p>${esc(s.intro)}</p>${linesToHtml(s.lines)}${s.svgs.map((g) => `<figure>${g.svg}<figcaption>${esc(g.name)}</figcaption></figure>`).join('')}${s.html ?? ''}</section>`)
    .join('\n');
  const top = findings
    ? `<section id="findings"><h2>The paper's findings, side by side with this run</h2><p>Each verdict is computed from the numbers below by the rule in its last column; the paper's statements are quoted with their setting. Toy scale: a finding that needs a 7B model or a long pretraining may not appear here, and the table says so rather than hiding it.</p>${linesToHtml(findingsLines(findings))}</section>`
    : `<section id="findings"><h2>The paper's findings, side by side with this run</h2><p><strong>This run is still going</strong> (the page is rewritten as each section finishes); the findings table is computed at the end. Still to come: ${esc(pending.join(', ') || 'the findings')}.</p></section>`;
  const toc = sections.map((s) => `<a href="#${s.id}">${esc(s.title)}</a>`).join(' · ');
  return `<!doctype html><html><head><meta charset="utf-8"><title>anchor-oracle report</title><style>
body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}#findings td,#findings th{text-align:left}pre{background:#f8f8f8;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px}figure{margin:1em 0}figcaption{font-size:12px;color:#666}
nav{font-size:13px;line-height:1.7}
</style></head><body><h1>anchor-oracle: bf16 breaks RoPE, and what the anchor does about it</h1>
<p>Every number on this page was computed in the run that wrote it (${esc(meta)}). Paper: <em>When Precision Meets Position: BFloat16 Breaks Down RoPE in Long-Context Training</em> (arXiv 2411.13476).</p>
<nav>${toc}</nav>
${top}
${body}
</body></html>\n`;
}

/** the presets: small is `npm start`; large trains longer and measures more (see README for its time) */
export const REPORT_PRESETS = {
  tiny: { seqs: 1, len: 16, steps: 4, maxT: 128 },
  small: { seqs: 4, len: 64, steps: 200, maxT: 1024 },
  large: { seqs: 8, len: 128, steps: 1000, maxT: 2048 },
} as const;
/** the large preset's steps cost this many times the small one's (measured per step, 2 cores) */
const LARGE_COST: Partial<Record<ReportStep, number>> = { 'training the tiny model': 5, 'Eq. 4 and Eq. 5, random init': 6, 'Eq. 4 and Eq. 5, trained': 6, 'decomposition by rounding stage': 4, 'Eq. 4 by attention variant': 4, 'attention sink over training': 3, 'Eq. 5 against T, three models': 15, 'training each attention variant': 23 };

export const command: Command = {
  summary: 'the main job (npm start): compute the report and write report/index.html (findings table, plots, explorer), section by section',
  usage: 'anchor-oracle report [--preset small|large] [--out DIR] [--seqs N] [--len T] [--steps N] [--max-t T] [--seed S]',
  options: {
    preset: { type: 'string', placeholder: 'NAME', description: 'small (npm start, about 2 min on 2 idle cores), large (longer training, more windows and seeds; see README) or tiny (seconds: the tests\' smoke run)', default: 'small' },
    out: { type: 'string', placeholder: 'DIR', description: 'the folder index.html and the SVG plots are written to', default: 'report' },
    seqs: { type: 'string', placeholder: 'N', description: 'sequences of the Eq. 4 measurements (Eq. 5: half as many; ≥ 1; large: 8)', default: REPORT_PRESETS.small.seqs },
    len: { type: 'string', placeholder: 'T', description: 'tokens per Eq. 4 sequence (≥ 8; large: 128)', default: REPORT_PRESETS.small.len },
    steps: { type: 'string', placeholder: 'N', description: 'training steps of the tiny model (≥ 1; large: 1000)', default: REPORT_PRESETS.small.steps },
    'max-t': { type: 'string', placeholder: 'T', description: 'the longest length of the Eq. 5 curves (≥ 64; large: 2048)', default: REPORT_PRESETS.small.maxT },
    seed: { type: 'string', placeholder: 'S', description: 'seed of every random choice (integer ≥ 0)', default: 1 },
  },
  examples: ['anchor-oracle report', 'anchor-oracle report --preset large --out big-report', 'anchor-oracle report --steps 400 --seqs 8 --out report-400'],
  async run(v) {
    const preset = enumOption(v.preset, 'preset', ['tiny', 'small', 'large'] as const, 'small');
    const P = REPORT_PRESETS[preset];
    const o: ReportOptions = {
      out: (v.out as string | undefined) ?? 'report',
      seqs: intOption(v.seqs, 'seqs', P.seqs, 1),
      len: intOption(v.len, 'len', P.len, 8),
      steps: intOption(v.steps, 'steps', P.steps, 1),
      maxT: intOption(v['max-t'], 'max-t', P.maxT, 64),
      seed: intOption(v.seed, 'seed', 1),
      preset,
    };
    const started = Date.now();
    const weights = Object.fromEntries(Object.entries(REPORT_STEPS).map(([k, w]) => [k, w * (preset === 'large' ? (LARGE_COST[k as ReportStep] ?? 1) : 1)]));
    const progress = new StepProgress('report', weights);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const meta = () => `anchor-oracle ${pkg.version}, node ${process.version}, preset ${preset}, seed ${o.seed}, ${new Date().toISOString()}, ${fmtSeconds((Date.now() - started) / 1000)}`;
    const page = join(o.out, 'index.html');
    const sections: Section[] = [];
    const names = Object.keys(REPORT_STEPS);
    let current = '';
    // the page is rewritten (atomically) after every section: a stopped run leaves what it finished
    const findings = await buildReport(
      o,
      (name) => {
        current = name;
        progress.step(name);
      },
      (s) => {
        sections.push(s);
        for (const g of s.svgs) writeFileAtomic(join(o.out, g.name), g.svg);
        writeFileAtomic(page, renderHtml(sections, undefined, meta(), names.slice(names.indexOf(current) + 1)));
      },
      () => progress.poke(),
    );
    writeFileAtomic(page, renderHtml(sections, findings, meta()));
    progress.finish();
    console.log(`The paper's findings in this run (${preset} preset):`);
    for (const f of findings) console.log(`  ${f.verdict.padEnd(17)} ${f.finding}`);
    console.log(`\nwrote ${sections.length} sections and ${sections.reduce((a, s) => a + s.svgs.length, 0)} SVG plots in ${fmtSeconds((Date.now() - started) / 1000)}: ${pathToFileURL(resolve(page)).href}`);
    return 0;
  },
};

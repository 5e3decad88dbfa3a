// anchor-oracle drift shift|logit|decompose: the paper's Eq. 4 / Eq. 5 measurements and the
// decomposition by rounding stage, on a checkpoint or a seeded random-init model.

import { readFileSync } from 'node:fs';
import { statOrNull } from '../data/corpus.ts';
import type { Command } from './main.ts';
import { useModelBackend } from './model-backend.ts';
import { intOption, UsageError } from './main.ts';
import { Progress } from './progress.ts';
import { tinyPreset } from './train.ts';
import { decompositionOf, decompositionTable, driftSequences, logitCurves, logitTable, ModelAtPrecisions, PAPER_DELTA1, perTokenTable, RUNS, shiftCurves, shiftTable, writeDriftPlots } from '../demos/drift.ts';
import { docIdsFromLengths, VARIANTS, type Variant } from '../reference/masks.ts';
import { parseConfig } from '../reference/model/config.ts';
import { randomInitModel, type InitScheme, type Model } from '../reference/model/params.ts';
import { OpError } from '../io/errors.ts';
import { checkForwardFits, checkModelFits, loadModelChecked, oneLine, resolveCheckpointDir } from '../train/checkpoint.ts';
import type { DriftRun } from '../reference/drift.ts';

const list = (v: string | boolean | undefined, name: string, dflt: number[]): number[] => {
  if (v === undefined) return dflt;
  const xs = String(v).split(',').map(Number);
  if (!xs.length || xs.some((x) => !Number.isSafeInteger(x) || x < 0)) throw new UsageError(`--${name} must be a comma-separated list of non-negative integers, got ${JSON.stringify(v)}`);
  return xs;
};

/** working bytes per parameter, at the least: the model at f64, f32 and bf16, and the file's copy */
const DRIFT_BYTES_PER_PARAM = 28;

export function loadDriftModel(v: Record<string, string | boolean | undefined>): { model: Model; label: string } {
  if (v.checkpoint && v.random) throw new UsageError('give --checkpoint DIR or --random CONFIG, not both');
  if (v.checkpoint) {
    // a model folder, or a train run folder (its latest.json names the newest step folder)
    const dir = resolveCheckpointDir(String(v.checkpoint));
    return { model: loadModelChecked(dir, 'checkpoint', DRIFT_BYTES_PER_PARAM), label: `checkpoint ${dir}` };
  }
  const src = String(v.random ?? 'tiny');
  const init = (v.init ?? 'pytorch') as InitScheme;
  if (init !== 'pytorch' && init !== 'transformers') throw new UsageError(`--init must be pytorch or transformers, got ${JSON.stringify(init)}`);
  const seed = intOption(v.seed, 'seed', 1);
  let config;
  if (src === 'tiny') config = tinyPreset('unused').model;
  else {
    const st = statOrNull(src);
    if (!st) throw new UsageError(`--random: no such config file ${src} (or use "tiny")`);
    if (!st.isFile() || st.size > 16 << 20) throw new OpError('BAD_ARGS', `--random ${src}: not a config.json file`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(src, 'utf8'));
    } catch (e) {
      throw new OpError('BAD_ARGS', `--random ${src}: not valid JSON (${oneLine(e)})`);
    }
    config = parseConfig(raw);
    checkModelFits(config, DRIFT_BYTES_PER_PARAM, `--random ${src}`);
  }
  return { model: randomInitModel(config, seed, init), label: `random init (${init}, seed ${seed}) of ${src}` };
}

export const command: Command = {
  summary: "the paper's shift metrics: Eq. 4 (shift), Eq. 5 (logit), and their decomposition by rounding stage",
  usage:
    'anchor-oracle drift shift|logit|decompose (--checkpoint DIR | --random CONFIG|tiny [--init pytorch|transformers]) [--seed S]\n' +
    '  [--runs "f64,f32,bf16 hf,bf16 paper,bf16 hf, bf16 inv_freq"] [--variant full|intra_doc|intra_doc_reset|anchor] [--docs K]\n' +
    '  [--seqs N] [--len T] [--delta1 LIST] [--delta2 16] [--lengths 64,128,...] [--metric shift|logit] [--out DIR]\n  [--backend reference|webasm|cpu]',
  options: {
    checkpoint: { type: 'string' },
    random: { type: 'string' },
    init: { type: 'string' },
    seed: { type: 'string' },
    runs: { type: 'string' },
    variant: { type: 'string' },
    docs: { type: 'string' },
    seqs: { type: 'string' },
    len: { type: 'string' },
    delta1: { type: 'string' },
    delta2: { type: 'string' },
    lengths: { type: 'string' },
    metric: { type: 'string' },
    attention: { type: 'string' },
    out: { type: 'string' },
    backend: { type: 'string' },
  },
  allowPositionals: true,
  async run(v, pos) {
    useModelBackend(v.backend as string | undefined);
    const what = pos[0];
    if (what !== 'shift' && what !== 'logit' && what !== 'decompose') throw new UsageError('name a measurement: shift, logit or decompose');
    const { model, label } = loadDriftModel(v);
    const variant = (v.variant ?? 'full') as Variant;
    if (!VARIANTS.includes(variant)) throw new UsageError(`--variant must be one of ${VARIANTS.join(', ')}`);
    const runNames = v.runs ? String(v.runs).split(/,(?! )/) : Object.keys(RUNS);
    for (const n of runNames) if (!(n in RUNS)) throw new UsageError(`unknown run "${n}" (known: ${Object.keys(RUNS).join('; ')})`);
    const T = intOption(v.len, 'len', 128, 2);
    const docs = intOption(v.docs, 'docs', 1, 1);
    const docIdsFor = (len: number) => (variant === 'full' ? undefined : docIdsFromLengths(split(len - (variant === 'anchor' ? 1 : 0), docs), variant === 'anchor'));
    const attention = String(v.attention ?? 'eager');
    if (attention !== 'eager' && attention !== 'flash') throw new UsageError('--attention must be eager (transformers eager: bf16 logits and P) or flash (f32 logits, bf16 P)');
    const bf16Attention = attention === 'flash' ? 'bf16_flash' : 'bf16_eager';
    const runs: Record<string, DriftRun> = Object.fromEntries(runNames.map((n) => [n, { ...RUNS[n], variant, docIds: docIdsFor(T), bf16Attention }]));
    const seed = intOption(v.seed, 'seed', 1);
    const nSeqs = intOption(v.seqs, 'seqs', 4, 1);
    const delta2 = intOption(v.delta2, 'delta2', 16);
    const out = (v.out as string | undefined) ?? 'drift-out';
    const longest = what === 'logit' ? Math.max(...list(v.lengths, 'lengths', [64, 128, 256, 512])) : T;
    checkForwardFits(model.config, longest, `drift ${what}`);
    const m = new ModelAtPrecisions(model);
    console.log(`model: ${label}; variant ${variant}${docs > 1 ? ` with ${docs} documents` : ''}; bf16 attention: ${attention}`);
    if (what === 'shift') {
      const delta1 = list(v.delta1, 'delta1', PAPER_DELTA1);
      const seqs = driftSequences(model.config.vocabSize, nSeqs, T, seed);
      const bar = new Progress('drift shift', delta1.length * runNames.length);
      let done = 0;
      const curves = shiftCurves(m, seqs, delta1, delta2, runs, () => bar.update(++done));
      for (const l of [...shiftTable(curves, delta2), '', ...perTokenTable(curves, delta2)]) console.log(l);
      console.log(`plots: ${writeDriftPlots(out, 'drift', curves, undefined, delta2).map((f) => `${out}/${f}`).join(', ')}`);
    } else if (what === 'logit') {
      const lengths = list(v.lengths, 'lengths', [64, 128, 256, 512]);
      const delta1 = list(v.delta1, 'delta1', [0])[0];
      const bar = new Progress('drift logit', lengths.length * runNames.length);
      let done = 0;
      const perLengthRuns = (len: number) => Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, { ...r, docIds: docIdsFor(len) }]));
      // docIds depend on the length: run each length with its own layout
      const curves = lengths.map((len) => logitCurves(m, [len], nSeqs, seed, delta1, delta2, perLengthRuns(len), undefined, () => bar.update(++done)));
      const merged = curves[0].map((c, i) => ({ label: c.label, T: lengths, D_logit: curves.map((cs) => cs[i].D_logit[0]) }));
      for (const l of logitTable(merged, delta1, delta2)) console.log(l);
      console.log(`plots: ${writeDriftPlots(out, 'drift', undefined, merged, delta2).map((f) => `${out}/${f}`).join(', ')}`);
    } else {
      const metric = (v.metric ?? 'shift') as 'shift' | 'logit';
      if (metric !== 'shift' && metric !== 'logit') throw new UsageError('--metric must be shift or logit');
      const delta1 = list(v.delta1, 'delta1', [0])[0];
      const runName = runNames.length === 1 ? runNames[0] : 'bf16 hf';
      const seqs = driftSequences(model.config.vocabSize, nSeqs, T, seed);
      const d = decompositionOf(m, metric, seqs, delta1, delta2, runs[runName] ?? { ...RUNS['bf16 hf'], variant, docIds: docIdsFor(T), bf16Attention });
      for (const l of decompositionTable(d, `${runName}, Δ1 = ${delta1}, Δ2 = ${delta2}, T = ${T}`)) console.log(l);
    }
    return 0;
  },
};

/** n document lengths summing to total, as equal as possible */
function split(total: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

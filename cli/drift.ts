// anchor-oracle drift shift|logit|decompose: the paper's Eq. 4 / Eq. 5 measurements and the
// decomposition by rounding stage, on a checkpoint or a seeded random-init model.

import { statOrNull } from '../data/corpus.ts';
import type { Command, Options } from './main.ts';
import { ATTENTION, BACKEND, bf16AttentionOption, THREADS, useModelBackend } from './model-backend.ts';
import { enumOption, intListOption, intOption, listOption, UsageError, wordArgument } from './main.ts';
import { Progress } from '../io/progress.ts';
import { tinyPreset } from '../train/presets.ts';
import { decompositionOf, decompositionTable, driftSequences, logitCurves, logitTable, ModelAtPrecisions, PAPER_DELTA1, perTokenTable, RUNS, shiftCurves, shiftTable, writeDriftPlots } from '../demos/drift.ts';
import { docIdsFromLengths, VARIANTS, type Variant } from '../reference/masks.ts';
import { randomInitModel, type InitScheme, type Model } from '../reference/model/params.ts';
import { checkForwardFits, checkModelFits, loadModelChecked, resolveCheckpointDir } from '../train/checkpoint.ts';
import { readConfigFile } from '../train/model-files.ts';
import type { DriftRun } from '../reference/drift.ts';

const INITS = ['pytorch', 'transformers'] as const;
const METRICS = ['shift', 'logit'] as const;

const O = {
  checkpoint: { type: 'string', placeholder: 'DIR', description: "a model folder (config.json + model.safetensors), or a train run folder (its newest checkpoint)" },
  random: { type: 'string', placeholder: 'CONFIG|tiny', description: 'a seeded random-init model of a config.json, or of the tiny train preset', default: 'tiny' },
  init: { type: 'string', placeholder: INITS.join('|'), description: "--random: PyTorch's default initialisation or transformers' (normal, std 0.02)", default: 'pytorch' as const },
  seed: { type: 'string', placeholder: 'S', description: 'seed of the random init and of the token sequences (integer ≥ 0)', default: 1 },
  runs: { type: 'string', placeholder: 'LIST', description: `the precision runs, comma-separated: ${Object.keys(RUNS).join('; ')}`, default: 'all' },
  variant: { type: 'string', placeholder: 'V', description: `the attention mask: ${VARIANTS.join(', ')}`, default: 'full' as const },
  docs: { type: 'string', placeholder: 'K', description: 'documents per sequence for the document-masked variants (≥ 1)', default: 1 },
  seqs: { type: 'string', placeholder: 'N', description: 'sequences averaged over (≥ 1)', default: 4 },
  len: { type: 'string', placeholder: 'T', description: 'tokens per sequence, shift and decompose (≥ 2)', default: 128 },
  delta1: { type: 'string', placeholder: 'LIST', description: 'position shifts Δ1, comma-separated (logit, decompose: the first one)', default: `shift: the paper's ${PAPER_DELTA1.join(',')}; logit, decompose: 0` },
  delta2: { type: 'string', placeholder: 'N', description: 'the reference shift Δ2 (integer ≥ 0)', default: 16 },
  lengths: { type: 'string', placeholder: 'LIST', description: 'logit: the sequence lengths T, comma-separated', default: [64, 128, 256, 512] },
  metric: { type: 'string', placeholder: METRICS.join('|'), description: 'decompose: the metric split by rounding stage (Eq. 4 shift or Eq. 5 logit)', default: 'shift' as const },
  attention: ATTENTION,
  out: { type: 'string', placeholder: 'DIR', description: 'the folder the SVG plots are written to', default: 'drift-out' },
  backend: BACKEND,
  threads: THREADS,
} satisfies Options;

/** working bytes per parameter, at the least: the model in float32 storage (4), rounded at f64 (8), f32 (4) and bf16 (4, float32 storage), and the file's copy (≥ 2) */
const DRIFT_BYTES_PER_PARAM = 22;

export function loadDriftModel(v: Record<string, string | boolean | undefined>): { model: Model; label: string } {
  if (v.checkpoint && v.random) throw new UsageError('give --checkpoint DIR or --random CONFIG, not both');
  if (v.checkpoint) {
    // a model folder, or a train run folder (its latest.json names the newest step folder)
    const dir = resolveCheckpointDir(String(v.checkpoint));
    return { model: loadModelChecked(dir, 'checkpoint', DRIFT_BYTES_PER_PARAM), label: `checkpoint ${dir}` };
  }
  const src = String(v.random ?? O.random.default);
  const init: InitScheme = enumOption(v.init, 'init', INITS, O.init.default);
  const seed = intOption(v.seed, 'seed', O.seed.default);
  let config;
  if (src === 'tiny') config = tinyPreset('unused').model;
  else {
    const st = statOrNull(src);
    if (!st) throw new UsageError(`--random: no such config file ${src} (or use "tiny")`);
    config = readConfigFile(src, `--random ${src}`);
    checkModelFits(config, DRIFT_BYTES_PER_PARAM, `--random ${src}`);
  }
  return { model: randomInitModel(config, seed, init), label: `random init (${init}, seed ${seed}) of ${src}` };
}

export const command: Command = {
  summary: "the paper's shift metrics: Eq. 4 (shift), Eq. 5 (logit), and their decomposition by rounding stage",
  usage:
    'anchor-oracle drift shift|logit|decompose (--checkpoint DIR | --random CONFIG|tiny [--init pytorch|transformers]) [--seed S]\n' +
    '  [--runs "f64,f32,bf16 hf,bf16 paper,bf16 hf, bf16 inv_freq"] [--variant full|intra_doc|intra_doc_reset|anchor] [--docs K]\n' +
    '  [--seqs N] [--len T] [--delta1 LIST] [--delta2 16] [--lengths 64,128,...] [--metric shift|logit] [--attention eager|flash] [--out DIR]\n  [--backend reference|webasm|cpu] [--threads N]',
  options: O,
  examples: [
    'anchor-oracle drift shift --random tiny',
    'anchor-oracle drift logit --checkpoint checkpoints/drift_peaked --lengths 64,256,1024',
    "anchor-oracle drift decompose --random tiny --runs 'bf16 paper' --metric logit",
    'anchor-oracle drift shift --checkpoint out/train-tiny --variant anchor --docs 3 --attention flash',
  ],
  allowPositionals: true,
  async run(v, pos) {
    useModelBackend(v.backend as string | undefined, v.threads);
    const what = wordArgument(pos[0], 'a measurement', ['shift', 'logit', 'decompose']);
    // every flag is checked before the model is loaded
    const variant: Variant = enumOption(v.variant, 'variant', VARIANTS, O.variant.default);
    // run names hold ", " ("bf16 hf, bf16 inv_freq"): a comma and no space separates them
    const runNames = listOption(v.runs, 'runs', Object.keys(RUNS), Object.keys(RUNS), /,(?! )/);
    const T = intOption(v.len, 'len', O.len.default, 2);
    const docs = intOption(v.docs, 'docs', O.docs.default, 1);
    const docIdsFor = (len: number) => (variant === 'full' ? undefined : docIdsFromLengths(split(len - (variant === 'anchor' ? 1 : 0), docs), variant === 'anchor'));
    const bf16Attention = bf16AttentionOption(v.attention);
    const attention = bf16Attention === 'bf16_flash' ? 'flash' : 'eager';
    const runs: Record<string, DriftRun> = Object.fromEntries(runNames.map((n) => [n, { ...RUNS[n], variant, docIds: docIdsFor(T), bf16Attention }]));
    const seed = intOption(v.seed, 'seed', O.seed.default);
    const nSeqs = intOption(v.seqs, 'seqs', O.seqs.default, 1);
    const delta2 = intOption(v.delta2, 'delta2', O.delta2.default);
    const out = (v.out as string | undefined) ?? O.out.default;
    const lengths = intListOption(v.lengths, 'lengths', O.lengths.default);
    const delta1s = intListOption(v.delta1, 'delta1', what === 'shift' ? PAPER_DELTA1 : [0]); // logit, decompose: the first
    const metric = enumOption(v.metric, 'metric', METRICS, O.metric.default);
    const { model, label } = loadDriftModel(v);
    const longest = what === 'logit' ? Math.max(...lengths) : T;
    checkForwardFits(model.config, longest, `drift ${what}`);
    const m = new ModelAtPrecisions(model);
    console.log(`model: ${label}; variant ${variant}${docs > 1 ? ` with ${docs} documents` : ''}; bf16 attention: ${attention}`);
    if (what === 'shift') {
      const delta1 = delta1s;
      const seqs = driftSequences(model.config.vocabSize, nSeqs, T, seed);
      const bar = new Progress('drift shift', delta1.length * runNames.length);
      let done = 0;
      const curves = shiftCurves(m, seqs, delta1, delta2, runs, () => bar.update(++done));
      for (const l of [...shiftTable(curves, delta2), '', ...perTokenTable(curves, delta2)]) console.log(l);
      console.log(`plots: ${writeDriftPlots(out, 'drift', curves, undefined, delta2).map((f) => `${out}/${f}`).join(', ')}`);
    } else if (what === 'logit') {
      const delta1 = delta1s[0];
      const bar = new Progress('drift logit', lengths.length * runNames.length);
      let done = 0;
      const perLengthRuns = (len: number) => Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, { ...r, docIds: docIdsFor(len) }]));
      // docIds depend on the length: run each length with its own layout
      const curves = lengths.map((len) => logitCurves(m, [len], nSeqs, seed, delta1, delta2, perLengthRuns(len), undefined, () => bar.update(++done)));
      const merged = curves[0].map((c, i) => ({ label: c.label, T: lengths, D_logit: curves.map((cs) => cs[i].D_logit[0]) }));
      for (const l of logitTable(merged, delta1, delta2)) console.log(l);
      console.log(`plots: ${writeDriftPlots(out, 'drift', undefined, merged, delta2).map((f) => `${out}/${f}`).join(', ')}`);
    } else {
      const delta1 = delta1s[0];
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

// anchor-oracle train: train a LLaMA-family model with the reference (forward + backward
// in TypeScript), packed windows of any attention variant, AdamW, checkpoints and resume.

import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { statOrNull } from '../data/corpus.ts';
import { join } from 'node:path';
import type { Command, Options } from './main.ts';
import { ATTENTION, BACKEND, bf16AttentionOption, THREADS, useModelBackend } from './model-backend.ts';
import { enumOption, intOption, numberOption, UsageError } from './main.ts';
import { info } from '../io/progress.ts';
import { loadDocuments, type DataFormat } from '../data/docs.ts';
import { getTokenizer } from '../data/tokenizer.ts';
import { PRECISIONS, type Precision } from '../reference/model/precision.ts';
import { PACK_VARIANTS, type Layout, type PackVariant } from '../reference/packing.ts';
import { train, type TrainOptions } from '../train/trainer.ts';
import { tinyPreset } from '../train/presets.ts';
import { checkModelFits, TRAIN_BYTES_PER_PARAM } from '../train/checkpoint.ts';
import { readConfigFile } from '../train/model-files.ts';
import { errnoText } from '../io/lines.ts';
import { OpError } from '../io/errors.ts';

const root = new URL('..', import.meta.url).pathname;



const FORMATS = ['raw_json', 'tokenized'] as const;
const LAYOUTS = ['flex', 'flash'] as const;
const SCHEDULES = ['cosine', 'constant'] as const;
const DEFAULT_OUT = join('out', 'train-tiny');
/** the preset's training settings: the defaults of the flags (run reads them from the same preset) */
const P = tinyPreset(DEFAULT_OUT);

const O = {
  preset: { type: 'string', placeholder: 'tiny', description: 'the tiny preset: a 2-layer LLaMA over the byte tokenizer, and the training settings below (give it or --config)' },
  config: { type: 'string', placeholder: 'FILE', description: "a transformers config.json for the model instead of the preset's (the training settings stay the preset's)" },
  out: { type: 'string', placeholder: 'DIR', description: 'the run folder: metrics.jsonl, loss.svg, checkpoints (one holding a run needs --resume)', default: DEFAULT_OUT },
  data: { type: 'string', placeholder: 'FILE|-', description: 'training documents as JSON Lines (-: standard input)', default: 'the docs shipped in node_modules' },
  format: { type: 'string', placeholder: FORMATS.join('|'), description: 'rows {"text": ...}, or tokenized rows {"input_ids": [...], "source": [...]}', default: 'raw_json' as const },
  tokenizer: { type: 'string', placeholder: 'DIR', description: 'a folder with a Hugging Face tokenizer.json', default: 'bytes' },
  precision: { type: 'string', placeholder: PRECISIONS.join('|'), description: 'the precision of the forward and backward passes', default: P.precision },
  variant: { type: 'string', placeholder: 'V', description: `the attention variant of the packed windows: ${PACK_VARIANTS.join(', ')}`, default: P.variant },
  layout: { type: 'string', placeholder: LAYOUTS.join('|'), description: 'the packed-window layout: flex (one shared anchor at index 0) or flash (varlen: each segment starts with its own anchor)', default: P.layout },
  steps: { type: 'string', placeholder: 'N', description: 'optimizer steps (≥ 1)', default: P.steps },
  'seq-len': { type: 'string', placeholder: 'L', description: 'tokens per packed window (≥ 2)', default: P.L },
  accum: { type: 'string', placeholder: 'N', description: 'windows per step, gradients accumulated (≥ 1)', default: P.accum },
  lr: { type: 'string', placeholder: 'X', description: 'the peak learning rate (≥ 0)', default: P.lr },
  warmup: { type: 'string', placeholder: 'N', description: 'linear warm-up steps (≥ 0)', default: P.warmup },
  schedule: { type: 'string', placeholder: SCHEDULES.join('|'), description: 'the learning-rate schedule after the warm-up', default: P.schedule },
  clip: { type: 'string', placeholder: 'X', description: 'clip the global gradient norm to X (0: no clipping)', default: P.clip },
  'weight-decay': { type: 'string', placeholder: 'X', description: "AdamW's decoupled weight decay (≥ 0)", default: P.adamw.weightDecay },
  'decay-all': { type: 'boolean', description: "decay norms and biases too (the paper's DeepSpeed AdamW)" },
  seed: { type: 'string', placeholder: 'S', description: 'seed of the initialisation and the data order (integer ≥ 0)', default: P.seed },
  'checkpoint-every': { type: 'string', placeholder: 'N', description: 'write a checkpoint every N steps, and at the end (≥ 1)', default: P.checkpointEvery },
  resume: { type: 'boolean', description: 'continue the run in --out from its latest checkpoint (the same options needed)' },
  attention: ATTENTION,
  backend: BACKEND,
  threads: THREADS,
} satisfies Options;

export const command: Command = {
  summary: 'train a tiny LLaMA-family model (reference forward/backward, AdamW, checkpoints, --resume)',
  usage:
    'anchor-oracle train --preset tiny [--out DIR] [--data FILE --format raw_json|tokenized] [--tokenizer DIR] [--config config.json]\n' +
    '    [--precision f32|bf16|f64] [--variant anchor|full|intra_doc|intra_doc_reset|anchor_tag|interleaved] [--layout flex|flash]\n' +
    '    [--steps N] [--seq-len L] [--accum N] [--lr X] [--warmup N] [--schedule cosine|constant] [--clip X] [--weight-decay X] [--decay-all]\n' +
    '    [--seed S] [--checkpoint-every N] [--resume] [--attention eager|flash] [--backend reference|webasm|cpu] [--threads N]',
  options: O,
  examples: [
    'anchor-oracle train --preset tiny',
    'anchor-oracle train --preset tiny --steps 20 --seq-len 64 --variant intra_doc --layout flash --out out/small',
    'anchor-oracle train --preset tiny --out out/small --resume',
    'anchor-oracle train --config config.json --data rows.jsonl --format tokenized --tokenizer tok/ --precision bf16',
    'anchor-oracle train --preset tiny --precision bf16 --attention flash --backend webasm --out out/flash',
  ],
  async run(v) {
    useModelBackend(v.backend as string | undefined, v.threads);
    enumOption(v.preset, 'preset', ['tiny']); // the one preset
    if (v.preset === undefined && v.config === undefined) throw new UsageError('give --preset tiny or --config config.json');
    const out = (v.out as string | undefined) ?? O.out.default;
    const format: DataFormat = enumOption(v.format, 'format', FORMATS, O.format.default);
    if (v.data !== undefined && v.data !== '-') {
      const st = statOrNull(v.data as string);
      if (!st) throw new OpError('BAD_ARGS', `--data ${v.data}: no such file`);
      if (!st.isFile()) throw new OpError('BAD_ARGS', `--data ${v.data}: not a file (give a JSON Lines file, or - for standard input)`);
    }
    const o = tinyPreset(out);
    // every flag is checked before any file is read or the run folder made
    o.precision = enumOption<Precision>(v.precision, 'precision', PRECISIONS, o.precision);
    o.variant = enumOption<PackVariant>(v.variant, 'variant', PACK_VARIANTS, o.variant);
    o.layout = enumOption<Layout>(v.layout, 'layout', LAYOUTS, o.layout);
    o.schedule = enumOption(v.schedule, 'schedule', SCHEDULES, o.schedule);
    o.steps = intOption(v.steps, 'steps', o.steps, 1);
    o.L = intOption(v['seq-len'], 'seq-len', o.L, 2);
    o.accum = intOption(v.accum, 'accum', o.accum, 1);
    o.warmup = intOption(v.warmup, 'warmup', o.warmup, 0);
    o.seed = intOption(v.seed, 'seed', o.seed, 0);
    o.checkpointEvery = intOption(v['checkpoint-every'], 'checkpoint-every', o.checkpointEvery, 1);
    o.lr = numberOption(v.lr, 'lr', o.lr, { min: 0 });
    o.clip = numberOption(v.clip, 'clip', o.clip, { min: 0 });
    o.adamw.weightDecay = numberOption(v['weight-decay'], 'weight-decay', o.adamw.weightDecay, { min: 0 });
    if (v['decay-all']) o.adamw.decayAll = true; // decay norms and biases too (the paper's DeepSpeed AdamW)
    if (bf16AttentionOption(v.attention) === 'bf16_flash') {
      if (o.precision !== 'bf16') throw new UsageError(`--attention flash is a bf16 attention path; give it with --precision bf16 (got --precision ${o.precision})`);
      o.bf16Attention = 'bf16_flash';
    }
    const tok = getTokenizer(v.tokenizer as string | undefined);
    if (v.config) o.model = readConfigOption(v.config as string);
    checkModelFits(o.model, TRAIN_BYTES_PER_PARAM, v.config ? `--config ${v.config}` : 'the tiny preset');
    prepareOut(out, Boolean(v.resume));
    if (o.model.vocabSize < tok.vocabSize) throw new UsageError(`model vocab_size ${o.model.vocabSize} is smaller than the tokenizer's ${tok.vocabSize}`);
    if (tok.bos !== null) o.bos = tok.bos;
    else if (tok.eos !== null) o.bos = tok.eos; // Qwen: EOS as the anchor (paper Sec. 5.3)
    let skipped = false;
    const docs = await loadDocuments(v.data as string | undefined, format, tok, root, (s) => {
      skipped = true;
      console.error(s);
    });
    if (!docs.length) throw new OpError('BAD_ARGS', `--data ${v.data ?? '(the default corpus)'}: no usable document${skipped ? ' (every row was skipped, see above)' : ''}; give ${format === 'raw_json' ? 'JSON Lines rows {"text": "..."}' : 'tokenized rows {"input_ids": [...], "source": [...]}'}, or the right --format`);
    info(`train: ${docs.length} documents, ${docs.reduce((a, d) => a + d.length, 0)} tokens; model ${o.model.architecture} d=${o.model.hiddenSize} layers=${o.model.numLayers} heads=${o.model.numHeads}/${o.model.numKvHeads}; L=${o.L} ${o.precision}${o.bf16Attention ? ' (flash attention)' : ''} ${o.variant}/${o.layout}`);
    const r = train(docs, o, Boolean(v.resume), { log: info });
    const first = r.losses.slice(0, 10);
    const last = r.losses.slice(-10);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    console.log(`steps ${r.state.step}, windows ${r.windows}, tokens ${r.state.tokens}, ${r.tokensPerSecond.toFixed(0)} tokens/s`);
    console.log(`loss: first 10 steps mean ${mean(first).toFixed(4)}, last 10 steps mean ${mean(last).toFixed(4)}`);
    console.log(`wrote ${join(out, 'metrics.jsonl')}, ${join(out, 'loss.svg')}, checkpoint ${join(out, 'latest.json')}`);
    return 0;
  },
};

/** --config FILE: read, parsed and validated, with one-line errors */
function readConfigOption(path: string): TrainOptions['model'] {
  return readConfigFile(path, `--config ${path}`);
}

/**
 * --out: a folder that can be written, made now (before the data is read); a folder that
 * already holds a run is continued only with --resume, never written over.
 */
function prepareOut(out: string, resume: boolean): void {
  const st = statOrNull(out);
  if (st && !st.isDirectory()) throw new OpError('BAD_ARGS', `--out ${out}: a file, not a folder; give a folder path`);
  try {
    mkdirSync(out, { recursive: true });
    accessSync(out, constants.W_OK);
  } catch (e) {
    throw new OpError('BAD_ARGS', `--out ${out}: cannot create or write the folder: ${errnoText(e)}; give a folder you can write`);
  }
  if (!resume && existsSync(join(out, 'latest.json')))
    throw new OpError('BAD_ARGS', `--out ${out} already holds a training run (latest.json): add --resume to continue it, or give another --out`);
}

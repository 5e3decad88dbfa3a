// anchor-oracle train: train a LLaMA-family model with the reference (forward + backward
// in TypeScript), packed windows of any attention variant, AdamW, checkpoints and resume.

import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { statOrNull } from '../data/corpus.ts';
import { join } from 'node:path';
import type { Command } from './main.ts';
import { useModelBackend } from './model-backend.ts';
import { intOption, UsageError } from './main.ts';
import { loadDocuments, type DataFormat } from '../data/docs.ts';
import { ByteTokenizer, getTokenizer } from '../data/tokenizer.ts';
import { parseConfig } from '../reference/model/config.ts';
import { PRECISIONS, type Precision } from '../reference/model/precision.ts';
import { PACK_VARIANTS, type Layout, type PackVariant } from '../reference/packing.ts';
import { defaultTrainOptions, train, type TrainOptions } from '../train/trainer.ts';
import { checkModelFits, oneLine, TRAIN_BYTES_PER_PARAM } from '../train/checkpoint.ts';
import { errnoText } from '../io/lines.ts';
import { OpError } from '../io/errors.ts';

const root = new URL('..', import.meta.url).pathname;

/** the tiny preset: a 2-layer LLaMA over the byte tokenizer (vocab 267) */
export function tinyPreset(out: string): TrainOptions {
  const tok = new ByteTokenizer();
  const model = parseConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: tok.vocabSize,
    hidden_size: 64,
    intermediate_size: 176,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 4096,
    rope_parameters: { rope_theta: 10000, rope_type: 'default' },
    bos_token_id: tok.bos,
    eos_token_id: tok.eos,
    pad_token_id: tok.pad,
  });
  return { ...defaultTrainOptions(model, out), L: 128, steps: 200, lr: 3e-3, warmup: 10, checkpointEvery: 50, bos: tok.bos, tag: tok.tag(0) };
}

const num = (v: string | boolean | undefined, name: string, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
};

export const command: Command = {
  summary: 'train a tiny LLaMA-family model (reference forward/backward, AdamW, checkpoints, --resume)',
  usage:
    'anchor-oracle train --preset tiny [--out DIR] [--data FILE --format raw_json|tokenized] [--tokenizer DIR] [--config config.json]\n' +
    '    [--precision f32|bf16|f64] [--variant anchor|full|intra_doc|intra_doc_reset|anchor_tag|interleaved] [--layout flex|flash]\n' +
    '    [--steps N] [--seq-len L] [--accum N] [--lr X] [--warmup N] [--schedule cosine|constant] [--clip X] [--weight-decay X] [--decay-all]\n' +
    '    [--seed S] [--checkpoint-every N] [--resume] [--backend reference|webasm|cpu]',
  options: {
    preset: { type: 'string' },
    out: { type: 'string' },
    data: { type: 'string' },
    format: { type: 'string' },
    tokenizer: { type: 'string' },
    config: { type: 'string' },
    precision: { type: 'string' },
    variant: { type: 'string' },
    layout: { type: 'string' },
    steps: { type: 'string' },
    'seq-len': { type: 'string' },
    accum: { type: 'string' },
    lr: { type: 'string' },
    warmup: { type: 'string' },
    schedule: { type: 'string' },
    clip: { type: 'string' },
    'weight-decay': { type: 'string' },
    'decay-all': { type: 'boolean' },
    seed: { type: 'string' },
    'checkpoint-every': { type: 'string' },
    resume: { type: 'boolean' },
    backend: { type: 'string' },
  },
  async run(v) {
    useModelBackend(v.backend as string | undefined);
    if (v.preset !== undefined && v.preset !== 'tiny') throw new UsageError(`unknown preset ${JSON.stringify(v.preset)} (known: tiny)`);
    if (v.preset === undefined && v.config === undefined) throw new UsageError('give --preset tiny or --config config.json');
    const out = (v.out as string | undefined) ?? join('out', 'train-tiny');
    const format = (v.format as string | undefined) ?? 'raw_json';
    if (format !== 'raw_json' && format !== 'tokenized') throw new UsageError(`--format must be raw_json or tokenized, got ${JSON.stringify(format)}`);
    if (v.data !== undefined && v.data !== '-') {
      const st = statOrNull(v.data as string);
      if (!st) throw new OpError('BAD_ARGS', `--data ${v.data}: no such file`);
      if (!st.isFile()) throw new OpError('BAD_ARGS', `--data ${v.data}: not a file (give a JSON Lines file, or - for standard input)`);
    }
    const o = tinyPreset(out);
    const tok = getTokenizer(v.tokenizer as string | undefined);
    if (v.config) o.model = readConfigOption(v.config as string);
    checkModelFits(o.model, TRAIN_BYTES_PER_PARAM, v.config ? `--config ${v.config}` : 'the tiny preset');
    prepareOut(out, Boolean(v.resume));
    if (o.model.vocabSize < tok.vocabSize) throw new UsageError(`model vocab_size ${o.model.vocabSize} is smaller than the tokenizer's ${tok.vocabSize}`);
    if (tok.bos !== null) o.bos = tok.bos;
    else if (tok.eos !== null) o.bos = tok.eos; // Qwen: EOS as the anchor (paper Sec. 5.3)
    if (v.precision !== undefined) {
      if (!PRECISIONS.includes(v.precision as Precision)) throw new UsageError(`--precision must be one of ${PRECISIONS.join(', ')}`);
      o.precision = v.precision as Precision;
    }
    if (v.variant !== undefined) {
      if (!PACK_VARIANTS.includes(v.variant as PackVariant)) throw new UsageError(`--variant must be one of ${PACK_VARIANTS.join(', ')}`);
      o.variant = v.variant as PackVariant;
    }
    if (v.layout !== undefined) {
      if (v.layout !== 'flex' && v.layout !== 'flash') throw new UsageError('--layout must be flex or flash');
      o.layout = v.layout as Layout;
    }
    if (v.schedule !== undefined) {
      if (v.schedule !== 'cosine' && v.schedule !== 'constant') throw new UsageError('--schedule must be cosine or constant');
      o.schedule = v.schedule;
    }
    o.steps = intOption(v.steps, 'steps', o.steps, 1);
    o.L = intOption(v['seq-len'], 'seq-len', o.L, 2);
    o.accum = intOption(v.accum, 'accum', o.accum, 1);
    o.warmup = intOption(v.warmup, 'warmup', o.warmup, 0);
    o.seed = intOption(v.seed, 'seed', o.seed, 0);
    o.checkpointEvery = intOption(v['checkpoint-every'], 'checkpoint-every', o.checkpointEvery, 1);
    o.lr = num(v.lr, 'lr', o.lr);
    o.clip = num(v.clip, 'clip', o.clip);
    o.adamw.weightDecay = num(v['weight-decay'], 'weight-decay', o.adamw.weightDecay);
    if (v['decay-all']) o.adamw.decayAll = true; // decay norms and biases too (the paper's DeepSpeed AdamW)
    let skipped = false;
    const docs = await loadDocuments(v.data as string | undefined, format as DataFormat, tok, root, (s) => {
      skipped = true;
      console.error(s);
    });
    if (!docs.length) throw new OpError('BAD_ARGS', `--data ${v.data ?? '(the default corpus)'}: no usable document${skipped ? ' (every row was skipped, see above)' : ''}; give ${format === 'raw_json' ? 'JSON Lines rows {"text": "..."}' : 'tokenized rows {"input_ids": [...], "source": [...]}'}, or the right --format`);
    console.error(`train: ${docs.length} documents, ${docs.reduce((a, d) => a + d.length, 0)} tokens; model ${o.model.architecture} d=${o.model.hiddenSize} layers=${o.model.numLayers} heads=${o.model.numHeads}/${o.model.numKvHeads}; L=${o.L} ${o.precision} ${o.variant}/${o.layout}`);
    const r = train(docs, o, Boolean(v.resume));
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
  const st = statOrNull(path);
  if (!st) throw new OpError('BAD_ARGS', `--config ${path}: no such file`);
  if (!st.isFile() || st.size > 16 << 20) throw new OpError('BAD_ARGS', `--config ${path}: not a config.json file`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new OpError('BAD_ARGS', `--config ${path}: not valid JSON (${oneLine(e)})`);
  }
  try {
    return parseConfig(raw);
  } catch (e) {
    if (e instanceof OpError) throw new OpError('BAD_ARGS', `--config ${path}: ${e.message.replace(/^config\.json: /, '')}`);
    throw e;
  }
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

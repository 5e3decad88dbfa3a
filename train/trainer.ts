// The training loop: packed windows (reference/packing.ts) → forward + backward
// (reference/model) → gradient accumulation → global-norm clipping → AdamW on master
// weights, with checkpoints, JSON Lines metrics and a loss-curve SVG.
//
// Determinism: the data order is a function of (seed, step) only, master weights and
// optimizer moments are stored exactly (f32 masters as F32), and every op is pinned, so a
// run resumed from a checkpoint produces the same bits as an uninterrupted one.
// Precision: 'f32' trains in float32; 'bf16' is mixed precision (bf16 forward/backward
// from bf16 copies of f32 master weights, gradients accumulated in f32); 'f64' in float64.

import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpError } from '../io/errors.ts';
import { errnoText, writeFileAtomic, WriteError } from '../io/lines.ts';
import { linePlot } from '../io/svg-plot.ts';
import { Progress } from '../io/progress.ts';
import { packDocuments, type Layout, type PackVariant, type Window } from '../reference/packing.ts';
import { Rng } from '../reference/rng.ts';
import type { ModelConfig } from '../reference/model/config.ts';
import { modelLossGrad } from '../reference/model/backward.ts';
import { holdIn, randomInitModel, roundModel, zerosLike, type Model, type ParamValues } from '../reference/model/params.ts';
import type { Precision } from '../reference/model/precision.ts';
import type { Variant } from '../reference/masks.ts';
import { ADAMW_DEFAULTS, adamwStep, newAdamW, type AdamWConfig, type AdamWState } from './adamw.ts';
import { clipGradNorm, lrAt, type Schedule, type ScheduleKind } from './schedule.ts';
import { checkModelFits, cleanRunFolder, loadLatestCheckpoint, saveCheckpoint, TRAIN_BYTES_PER_PARAM, type CheckpointStage, type TrainerState } from './checkpoint.ts';

export interface TrainOptions {
  out: string;
  model: ModelConfig;
  precision: Precision;
  L: number;
  variant: PackVariant;
  layout: Layout;
  steps: number;
  accum: number;
  lr: number;
  warmup: number;
  schedule: ScheduleKind;
  clip: number;
  adamw: AdamWConfig;
  seed: number;
  checkpointEvery: number;
  /** BOS id (the anchor) and the domain tag id for anchor_tag */
  bos: number;
  tag?: number;
  /**
   * the bf16 attention path: absent for transformers' eager attention (the default; absent, not
   * 'bf16_eager', so a run's identity is what it was before this option), 'bf16_flash' for f32
   * logits and bf16 P (what the kernels run). Only with precision bf16.
   */
  bf16Attention?: 'bf16_flash';
}

export interface TrainHooks {
  /** stop (as if killed) after this many optimizer steps of this process, without a final checkpoint */
  stopAfter?: number;
  quiet?: boolean;
  /** called after each optimizer step (and its checkpoint, if any) */
  onStep?: (step: number, loss: number) => void;
  log?: (line: string) => void;
  /** sees each stage of writing a checkpoint (tests simulate a kill or a fault there) */
  onCheckpoint?: (stage: CheckpointStage, step: number) => void;
}

export interface TrainResult {
  model: Model;
  opt: AdamWState;
  state: TrainerState;
  losses: number[];
  tokensPerSecond: number;
  windows: number;
  stopped: boolean;
}

export const defaultTrainOptions = (model: ModelConfig, out: string): TrainOptions => ({
  out,
  model,
  precision: 'f32',
  L: 128,
  variant: 'anchor',
  layout: 'flex',
  steps: 100,
  accum: 1,
  lr: 3e-3,
  warmup: 10,
  schedule: 'cosine',
  clip: 1,
  adamw: { ...ADAMW_DEFAULTS },
  seed: 1,
  checkpointEvery: 50,
  bos: 256,
});

/** window index of micro-batch k (global): a seeded permutation per epoch */
function windowOrder(n: number, seed: number, k: number, cache: Map<number, Int32Array>): number {
  const epoch = Math.floor(k / n);
  let perm = cache.get(epoch);
  if (!perm) {
    const rng = new Rng((seed * 7919 + epoch * 104729) >>> 0);
    perm = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
    cache.clear();
    cache.set(epoch, perm);
  }
  return perm[k % n];
}

/** the options that must agree between a run and its resume */
function identity(o: TrainOptions): Record<string, unknown> {
  const { out: _out, steps: _steps, checkpointEvery: _ce, ...rest } = o;
  return JSON.parse(JSON.stringify(rest));
}

export function packWindows(docs: number[][], o: Pick<TrainOptions, 'L' | 'variant' | 'layout' | 'bos' | 'tag' | 'seed'>): Window[] {
  return packDocuments(docs, { L: o.L, variant: o.variant, layout: o.layout, bos: o.bos, tag: o.tag, seed: o.seed });
}

/** one micro-batch: a window's tokens, labels (-100 = no loss) and mask inputs */
export interface MicroBatch {
  inputIds: ArrayLike<number>;
  labels: ArrayLike<number>;
  variant: Variant;
  docIds: ArrayLike<number>;
  positions?: ArrayLike<number>;
}
export interface StepConfig {
  precision: Precision;
  /** the bf16 attention path (default bf16_eager) */
  bf16Attention?: 'bf16_eager' | 'bf16_flash';
  clip: number;
  adamw: AdamWConfig;
  schedule: Schedule;
}
export interface StepResult {
  /** mean of the micro-batches' losses */
  loss: number;
  lr: number;
  /** global gradient norm before clipping */
  gradNorm: number;
  tokens: number;
  /** the averaged, clipped gradients AdamW consumed */
  grads: Map<string, ParamValues>;
}

/**
 * One optimizer step (0-based index `step`, for the schedule) on the master weights in place:
 * forward + backward of each micro-batch (bf16: from bf16 copies of the masters), gradients
 * summed in the master dtype and averaged, global-norm clipping, AdamW.
 */
export function optimizerStep(model: Model, opt: AdamWState, step: number, batches: readonly MicroBatch[], c: StepConfig): StepResult {
  const masterRound = c.precision === 'f64' ? (x: number) => x : Math.fround;
  // float64 masters in float32 storage would have every update rounded by the container
  if (c.precision === 'f64')
    for (const [k, p] of model.params) if (!(p instanceof Float64Array)) throw new RangeError(`optimizerStep: f64 masters must be held in float64 storage (holdIn(model, 'f64')); ${k} is a ${p.constructor.name}`);
  const work = c.precision === 'f32' || c.precision === 'f64' ? model : roundModel(model, c.precision);
  // gradients summed in the masters' storage (every sum is rounded to the master dtype)
  const acc = new Map([...model.params].map(([k, v]) => [k, zerosLike(v)]));
  let lossSum = 0;
  let tokens = 0;
  for (const b of batches) {
    const r = modelLossGrad(work, b.inputIds, b.labels, { precision: c.precision, bf16Attention: c.bf16Attention, variant: b.variant, docIds: b.docIds, positions: b.positions });
    lossSum += r.loss;
    tokens += b.inputIds.length;
    for (const [k, g] of r.grads) {
      const s = acc.get(k)!;
      for (let i = 0; i < g.length; i++) s[i] = masterRound(s[i] + g[i]);
    }
  }
  const n = batches.length;
  if (n > 1) for (const g of acc.values()) for (let i = 0; i < g.length; i++) g[i] = masterRound(g[i] / n);
  const gradNorm = clipGradNorm(acc, c.clip, masterRound);
  const lr = lrAt(step, c.schedule);
  adamwStep(model.params, acc, opt, lr, c.adamw, masterRound);
  return { loss: lossSum / n, lr, gradNorm, tokens, grads: acc };
}

export function train(docs: number[][], o: TrainOptions, resume: boolean, hooks: TrainHooks = {}): TrainResult {
  const log = hooks.log ?? ((s: string) => process.stderr.write(s + '\n'));
  // refuse what cannot run before any work: a model too big for the memory, no window
  checkModelFits(o.model, TRAIN_BYTES_PER_PARAM, 'train');
  const windows = packWindows(docs, o);
  if (!windows.length) {
    const tokens = docs.reduce((a, d) => a + d.length, 0);
    throw new OpError('BAD_ARGS', `the data (${docs.length} documents, ${tokens} tokens) packs into no training window of L = ${o.L}; give more data or a smaller --seq-len`);
  }
  mkdirSync(o.out, { recursive: true });
  const masterDtype = o.precision === 'f64' ? 'f64' : 'f32';
  let model: Model;
  let opt: AdamWState;
  let state: TrainerState;
  const metricsPath = join(o.out, 'metrics.jsonl');
  if (resume) {
    // what an interrupted run left: temporary folders and files, never-published step folders
    const removed = cleanRunFolder(o.out);
    if (removed.length) log(`removed the leftovers of an interrupted run: ${removed.join(', ')}`);
  }
  const loaded = resume ? loadLatestCheckpoint(o.out) : null;
  if (loaded) {
    const want = identity(o);
    const had = loaded.state.options;
    if (JSON.stringify(want) !== JSON.stringify(had)) {
      const keys = [...new Set([...Object.keys(want), ...Object.keys(had)])].filter((k) => JSON.stringify(want[k]) !== JSON.stringify(had[k]));
      const show = (x: unknown) => (x === undefined ? 'not set' : JSON.stringify(x));
      const diff = keys.map((k) => `${k}: ${show(had[k])} in the checkpoint, ${show(want[k])} now`).join('; ');
      throw new OpError('BAD_ARGS', `--resume: the options differ from the checkpoint's (${diff}); resume with the same options, or train into a new --out`);
    }
    model = holdIn(loaded.model, masterDtype);
    opt = loaded.opt;
    state = loaded.state;
    // metrics past the checkpoint belong to the interrupted run: drop them
    // (a line cut short by a kill or a full disk is dropped too)
    const stepOf = (l: string): number => {
      try {
        const s = (JSON.parse(l) as { step?: unknown }).step;
        return typeof s === 'number' ? s : Infinity;
      } catch {
        return Infinity;
      }
    };
    const kept = existsSync(metricsPath) ? readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.trim() && stepOf(l) <= state.step) : [];
    writeFileAtomic(metricsPath, kept.map((l) => l + '\n').join(''));
    log(`resumed from ${loaded.dir} at step ${state.step}`);
  } else {
    // masters held in their dtype's storage (float32 for f32 and bf16 runs)
    model = holdIn(randomInitModel(o.model, o.seed, 'transformers'), masterDtype);
    opt = newAdamW(model.params);
    state = { step: 0, options: identity(o), losses: [], tokens: 0 };
    writeFileAtomic(metricsPath, '');
  }
  const order = new Map<number, Int32Array>();
  const progress = hooks.quiet ? null : new Progress(`train ${o.precision} ${o.variant}/${o.layout}`, o.steps);
  const t0 = Date.now();
  let tokensThisRun = 0;
  let stepsThisRun = 0;
  let stopped = false;
  while (state.step < o.steps) {
    if (hooks.stopAfter !== undefined && stepsThisRun >= hooks.stopAfter) {
      stopped = true;
      break;
    }
    const batches: MicroBatch[] = [];
    for (let a = 0; a < o.accum; a++) {
      const w = windows[windowOrder(windows.length, o.seed, state.step * o.accum + a, order)];
      batches.push({ inputIds: w.inputIds, labels: Array.from(w.targets, (t, i) => (w.lossMask[i] ? t : -100)), variant: w.maskVariant, docIds: w.docIds, positions: w.positionIds });
    }
    const schedule: Schedule = { lr: o.lr, warmup: o.warmup, total: o.steps, kind: o.schedule };
    const { loss, lr, gradNorm, tokens } = optimizerStep(model, opt, state.step, batches, { precision: o.precision, bf16Attention: o.bf16Attention, clip: o.clip, adamw: o.adamw, schedule });
    state.step++;
    state.tokens += tokens;
    state.losses.push(loss);
    tokensThisRun += tokens;
    stepsThisRun++;
    const elapsed = (Date.now() - t0) / 1000;
    const metric = JSON.stringify({ step: state.step, loss, lr, grad_norm: gradNorm, tokens: state.tokens, tokens_per_s: tokensThisRun / Math.max(elapsed, 1e-9), elapsed_s: elapsed }) + '\n';
    try {
      appendFileSync(metricsPath, metric);
    } catch (e) {
      throw new WriteError(`cannot write ${metricsPath}: ${errnoText(e)} (the last checkpoint is kept; free space and resume with --resume)`);
    }
    progress?.update(state.step);
    if (state.step % o.checkpointEvery === 0 || state.step === o.steps) {
      try {
        saveCheckpoint(o.out, model, opt, state, masterDtype, 2, hooks.onCheckpoint);
      } catch (e) {
        if (e instanceof WriteError) throw new WriteError(`checkpoint of step ${state.step}: ${e.message} (the previous checkpoint is kept; free space and run again with --resume)`);
        throw e;
      }
    }
    hooks.onStep?.(state.step, loss);
  }
  const secs = (Date.now() - t0) / 1000;
  if (!stopped) writeLossCurve(o.out, state.losses, o);
  return { model, opt, state, losses: state.losses, tokensPerSecond: tokensThisRun / Math.max(secs, 1e-9), windows: windows.length, stopped };
}

/** loss per step and its moving average, as SVG */
export function writeLossCurve(out: string, losses: number[], o: Pick<TrainOptions, 'precision' | 'variant' | 'layout' | 'L'>): string {
  const x = losses.map((_, i) => i + 1);
  const k = Math.max(1, Math.round(losses.length / 20));
  const smooth = losses.map((_, i) => {
    const s = losses.slice(Math.max(0, i - k + 1), i + 1);
    return s.reduce((a, b) => a + b, 0) / s.length;
  });
  const svg = linePlot(
    [
      { name: 'loss', x, y: losses },
      { name: `moving average (${k})`, x, y: smooth },
    ],
    { title: `training loss (${o.precision}, ${o.variant}/${o.layout}, L=${o.L})`, xLabel: 'step', yLabel: 'cross-entropy (nats/token)' },
  );
  const path = join(out, 'loss.svg');
  writeFileAtomic(path, svg);
  return path;
}

// Training checkpoints: a transformers-style model folder (config.json + model.safetensors
// holding the master weights) plus optimizer.safetensors (AdamW moments) and trainer.json
// (step, options, loss history).
//
// A checkpoint appears only complete. Its files are written (each atomically, every byte
// checked, flushed) into a temporary folder of the run folder, `.step-NNNNNN.PID.tmp/`; the
// folder is flushed and renamed to `step-NNNNNN/`, and only then is latest.json (atomically)
// pointed at it. A run killed at any moment, or stopped by a full disk, leaves the previous
// checkpoint loadable and no partial `step-*` folder; what it does leave (a `.step-*.tmp`
// folder, an orphan `.*.tmp` file, a `step-*` folder newer than latest.json) is removed
// when the run resumes (cleanRunFolder).

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { statOrNull } from '../data/corpus.ts';
import { usableMemory } from '../io/memory.ts';
import { basename, dirname, join } from 'node:path';
import { OpError, oneLine } from '../io/errors.ts';
import { writeFileAtomic } from '../io/lines.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.ts';
import { type AnyDType, type Tensor } from '../io/tensor.ts';
import { parameterCount, parameterShapes, type ModelConfig } from '../reference/model/config.ts';
import { storedValues, type Model, type ParamValues } from '../reference/model/params.ts';
import { loadModel, readConfigFile, saveModel, tensorFromValues } from './model-files.ts';
import type { AdamWState } from './adamw.ts';

export interface TrainerState {
  step: number;
  /** the options the run was started with (resume checks they agree) */
  options: Record<string, unknown>;
  losses: number[];
  tokens: number;
}

const STEP_DIR = /^step-(\d{6,})$/;
/** temporary checkpoint folders (being written, or being removed) */
const STEP_TMP = /^\.step-\d{6,}\.(\d+)\.(?:del\.)?tmp$/;
/** writeFileAtomic's temporary files: .NAME.PID.tmp */
const FILE_TMP = /^\..+\.(\d+)\.tmp$/;

export function checkpointDir(out: string, step: number): string {
  return join(out, `step-${String(step).padStart(6, '0')}`);
}

/** the step folders of a run folder, oldest first */
function stepDirs(out: string): { name: string; step: number }[] {
  let names: string[];
  try {
    names = readdirSync(out);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, m: STEP_DIR.exec(name) }))
    .filter((e) => e.m)
    .map((e) => ({ name: e.name, step: Number(e.m![1]) }))
    .sort((a, b) => a.step - b.step);
}

/** flush a folder's entries (a rename is durable only once its folder is flushed) */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    // some file systems cannot fsync a folder: the data files themselves are flushed
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP') throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** remove a folder so that no half-removed folder is left under its name: rename it away first */
function removeDir(out: string, name: string): void {
  const gone = join(out, `.${name}.${process.pid}.del.tmp`);
  renameSync(join(out, name), gone);
  rmSync(gone, { recursive: true, force: true });
}

/** where saveCheckpoint is; a test hook (a simulated kill or fault) sees each stage */
export type CheckpointStage = 'model' | 'optimizer' | 'trainer' | 'renamed' | 'latest';

export function saveCheckpoint(
  out: string,
  model: Model,
  opt: AdamWState,
  state: TrainerState,
  dtype: AnyDType,
  keep = 2,
  onStage?: (stage: CheckpointStage, step: number) => void,
): string {
  const dir = checkpointDir(out, state.step);
  const name = basename(dir);
  const tmp = join(out, `.${name}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    saveModel(tmp, model, dtype);
    onStage?.('model', state.step);
    const list: [string, Tensor<AnyDType>][] = [];
    for (const [pname, shape] of parameterShapes(model.config)) {
      list.push([`exp_avg.${pname}`, tensorFromValues(opt.m.get(pname)!, dtype, shape)]);
      list.push([`exp_avg_sq.${pname}`, tensorFromValues(opt.v.get(pname)!, dtype, shape)]);
    }
    writeSafetensorsFile(join(tmp, 'optimizer.safetensors'), list, { step: String(opt.step) });
    onStage?.('optimizer', state.step);
    writeFileAtomic(join(tmp, 'trainer.json'), JSON.stringify(state) + '\n');
    onStage?.('trainer', state.step);
    fsyncDir(tmp);
    // a folder of this step already there is not the one latest.json names (cleanRunFolder
    // removes those on resume) or belongs to an earlier run written over: replace it
    if (existsSync(dir)) removeDir(out, name);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fsyncDir(out);
  onStage?.('renamed', state.step);
  writeFileAtomic(join(out, 'latest.json'), JSON.stringify({ step: state.step, dir: name }) + '\n');
  fsyncDir(out);
  onStage?.('latest', state.step);
  // keep the newest `keep` checkpoints up to this one (a folder of a later step is an
  // earlier run's, written over: left alone)
  const older = stepDirs(out).filter((d) => d.step < state.step);
  for (const d of older.slice(0, Math.max(0, older.length - (keep - 1)))) removeDir(out, d.name);
  return dir;
}

const alive = (pid: number): boolean => {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Remove what an interrupted run left in its run folder: temporary checkpoint folders and
 * temporary files of processes no longer running, and step folders newer than the one
 * latest.json names (written, but never made the latest). Returns what it removed.
 */
export function cleanRunFolder(out: string): string[] {
  if (!existsSync(out)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(out)) {
    const m = STEP_TMP.exec(name) ?? FILE_TMP.exec(name);
    if (m && !alive(Number(m[1]))) {
      rmSync(join(out, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  const latest = readLatest(out);
  if (latest)
    for (const d of stepDirs(out))
      if (d.step > latest.step) {
        removeDir(out, d.name);
        removed.push(d.name);
      }
  return removed;
}

/** latest.json of a run folder, checked, or null when there is none */
function readLatest(out: string): { step: number; dir: string } | null {
  const p = join(out, 'latest.json');
  if (!existsSync(p)) return null;
  let v: { step?: unknown; dir?: unknown };
  try {
    v = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new OpError('BAD_ARGS', `run folder ${out}: latest.json is not valid JSON (${oneLine(e)}); point it at a step folder ({"step": N, "dir": "step-00000N"}) or remove it`);
  }
  const m = typeof v?.dir === 'string' ? STEP_DIR.exec(v.dir) : null;
  if (!m) throw new OpError('BAD_ARGS', `run folder ${out}: latest.json does not name a step-NNNNNN folder; point it at one or remove it`);
  return { step: Number(m[1]), dir: v.dir as string };
}

export interface Loaded {
  model: Model;
  opt: AdamWState;
  state: TrainerState;
  dir: string;
}

/** the checkpoint latest.json names in a run folder, or null when there is no latest.json */
export function loadLatestCheckpoint(out: string): Loaded | null {
  const latest = readLatest(out);
  if (!latest) return null;
  const dir = join(out, latest.dir);
  if (!existsSync(dir)) throw new OpError('BAD_ARGS', `run folder ${out}: latest.json names ${latest.dir}, which is missing; point latest.json at a step folder that is there, or remove it to start over`);
  return loadCheckpoint(dir);
}

export function loadCheckpoint(dir: string): Loaded {
  const model = loadModelChecked(dir, 'checkpoint', TRAIN_BYTES_PER_PARAM);
  const optPath = join(dir, 'optimizer.safetensors');
  if (!existsSync(optPath)) throw new OpError('BAD_ARGS', `checkpoint ${dir}: no optimizer.safetensors (a model folder, not a training checkpoint)`);
  const f = readSafetensorsFile(optPath);
  // the moments are held like the masters, in their dtype's storage
  const m = new Map<string, ParamValues>();
  const v = new Map<string, ParamValues>();
  for (const [name, shape] of parameterShapes(model.config)) {
    const a = f.tensors.get(`exp_avg.${name}`);
    const b = f.tensors.get(`exp_avg_sq.${name}`);
    if (!a || !b) throw new OpError('BAD_TENSOR', `checkpoint ${dir}: optimizer.safetensors lacks the moments of ${name}`);
    if (a.shape.join() !== shape.join() || b.shape.join() !== shape.join()) throw new OpError('BAD_TENSOR', `checkpoint ${dir}: optimizer.safetensors has the moments of ${name} in shape [${a.shape}], the model's is [${shape}]`);
    m.set(name, storedValues(a));
    v.set(name, storedValues(b));
  }
  const step = Number(f.metadata.step);
  if (!Number.isSafeInteger(step)) throw new OpError('BAD_TENSOR', `checkpoint ${dir}: optimizer.safetensors has no step`);
  const tp = join(dir, 'trainer.json');
  if (!existsSync(tp)) throw new OpError('BAD_ARGS', `checkpoint ${dir}: no trainer.json`);
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(tp, 'utf8')) as TrainerState;
  } catch (e) {
    throw new OpError('BAD_ARGS', `checkpoint ${dir}: trainer.json is not valid JSON (${oneLine(e)})`);
  }
  if (typeof state !== 'object' || state === null || !Number.isSafeInteger(state.step) || !Array.isArray(state.losses) || typeof state.options !== 'object')
    throw new OpError('BAD_ARGS', `checkpoint ${dir}: trainer.json lacks step, options or losses`);
  return { model, opt: { step, m, v }, state, dir };
}

// ---- checkpoint folders given on the command line, and what a config costs ----

/**
 * The model folder for a --checkpoint argument: a folder with config.json (a model or a
 * step folder), a training run folder (latest.json names its newest step folder), or a
 * config.json / model.safetensors file (its folder). Anything else is an OpError saying
 * which folder to pass.
 */
export function resolveCheckpointDir(path: string, flag = '--checkpoint'): string {
  const st = statOrNull(path);
  if (!st) throw new OpError('BAD_ARGS', `${flag} ${path}: no such folder (give a folder with config.json and model.safetensors, or a train run folder)`);
  if (st.isFile()) {
    if (basename(path) === 'config.json' || basename(path) === 'model.safetensors') return dirname(path);
    throw new OpError('BAD_ARGS', `${flag} ${path}: a file; give the folder holding config.json and model.safetensors`);
  }
  if (!st.isDirectory()) throw new OpError('BAD_ARGS', `${flag} ${path}: not a folder`);
  if (existsSync(join(path, 'config.json'))) return path;
  const latest = readLatest(path);
  if (latest) {
    const dir = join(path, latest.dir);
    if (!existsSync(join(dir, 'config.json'))) throw new OpError('BAD_ARGS', `${flag} ${path}: latest.json names ${latest.dir}, which has no config.json; pass a complete step folder`);
    return dir;
  }
  const steps = stepDirs(path);
  if (steps.length) throw new OpError('BAD_ARGS', `${flag} ${path}: a run folder without latest.json; pass one of its step folders, e.g. ${join(path, steps[steps.length - 1].name)}`);
  throw new OpError('BAD_ARGS', `${flag} ${path}: no config.json (a model folder) and no latest.json (a train run folder)`);
}

/**
 * working bytes per parameter, at the least: training holds float32 masters (4), two float32
 * AdamW moments (8), the float32 gradient sums (4) and one micro-batch's gradients (4 where
 * they are in float32 storage, as the kernel Backend's weight gradients are; 8 in float64);
 * bf16 adds its 4-byte work copy, f64 doubles the masters, moments and sums
 */
export const TRAIN_BYTES_PER_PARAM = 20;
/** evaluation holds the weights in float32 storage (4), the file's copy (≥ 2) and the policy-rounded copy (4) */
export const EVAL_BYTES_PER_PARAM = 10;

const gib = (b: number) => `${(b / 2 ** 30).toPrecision(3)} GiB`;

/**
 * Refuse (OpError, before anything is allocated) a config whose parameters cannot fit in
 * this machine's memory, at `bytesPerParam` working bytes each.
 */
export function checkModelFits(c: ModelConfig, bytesPerParam: number, what: string, mem = usableMemory()): void {
  const n = parameterCount(c);
  const need = n * bytesPerParam;
  if (!(need <= mem))
    throw new OpError(
      'BAD_ARGS',
      `${what}: the config implies ${n.toPrecision(3)} parameters (vocab ${c.vocabSize}, hidden ${c.hiddenSize}, ${c.numLayers} layers), at least ${gib(need)} of working memory, more than this machine's ${gib(mem)}; use a smaller config`,
    );
}

/** config.json of a model folder, parsed and checked against the machine's memory */
export function readCheckedConfig(dir: string, bytesPerParam: number, what = `checkpoint ${dir}`): ModelConfig {
  const c = readConfigFile(join(dir, 'config.json'), `${what}: config.json`);
  checkModelFits(c, bytesPerParam, what);
  return c;
}

/** loadModel after the config is checked against the machine's memory */
export function loadModelChecked(dir: string, what: string, bytesPerParam = EVAL_BYTES_PER_PARAM): Model {
  readCheckedConfig(dir, bytesPerParam, `${what} ${dir}`);
  return loadModel(dir);
}

/**
 * Refuse (OpError) a forward pass of T tokens whose working arrays cannot fit in memory:
 * float64 logits (T × vocab), one head's attention scores and probabilities (T × T) and
 * the MLP / hidden activations of a layer, at the least.
 */
export function checkForwardFits(c: ModelConfig, T: number, what: string, mem = usableMemory()): void {
  const need = 8 * T * (c.vocabSize + 2 * T + 4 * c.intermediateSize + 8 * c.hiddenSize);
  if (!(need <= mem)) throw new OpError('BAD_ARGS', `${what}: a forward pass of ${T} tokens needs at least ${gib(need)} of working memory, more than this machine's ${gib(mem)}; use shorter lengths`);
}

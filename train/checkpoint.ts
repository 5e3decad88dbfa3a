// Training checkpoints: a transformers-style model folder (config.json + model.safetensors
// holding the master weights) plus optimizer.safetensors (AdamW moments) and trainer.json
// (step, options, loss history). Every file is written atomically into step-NNNNNN/, and
// latest.json (written last, atomically) names the newest complete checkpoint, so a run
// killed at any moment resumes from a consistent state.

import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { OpError } from '../io/errors.ts';
import { writeFileAtomic } from '../io/lines.ts';
import { readSafetensorsFile, stFromValues, stValues, writeSafetensorsFile, type StDType, type StTensor } from '../io/safetensors.ts';
import { parameterShapes } from '../reference/model/config.ts';
import { loadModel, saveModel, type Model } from '../reference/model/params.ts';
import type { AdamWState } from './adamw.ts';

export interface TrainerState {
  step: number;
  /** the options the run was started with (resume checks they agree) */
  options: Record<string, unknown>;
  losses: number[];
  tokens: number;
}

export function checkpointDir(out: string, step: number): string {
  return join(out, `step-${String(step).padStart(6, '0')}`);
}

export function saveCheckpoint(out: string, model: Model, opt: AdamWState, state: TrainerState, dtype: StDType, keep = 2): string {
  const dir = checkpointDir(out, state.step);
  saveModel(dir, model, dtype);
  const list: [string, StTensor][] = [];
  for (const [name, shape] of parameterShapes(model.config)) {
    list.push([`exp_avg.${name}`, stFromValues(opt.m.get(name)!, dtype, shape)]);
    list.push([`exp_avg_sq.${name}`, stFromValues(opt.v.get(name)!, dtype, shape)]);
  }
  writeSafetensorsFile(join(dir, 'optimizer.safetensors'), list, { step: String(opt.step) });
  writeFileAtomic(join(dir, 'trainer.json'), JSON.stringify(state) + '\n');
  writeFileAtomic(join(out, 'latest.json'), JSON.stringify({ step: state.step, dir: dir.slice(out.length + 1) }) + '\n');
  // keep the newest `keep` checkpoints
  const all = readdirSync(out).filter((n) => /^step-\d{6}$/.test(n)).sort();
  for (const n of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(out, n), { recursive: true, force: true });
  return dir;
}

export interface Loaded {
  model: Model;
  opt: AdamWState;
  state: TrainerState;
  dir: string;
}

/** the newest complete checkpoint of a run folder, or null */
export function loadLatestCheckpoint(out: string): Loaded | null {
  const p = join(out, 'latest.json');
  if (!existsSync(p)) return null;
  const { dir } = JSON.parse(readFileSync(p, 'utf8')) as { dir: string };
  return loadCheckpoint(join(out, dir));
}

export function loadCheckpoint(dir: string): Loaded {
  const model = loadModel(dir);
  const f = readSafetensorsFile(join(dir, 'optimizer.safetensors'));
  const m = new Map<string, Float64Array>();
  const v = new Map<string, Float64Array>();
  for (const [name] of parameterShapes(model.config)) {
    const a = f.tensors.get(`exp_avg.${name}`);
    const b = f.tensors.get(`exp_avg_sq.${name}`);
    if (!a || !b) throw new OpError('BAD_TENSOR', `checkpoint ${dir}: optimizer.safetensors lacks the moments of ${name}`);
    m.set(name, stValues(a));
    v.set(name, stValues(b));
  }
  const step = Number(f.metadata.step);
  if (!Number.isSafeInteger(step)) throw new OpError('BAD_TENSOR', `checkpoint ${dir}: optimizer.safetensors has no step`);
  const state = JSON.parse(readFileSync(join(dir, 'trainer.json'), 'utf8')) as TrainerState;
  return { model, opt: { step, m, v }, state, dir };
}

// Registration of the model.* ops (SPEC.md, "model"): the LLaMA-family reference run from
// a transformers-style checkpoint folder.

import { bf16ValuesToBits } from '../io/bf16-codec.ts';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { OpError } from '../io/errors.ts';
import { packageRoot } from '../io/package-root.ts';
import { alloc, intValues, type Tensor, elementValue } from '../io/tensor.ts';
import { VARIANTS, type Variant } from '../reference/masks.ts';
import { modelForward, modelLossGrad, parameterShapes, roundModel, PRECISIONS, type Model, type Precision } from '../reference/model/index.ts';
import { loadModelChecked, resolveCheckpointDir } from '../train/checkpoint.ts';
import { Rng } from '../reference/rng.ts';
import { type ArgSpec, type GenCase, type Tolerance, registerOp } from './registry.ts';

/** the shipped tiny checkpoints the generated cases run (checkpoints/, relative to the package root) */
const CHECKPOINTS = ['llama', 'llama_linear_intra_doc', 'mistral_anchor', 'qwen2_tied_reset'].map((n) => `checkpoints/${n}`);

export const modelArgs: Record<string, ArgSpec> = {
  checkpoint: { type: 'string', required: true, doc: 'folder with a transformers config.json + model.safetensors, or a train run folder (its newest step); relative paths: the working directory, then the package root (its shipped checkpoints/: llama, llama_linear_intra_doc, mistral_anchor, qwen2_tied_reset, drift_peaked)' },
  precision: { type: 'string', enum: PRECISIONS, default: 'f32', doc: 'f64 (true float64), f32, bf16 (transformers opmath semantics)' },
  variant: { type: 'string', enum: VARIANTS, default: 'full', doc: 'attention mask variant' },
};

const cache = new Map<string, { mtime: number; model: Model; rounded: Map<Precision, Model> }>();
function resolveCheckpoint(p: string): string {
  if (isAbsolute(p) || existsSync(p)) return p;
  const q = join(packageRoot, p);
  return existsSync(q) ? q : p;
}
/** a checkpoint's model rounded to a precision's weight dtype (cached per folder and file time) */
export function modelFor(path: string, prec: Precision): Model {
  // a train run folder resolves to its newest step, as on the command line
  const dir = resolveCheckpointDir(resolveCheckpoint(path), 'checkpoint');
  const st = join(dir, 'model.safetensors');
  const mtime = existsSync(st) ? statSync(st).mtimeMs : -1;
  let e = cache.get(dir);
  if (!e || e.mtime !== mtime) {
    e = { mtime, model: loadModelChecked(dir, 'checkpoint'), rounded: new Map() };
    cache.set(dir, e);
  }
  let m = e.rounded.get(prec);
  if (!m) {
    m = roundModel(e.model, prec);
    e.rounded.set(prec, m);
  }
  return m;
}

export function ids(t: Tensor, where: string, V?: number): number[] {
  const v = intValues(t, where);
  if (V !== undefined) v.forEach((x, i) => {
    if (x < 0 || x >= V) throw new OpError('BAD_TENSOR', `${where}[${i}] = ${x} is outside the vocabulary [0, ${V})`);
  });
  return v;
}

/** per tensor: max|got − want| ≤ k·max|want| (a norm-relative rule: summation order differs between implementations) */
function normRelative(k: number, why: string): Tolerance {
  return {
    kind: 'custom',
    describe: `max|got − want| ≤ ${k}·max|want| over the tensor (${why})`,
    check(got, want) {
      const w = want.data as ArrayLike<number>;
      let scale = 0;
      for (let i = 0; i < w.length; i++) scale = Math.max(scale, Math.abs(toNum(want, i)));
      const bad: number[] = [];
      for (let i = 0; i < w.length && bad.length < 20; i++) {
        const a = toNum(got, i);
        const b = toNum(want, i);
        if (!(Math.abs(a - b) <= k * scale) && !(Number.isNaN(a) && Number.isNaN(b))) bad.push(i);
      }
      return bad;
    },
  };
}
const toNum = (t: Tensor, i: number): number => elementValue(t, i);

const K: Record<Precision, number> = { f64: 1e-9, f32: 1e-4, bf16: 5e-2 };
const WHY: Record<Precision, string> = {
  f64: 'float64 with any summation order',
  f32: 'float32; about 1000× the measured transformers-vs-reference difference',
  bf16: 'bf16 activations; a few bf16 ulps (2^-8) of the tensor scale',
};

function genCases(n: number, seed: number, withLabels: boolean): GenCase[] {
  const rng = new Rng(seed);
  const out: GenCase[] = [];
  const count = Math.max(n, CHECKPOINTS.length * 3);
  for (let c = 0; c < count; c++) {
    const checkpoint = CHECKPOINTS[c % CHECKPOINTS.length];
    const precision = PRECISIONS[Math.floor(c / CHECKPOINTS.length) % PRECISIONS.length];
    const variant = VARIANTS[rng.int(0, VARIANTS.length - 1)];
    const L = rng.int(4, 24);
    const V = 48;
    const input = alloc('i32', [L]);
    for (let i = 0; i < L; i++) input.data[i] = rng.int(0, V - 1);
    const docs = alloc('i32', [L]);
    let d = variant === 'anchor' ? 0 : 1;
    for (let i = 0; i < L; i++) {
      if (i > 0 && rng.float() < 0.25) d++;
      docs.data[i] = d;
    }
    const inputs: Record<string, Tensor> = { input_ids: input, doc_ids: docs };
    if (withLabels) {
      const labels = alloc('i32', [L]);
      for (let i = 0; i < L; i++) labels.data[i] = rng.float() < 0.1 ? -100 : rng.int(0, V - 1);
      inputs.labels = labels;
    }
    out.push({ id: `${checkpoint.split('/').pop()}/${precision}/${variant}/L${L}`, args: { checkpoint, precision, variant }, in: inputs });
  }
  return out;
}

registerOp({
  name: 'model.forward',
  summary: 'logits of a LLaMA / Mistral / Qwen2 checkpoint under a precision policy and mask variant',
  args: modelArgs,
  inputs: [
    { name: 'input_ids', dtypes: ['i32', 'i64'], shape: ['L'], doc: 'token ids' },
    { name: 'doc_ids', dtypes: ['i32', 'i64'], shape: ['L'], optional: true, doc: 'document ids for the mask (default all 0)' },
  ],
  outputs: [{ name: 'logits', dtypes: ['f32'], shape: ['L', 'V'], doc: 'logits (f32 values of the policy dtype)' }],
  validate(args, inp) {
    ids(inp.input_ids, 'input_ids', modelFor(args.checkpoint, args.precision).config.vocabSize);
  },
  run(args, inp) {
    const m = modelFor(args.checkpoint, args.precision);
    const x = ids(inp.input_ids, 'input_ids', m.config.vocabSize);
    if (!x.length) throw new OpError('BAD_TENSOR', 'model.forward: input_ids is empty');
    const f = modelForward(m, x, { precision: args.precision, variant: args.variant as Variant, docIds: inp.doc_ids ? ids(inp.doc_ids, 'doc_ids') : undefined, keepActivations: false });
    const logits = alloc('f32', [f.T, f.V]);
    logits.data.set(f.logits);
    return { logits };
  },
  contract: (args) => ({ logits: normRelative(K[args.precision as Precision], WHY[args.precision as Precision]) }),
  generate: (o) => genCases(o.n, o.seed, false),
});

registerOp({
  name: 'model.loss_grad',
  summary: 'mean cross-entropy (labels -100 ignored) and the gradient of every parameter',
  args: modelArgs,
  inputs: [
    { name: 'input_ids', dtypes: ['i32', 'i64'], shape: ['L'], doc: 'token ids' },
    { name: 'labels', dtypes: ['i32', 'i64'], shape: ['L'], doc: 'target id per position, aligned with the logits (no shift); -100 = ignored' },
    { name: 'doc_ids', dtypes: ['i32', 'i64'], shape: ['L'], optional: true, doc: 'document ids for the mask (default all 0)' },
  ],
  outputs: [
    { name: 'loss', dtypes: ['f64'], shape: [], doc: 'mean loss' },
    { name: 'grad.<parameter>', dtypes: ['f64', 'f32', 'bf16'], doc: 'one per parameter, named and shaped as in the checkpoint; f64 / f32 / bf16 by precision' },
  ],
  validate(args, inp) {
    ids(inp.input_ids, 'input_ids', modelFor(args.checkpoint, args.precision).config.vocabSize);
  },
  run(args, inp) {
    const m = modelFor(args.checkpoint, args.precision);
    const x = ids(inp.input_ids, 'input_ids', m.config.vocabSize);
    const y = intValues(inp.labels, 'labels');
    y.forEach((v, i) => {
      if (v !== -100 && (v < 0 || v >= m.config.vocabSize)) throw new OpError('BAD_TENSOR', `labels[${i}] = ${v} is neither -100 nor inside the vocabulary [0, ${m.config.vocabSize})`);
    });
    if (!x.length) throw new OpError('BAD_TENSOR', 'model.loss_grad: input_ids is empty');
    const r = modelLossGrad(m, x, y, { precision: args.precision, variant: args.variant as Variant, docIds: inp.doc_ids ? ids(inp.doc_ids, 'doc_ids') : undefined });
    const loss = alloc('f64', []);
    loss.data[0] = r.loss;
    const out: Record<string, Tensor> = { loss };
    const dt = args.precision === 'f64' ? 'f64' : args.precision === 'f32' ? 'f32' : 'bf16';
    for (const [name, shape] of parameterShapes(m.config)) {
      const g = r.grads.get(name)!;
      const t = alloc(dt, shape);
      if (dt === 'bf16') bf16ValuesToBits(g, t.data as Uint16Array); // already bf16 values: exact
      else t.data.set(g);
      out[`grad.${name}`] = t;
    }
    return out;
  },
  contract(args) {
    const p = args.precision as Precision;
    const rule = normRelative(K[p] * (p === 'f64' ? 1 : 3), WHY[p] + '; gradients 3× (flash-attn convention) except f64');
    const out: Record<string, Tolerance> = { loss: normRelative(K[p], WHY[p]) };
    for (const [name] of parameterShapes(modelFor(args.checkpoint, 'f64').config)) out[`grad.${name}`] = rule;
    return out;
  },
  generate: (o) => genCases(o.n, o.seed, true),
});

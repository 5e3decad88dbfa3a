// Registration of drift.shift and drift.logit (SPEC.md, "drift"): the paper's Eq. 4 and Eq. 5
// on a checkpoint, as the conformance format names them.

import { OpError } from '../io/errors.ts';
import { alloc, floatValues, intValues, type Tensor } from '../io/tensor.ts';
import { logitDeviation, shiftDeviation, type DriftRun } from '../reference/drift.ts';
import type { Variant } from '../reference/masks.ts';
import type { Precision } from '../reference/model/precision.ts';
import { Rng } from '../reference/rng.ts';
import { ids, modelArgs, modelFor } from './model.ops.ts';
import { type ArgSpec, type GenCase, type Tolerance, registerOp } from './registry.ts';

const driftArgs: Record<string, ArgSpec> = {
  ...modelArgs,
  delta1: { type: 'integer', required: true, min: 0, doc: 'first position offset Δ1: positions [Δ1, Δ1+T)' },
  delta2: { type: 'integer', default: 16, min: 0, doc: 'second position offset Δ2 (the paper uses 16)' },
  path: { type: 'string', enum: ['f64', 'f32', 'hf', 'paper'], doc: "RoPE path override (default: the precision's: f64, f32, hf)" },
  inv_freq_dtype: { type: 'string', enum: ['f32', 'bf16'], default: 'f32', doc: 'bf16: the DeepSpeed buffer cast of inv_freq' },
};
const inputs = [
  { name: 'input_ids', dtypes: ['i32', 'i64'] as const, shape: ['N', 'T'], doc: 'N token sequences of one length T' },
  { name: 'doc_ids', dtypes: ['i32', 'i64'] as const, shape: ['T'], optional: true, doc: 'document ids of the window for the mask variant (default all 0)' },
];

function setup(args: Record<string, any>, inp: Record<string, Tensor>) {
  const precision = args.precision as Precision;
  const m = modelFor(args.checkpoint, precision);
  const [N, T] = inp.input_ids.shape;
  if (N < 1 || T < 1) throw new OpError('BAD_TENSOR', `drift: input_ids must be [N, T] with N, T ≥ 1, got [${inp.input_ids.shape}]`);
  const flat = ids(inp.input_ids, 'input_ids', m.config.vocabSize);
  const seqs = Array.from({ length: N }, (_, n) => flat.slice(n * T, (n + 1) * T));
  const run: DriftRun = {
    precision,
    variant: args.variant as Variant,
    docIds: inp.doc_ids ? intValues(inp.doc_ids, 'doc_ids') : undefined,
    ropePath: args.path,
    invFreqDtype: args.inv_freq_dtype,
  };
  return { m, seqs, run, T };
}

const scalar = (x: number) => {
  const t = alloc('f64', []);
  t.data[0] = x;
  return t;
};
const vector = (xs: ArrayLike<number>, shape: number[]) => {
  const t = alloc('f64', shape);
  t.data.set(Array.from(xs));
  return t;
};

/** got within a factor k of want and on its side of zero (want = 0: |got| ≤ 1e-15) */
function withinFactor(k: number, why: string): Tolerance {
  return {
    kind: 'custom',
    describe: `${1 / k} ≤ got/want ≤ ${k} (${why})`,
    check(got, want) {
      const g = floatValues(got);
      const w = floatValues(want);
      const bad: { i: number; error: number; bound: number }[] = [];
      for (let i = 0; i < w.length; i++) {
        if (w[i] === 0) {
          if (!(Math.abs(g[i]) <= 1e-15)) bad.push({ i, error: Math.abs(g[i]), bound: 1e-15 });
          continue;
        }
        const r = g[i] / w[i];
        // the error is the factor between them (Infinity on the other side of zero)
        if (!(r >= 1 / k && r <= k)) bad.push({ i, error: r > 0 ? Math.max(r, 1 / r) : Infinity, bound: k });
      }
      return bad;
    },
  };
}

/** the drift contract: see SPEC.md, "drift" */
function contract(names: string[], precision: Precision): Record<string, Tolerance> {
  const tol: Tolerance =
    precision === 'f64'
      ? { kind: 'abs_rel', atol: 1e-9, rtol: 0, why: 'f64: the deviation is rounding noise, below the derived 1e-9 bound' }
      : precision === 'bf16'
        ? { kind: 'abs_rel', atol: 1e-15, rtol: 1e-9, why: "bf16: attention scores bit-identical to the reference pipeline (transformers' bf16 eager reproduces them); only the metric's sums may differ in order" }
        : withinFactor(10, 'f32: the metric measures f32 rounding noise; implementations agree in magnitude, not in value');
  return Object.fromEntries(names.map((n) => [n, tol]));
}

/** the shipped tiny checkpoints the generated cases run (checkpoints/, relative to the package root) */
const CHECKPOINTS = ['checkpoints/drift_peaked', 'checkpoints/llama', 'checkpoints/mistral_anchor'];
function genCases(n: number, seed: number): GenCase[] {
  const rng = new Rng(seed);
  const out: GenCase[] = [];
  const precisions: Precision[] = ['bf16', 'f32', 'f64'];
  const count = Math.max(n, CHECKPOINTS.length * precisions.length);
  for (let c = 0; c < count; c++) {
    const checkpoint = CHECKPOINTS[c % CHECKPOINTS.length];
    const precision = precisions[Math.floor(c / CHECKPOINTS.length) % precisions.length];
    const V = modelFor(checkpoint, 'f64').config.vocabSize;
    const N = rng.int(1, 2);
    const T = rng.int(6, 20);
    const x = alloc('i32', [N, T]);
    for (let i = 0; i < N * T; i++) x.data[i] = rng.int(0, V - 1);
    const delta1 = rng.pick([0, 2, 15, 100, 2000]);
    out.push({ id: `${checkpoint.split('/').pop()}/${precision}/d${delta1}/N${N}T${T}`, args: { checkpoint, precision, delta1, delta2: 16 }, in: { input_ids: x } });
  }
  return out;
}

registerOp({
  name: 'drift.shift',
  summary: "the paper's Eq. 4: attention-score deviation between positions [Δ1, Δ1+T) and [Δ2, Δ2+T), summed over layers and heads",
  args: driftArgs,
  inputs,
  outputs: [
    { name: 'D', dtypes: ['f64'], shape: [], doc: 'Eq. 4, mean over the N sequences' },
    { name: 'per_token', dtypes: ['f64'], shape: ['T'], doc: 'n_j Σ_i |ΔATTN_ij| per key token j, summed over layers and heads, mean over sequences' },
  ],
  validate: (args, inp) => void setup(args, inp),
  run(args, inp) {
    const { m, seqs, run, T } = setup(args, inp);
    const r = shiftDeviation(m, seqs, args.delta1, args.delta2, run);
    return { D: scalar(r.D), per_token: vector(r.perToken, [T]) };
  },
  contract: (args) => contract(['D', 'per_token'], args.precision),
  generate: (o) => genCases(o.n, o.seed),
});

registerOp({
  name: 'drift.logit',
  summary: "the paper's Eq. 5: mean |logit(query i, first key)| change between the two offsets, summed over layers and heads",
  args: driftArgs,
  inputs,
  outputs: [
    { name: 'D_logit', dtypes: ['f64'], shape: [], doc: 'Eq. 5, mean over the N sequences' },
    { name: 'per_layer_head', dtypes: ['f64'], shape: ['layers', 'heads'], doc: '(1/T) Σ_i |ΔA_i1| per layer and query head' },
  ],
  validate: (args, inp) => void setup(args, inp),
  run(args, inp) {
    const { m, seqs, run } = setup(args, inp);
    const r = logitDeviation(m, seqs, args.delta1, args.delta2, run);
    return { D_logit: scalar(r.D_logit), per_layer_head: vector(r.perLayerHead, [m.config.numLayers, m.config.numHeads]) };
  },
  contract: (args) => contract(['D_logit', 'per_layer_head'], args.precision),
  generate: (o) => genCases(o.n, o.seed + 1),
});

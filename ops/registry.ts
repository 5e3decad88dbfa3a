// The op registry: one registration per op feeds eval, gen, verify, the library API
// and the kernel tests. An op declares its argument schema, its input and output
// tensors (dtype and named dimensions), its reference function, its contract
// (how verify compares each output) and its case generator.

import { OpError } from '../io/errors.ts';
import { type DType, type Tensor } from '../io/tensor.ts';
import type { CheckResult } from './compare.ts';

// ------------------------------------------------------------------ arguments
export interface ArgSpec {
  type: 'number' | 'integer' | 'string' | 'boolean' | 'object';
  doc: string;
  enum?: readonly (string | number)[];
  default?: unknown;
  required?: boolean;
  min?: number;
  max?: number;
}
// Arguments after validation: defaults applied, types checked.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Args = Record<string, any>;

// ------------------------------------------------------------------ tensors
export interface TensorSpec {
  name: string;
  dtypes: readonly DType[];
  /** dimension names (bound across all tensors of a case) or fixed sizes; omit for "any shape" */
  shape?: readonly (string | number)[];
  optional?: boolean;
  /** elementwise ops: this input must have exactly the shape of the named input */
  sameShapeAs?: string;
  doc: string;
}

// ------------------------------------------------------------------ contracts
export type Tolerance =
  /** bit for bit; NaNs match any NaN unless strict NaN checking is asked for */
  | { kind: 'exact' }
  /** at most `max` steps apart in the dtype's ordered bit patterns (f32/bf16/f64) */
  | { kind: 'ulp'; max: number; why: string }
  /** |got − want| ≤ atol + rtol·|want| */
  | { kind: 'abs_rel'; atol: number; rtol: number; why: string }
  /** an op-specific rule (e.g. flash-attn's 2× rule); returns the offending element indices */
  | { kind: 'custom'; describe: string; check: (got: Tensor, want: Tensor, ctx: CaseContext) => CheckResult };

export interface CaseContext {
  args: Args;
  inputs: Record<string, Tensor>;
  expected: Record<string, Tensor>;
  /** RowSampling.evidence of these inputs, when it was computed already */
  evidence?: Record<string, Tensor>;
}

// ------------------------------------------------------------------ cases
export interface GenOptions {
  n: number;
  seed: number;
  level: 1 | 2;
}
export interface GenCase {
  id: string;
  args: Args;
  in: Record<string, Tensor>;
}

/**
 * Ops whose outputs are computed per query row (attention.forward): an optional input names
 * the rows to compute, and verify --sample-rows checks a full-size result on some rows only.
 */
export interface RowSampling {
  /** the optional input tensor holding row indices ("rows") */
  input: string;
  /** the dimension name the rows index ("L") */
  dim: string;
  /** per output: the axis the rows index */
  axes: Record<string, number>;
  /** the number of rows of a full case */
  count(inputs: Record<string, Tensor>): number;
  /** rows every sample includes */
  required(args: Args, inputs: Record<string, Tensor>): number[];
  /**
   * what the contract checks need beyond the expected outputs (the f64 reference, per-row
   * bounds), for the rows of `inputs`: computed with them, possibly in another thread, and
   * handed to the checks as CaseContext.evidence. Row axis of each tensor: evidenceAxes, else 1.
   */
  evidence?(args: Args, inputs: Record<string, Tensor>, expected: Record<string, Tensor>): Record<string, Tensor>;
  evidenceAxes?: Record<string, number>;
  /** the inputs in the form every row part reads, in shared memory (for worker threads) */
  shared?(inputs: Record<string, Tensor>): Record<string, Tensor>;
}

export interface OpDef {
  name: string;
  summary: string;
  args: Record<string, ArgSpec>;
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  /** the reference; args are validated, inputs checked against `inputs` */
  run(args: Args, inputs: Record<string, Tensor>): Record<string, Tensor>;
  contract(args: Args): Record<string, Tolerance>;
  generate(opts: GenOptions): GenCase[];
  rowSampling?: RowSampling;
  /**
   * checks of a case's own inputs beyond dtypes and shapes (a checkpoint that loads, token ids in
   * its vocabulary): verify runs them on cases that carry their expectation (and so are not run)
   */
  validate?(args: Args, inputs: Record<string, Tensor>): void;
}

const ops = new Map<string, OpDef>();

export function registerOp(def: OpDef): OpDef {
  if (ops.has(def.name)) throw new Error(`op ${def.name} registered twice`);
  ops.set(def.name, def);
  return def;
}
export function getOp(name: unknown): OpDef {
  if (typeof name !== 'string') throw new OpError('BAD_CASE', `"op" must be a string, got ${JSON.stringify(name)}`);
  const op = ops.get(name);
  if (!op) {
    const near = closest(name, [...ops.keys()]);
    throw new OpError('UNKNOWN_OP', `unknown op "${name}"${near ? ` (did you mean "${near}"?)` : ''} (known: ${[...ops.keys()].join(', ')})`);
  }
  return op;
}

/** the candidate nearest to a mistyped word (edit distance at most a third of its length), if any */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
    return prev[b.length];
  };
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(word.length / 3));
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d <= bestD && (best === undefined || d < bestD)) [best, bestD] = [c, d];
  }
  return best;
}
export function listOps(): OpDef[] {
  return [...ops.values()];
}

// ------------------------------------------------------------------ validation
/** object arguments (a rope_scaling) are a level or two deep; deeper ones are refused before they are copied */
const MAX_ARG_DEPTH = 32;

/** how deep a JSON value nests (iteratively: a hostile value must not overflow the stack) */
function nestingDepth(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    max = Math.max(max, d);
    if (max > MAX_ARG_DEPTH) return max;
    for (const y of Object.values(x)) stack.push([y, d + 1]);
  }
  return max;
}

export function validateArgs(op: OpDef, raw: unknown): Args {
  if (raw === undefined) raw = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new OpError('BAD_ARGS', `${op.name}: "args" must be an object`);
  const given = raw as Record<string, unknown>;
  for (const k of Object.keys(given))
    if (!Object.hasOwn(op.args, k)) throw new OpError('BAD_ARGS', `${op.name}: unknown argument "${k}" (accepted: ${Object.keys(op.args).join(', ') || 'none'})`);
  const out: Args = {};
  for (const [k, spec] of Object.entries(op.args)) {
    let v = given[k];
    if (v === undefined || v === null) {
      if (spec.required) throw new OpError('BAD_ARGS', `${op.name}: missing required argument "${k}"`);
      if (spec.default !== undefined) out[k] = spec.default;
      continue;
    }
    const bad = (why: string) => new OpError('BAD_ARGS', `${op.name}: argument "${k}" ${why}, got ${JSON.stringify(v)}`);
    switch (spec.type) {
      case 'number':
        if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('must be a finite number');
        break;
      case 'integer':
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad('must be an integer');
        break;
      case 'string':
        if (typeof v !== 'string') throw bad('must be a string');
        break;
      case 'boolean':
        if (typeof v !== 'boolean') throw bad('must be true or false');
        break;
      case 'object':
        if (typeof v !== 'object' || Array.isArray(v)) throw bad('must be an object');
        if (nestingDepth(v) > MAX_ARG_DEPTH) throw new OpError('BAD_ARGS', `${op.name}: argument "${k}" nests deeper than ${MAX_ARG_DEPTH} levels`);
        v = structuredClone(v);
        break;
    }
    if (spec.enum && !spec.enum.includes(v as string | number)) throw bad(`must be one of ${spec.enum.map((e) => JSON.stringify(e)).join(', ')}`);
    if (spec.min !== undefined && (v as number) < spec.min) throw bad(`must be ≥ ${spec.min}`);
    if (spec.max !== undefined && (v as number) > spec.max) throw bad(`must be ≤ ${spec.max}`);
    out[k] = v;
  }
  return out;
}

/**
 * Check presence, dtype and named dimensions of the inputs. Dimension names are bound
 * on first sight, so "x has shape [4,7] but cos has [5,8]" is caught here, once.
 */
export function validateInputs(op: OpDef, inputs: Record<string, Tensor>): void {
  for (const k of Object.keys(inputs))
    if (!op.inputs.some((s) => s.name === k)) throw new OpError('BAD_TENSOR', `${op.name}: unexpected input tensor "${k}" (expected: ${op.inputs.map((s) => s.name).join(', ') || 'none'})`);
  const bound = new Map<string, { size: number; by: string; shape: number[] }>();
  for (const spec of op.inputs) {
    const t = inputs[spec.name];
    if (!t) {
      if (spec.optional) continue;
      throw new OpError('BAD_TENSOR', `${op.name}: missing input tensor "${spec.name}"`);
    }
    if (!spec.dtypes.includes(t.dtype))
      throw new OpError('BAD_TENSOR', `${op.name}: ${spec.name} has dtype ${t.dtype}, expected ${spec.dtypes.join(' or ')}`);
    if (spec.sameShapeAs) {
      const other = inputs[spec.sameShapeAs];
      if (other && other.shape.join() !== t.shape.join())
        throw new OpError('BAD_TENSOR', `${op.name}: ${spec.name} has shape [${t.shape}] but ${spec.sameShapeAs} has [${other.shape}]`);
    }
    if (!spec.shape) continue;
    if (t.shape.length !== spec.shape.length)
      throw new OpError('BAD_TENSOR', `${op.name}: ${spec.name} has shape [${t.shape}], expected rank ${spec.shape.length} [${spec.shape.join(', ')}]`);
    spec.shape.forEach((d, i) => {
      const size = t.shape[i];
      if (typeof d === 'number') {
        if (size !== d) throw new OpError('BAD_TENSOR', `${op.name}: ${spec.name} has shape [${t.shape}], dimension ${i} must be ${d}`);
        return;
      }
      const prev = bound.get(d);
      if (!prev) bound.set(d, { size, by: spec.name, shape: t.shape });
      else if (prev.size !== size)
        throw new OpError('BAD_TENSOR', `${op.name}: ${spec.name} has shape [${t.shape}] but ${prev.by} has [${prev.shape}] (dimension ${d})`);
    });
  }
}

/** everything about a case that can be checked without running it (its expect: names and dtypes) */
export function validateCase(op: OpDef, args: Args, inputs: Record<string, Tensor>, expect?: Record<string, Tensor>): void {
  validateInputs(op, inputs);
  op.validate?.(args, inputs);
  if (!expect) return;
  for (const spec of op.outputs) {
    if (spec.name.includes('<')) continue; // a family of outputs (grad.<parameter>): named by the op
    const t = expect[spec.name];
    if (!t) throw new OpError('BAD_CASE', `${op.name}: expect lacks output "${spec.name}"`);
    if (!spec.dtypes.includes(t.dtype)) throw new OpError('BAD_CASE', `${op.name}: expect.${spec.name} is ${t.dtype}, the op gives ${spec.dtypes.join(' or ')}`);
  }
}

/** validate and run: the single path eval, gen and the library API go through */
export function runOp(name: string, rawArgs: unknown, inputs: Record<string, Tensor>): Record<string, Tensor> {
  const op = getOp(name);
  const args = validateArgs(op, rawArgs);
  validateInputs(op, inputs);
  return op.run(args, inputs);
}

// Case lines and result lines (FORMAT.md): parse, evaluate, generate.
// A bad line becomes an error line naming the problem; nothing here ever throws past a line.

import { OpError } from '../io/errors.ts';
import { decodeTensor, encodeTensor, type Tensor, type TensorSource, type WireTensor } from '../io/tensor.ts';
import { type Args, type GenOptions, getOp, runOp, validateArgs } from './registry.ts';

export type CaseId = string | number | null;
export interface CaseLine {
  id: CaseId;
  op: string;
  args: Args;
  in: Record<string, Tensor>;
  expect?: Record<string, Tensor>;
}
export type ResultLine = { id: CaseId; out: Record<string, WireTensor> } | { id: CaseId; error: { code: string; message: string } };
/** a result as computed, tensors in memory (the JSON Lines writer encodes them) */
export type Result = { id: CaseId; out: Record<string, Tensor> } | { id: CaseId; error: { code: string; message: string } };

export function tensorMap(raw: unknown, where: string, src: TensorSource = {}): Record<string, Tensor> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new OpError('BAD_CASE', `"${where}" must be an object of tensors`);
  const out: Record<string, Tensor> = {};
  // an own property even for "__proto__" (a plain assignment would set the prototype and hide the name)
  for (const [k, v] of Object.entries(raw)) Object.defineProperty(out, k, { value: decodeTensor(v, `${where}.${k}`, src), enumerable: true, writable: true, configurable: true });
  return out;
}

/** the id of a line even when the rest is broken, so error lines stay attributable */
export function idOf(obj: unknown): CaseId {
  if (typeof obj === 'object' && obj !== null && 'id' in obj) {
    const id = (obj as { id: unknown }).id;
    if (typeof id === 'string' || typeof id === 'number') return id;
  }
  return null;
}

export function parseCaseLine(line: string): CaseLine {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (e) {
    throw new OpError('BAD_JSON', `malformed JSON: ${(e as Error).message}`);
  }
  return caseFromValue(obj);
}

/** a parsed case line, validated: op known, args checked, tensors decoded (inline or from sidecars) */
export function caseFromValue(obj: unknown, src: TensorSource = {}, opts: { expect?: boolean } = {}): CaseLine {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new OpError('BAD_CASE', 'a case line must be a JSON object');
  const o = obj as Record<string, unknown>;
  const id = idOf(o);
  if (o.id !== undefined && id === null) throw new OpError('BAD_CASE', '"id" must be a string or a number');
  const op = getOp(o.op);
  const args = validateArgs(op, o.args);
  // eval ignores expect: it is not decoded (nor read from a sidecar) then
  const expect = o.expect === undefined || opts.expect === false ? undefined : tensorMap(o.expect, 'expect', src);
  return { id, op: op.name, args, in: tensorMap(o.in, 'in', src), expect };
}

/** evaluate one parsed case line: exactly one result, never a throw */
export function evalCase(value: unknown, src: TensorSource = {}): Result {
  const id = idOf(value);
  try {
    const c = caseFromValue(value, src);
    return { id: c.id, out: runOp(c.op, c.args, c.in) };
  } catch (e) {
    return { id, error: errorOf(e) };
  }
}

/** evaluate one line of a case file: exactly one result line, never a throw */
export function evalLine(line: string): ResultLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return { id: null, error: { code: 'BAD_JSON', message: `malformed JSON: ${(e as Error).message}` } };
  }
  const r = evalCase(value);
  return 'out' in r ? { id: r.id, out: wire(r.out) } : r;
}

export function errorOf(e: unknown): { code: string; message: string } {
  if (e instanceof OpError) return { code: e.code, message: e.message };
  if (e instanceof RangeError && /allocation failed|Invalid typed array length|Array buffer/i.test(e.message))
    return { code: 'BAD_TENSOR', message: `out of memory computing this case (${e.message}); give it fewer rows or more memory` };
  // a bug, not bad input: say so; where it happened only with --debug (ANCHOR_ORACLE_DEBUG)
  const err = e as Error;
  const where = process.env.ANCHOR_ORACLE_DEBUG ? ` | ${err?.stack?.split('\n').slice(1, 4).join(' | ')}` : '';
  return { code: 'INTERNAL', message: `${err?.name ?? 'Error'}: ${err?.message ?? String(e)} (an internal error: please report it with this case line; --debug adds where)${where}` };
}

/** a generated case with its expected outputs, tensors in memory */
export interface GeneratedCase {
  id: string;
  op: string;
  args: Args;
  in: Record<string, Tensor>;
  expect: Record<string, Tensor>;
}

/** a case's expected outputs, attached (the oracle computes them) */
export function withExpect(opName: string, c: { id: string; args: Args; in: Record<string, Tensor> }): GeneratedCase {
  const op = getOp(opName);
  const args = validateArgs(op, c.args);
  return { id: c.id, op: op.name, args: c.args, in: c.in, expect: runOp(op.name, args, c.in) };
}

const wire = (m: Record<string, Tensor>) => Object.fromEntries(Object.entries(m).map(([k, t]) => [k, encodeTensor(t)]));

/** cases with expected outputs, as JSON-ready lines (inline tensors) */
export function generateLines(opName: string, opts: GenOptions): object[] {
  return getOp(opName)
    .generate(opts)
    .map((c) => {
      const g = withExpect(opName, c);
      return { ...g, in: wire(g.in), expect: wire(g.expect) };
    });
}

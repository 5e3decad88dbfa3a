// Case lines and result lines (shared/conformance-format): parse, evaluate, generate.
// A bad line becomes an error line naming the problem; nothing here ever throws past a line.

import { OpError } from '../io/errors.ts';
import { decodeTensor, encodeTensor, type Tensor, type WireTensor } from '../io/tensor.ts';
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

function tensorMap(raw: unknown, where: string): Record<string, Tensor> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new OpError('BAD_CASE', `"${where}" must be an object of tensors`);
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = decodeTensor(v, `${where}.${k}`);
  return out;
}

/** the id of a line even when the rest is broken, so error lines stay attributable */
function idOf(obj: unknown): CaseId {
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
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new OpError('BAD_CASE', 'a case line must be a JSON object');
  const o = obj as Record<string, unknown>;
  const id = idOf(o);
  if (o.id !== undefined && id === null) throw new OpError('BAD_CASE', '"id" must be a string or a number');
  const op = getOp(o.op);
  const args = validateArgs(op, o.args);
  return { id, op: op.name, args, in: tensorMap(o.in, 'in'), expect: o.expect === undefined ? undefined : tensorMap(o.expect, 'expect') };
}

/** evaluate one line of a case file: exactly one result line, never a throw */
export function evalLine(line: string): ResultLine {
  let id: CaseId = null;
  try {
    try {
      id = idOf(JSON.parse(line));
    } catch {
      /* reported by parseCaseLine */
    }
    const c = parseCaseLine(line);
    const out = runOp(c.op, c.args, c.in);
    return { id: c.id, out: Object.fromEntries(Object.entries(out).map(([k, t]) => [k, encodeTensor(t)])) };
  } catch (e) {
    return { id, error: errorOf(e) };
  }
}

export function errorOf(e: unknown): { code: string; message: string } {
  if (e instanceof OpError) return { code: e.code, message: e.message };
  return { code: 'INTERNAL', message: (e as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e) };
}

/** cases with expected outputs, as JSON-ready lines */
export function generateLines(opName: string, opts: GenOptions): object[] {
  const op = getOp(opName);
  const cases = op.generate(opts);
  return cases.map((c) => {
    const args = validateArgs(op, c.args);
    const expect = runOp(op.name, args, c.in);
    return {
      id: c.id,
      op: op.name,
      args: c.args,
      in: Object.fromEntries(Object.entries(c.in).map(([k, t]) => [k, encodeTensor(t)])),
      expect: Object.fromEntries(Object.entries(expect).map(([k, t]) => [k, encodeTensor(t)])),
    };
  });
}

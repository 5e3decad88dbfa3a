// Row plans for ops computed per query row (attention.forward, OpDef.rowSampling): which rows
// a check looks at, how the work of one case is cut into parts for worker threads, and how
// the parts' outputs are put back together. Every row is computed by the same reference
// loop whatever the cut, so a split run gives the same bits as one job.

import { OpError } from '../io/errors.ts';
import { intValues, numel, tensor, type Tensor } from '../io/tensor.ts';
import { hash32, Rng } from '../reference/rng.ts';
import type { CaseLine } from './cases.ts';
import { getOp, runOp, validateCase, type OpDef, type RowSampling } from './registry.ts';

/** a rows tensor's indices, each checked to lie in [0, count) (i64 values beyond int32 too) */
export function rowIndices(t: Tensor, count: number, where: string): Int32Array {
  const rows = intValues(t, where);
  if (rows.length === 0) throw new OpError('BAD_TENSOR', `${where} is empty (give at least one row, or leave it out for all)`);
  rows.forEach((r, i) => {
    if (r < 0 || r >= count) throw new OpError('BAD_TENSOR', `${where}[${i}] = ${r} is outside the window [0, ${count})`);
  });
  return Int32Array.from(rows);
}

/** a tensor's slice along `axis` at the given indices */
export function gatherAxis(t: Tensor, axis: number, idx: ArrayLike<number>): Tensor {
  const outer = numel(t.shape.slice(0, axis));
  const n = t.shape[axis];
  const inner = numel(t.shape.slice(axis + 1));
  const shape = [...t.shape];
  shape[axis] = idx.length;
  const data = new (t.data.constructor as new (n: number) => Tensor['data'])(outer * idx.length * inner);
  for (let o = 0; o < outer; o++)
    for (let r = 0; r < idx.length; r++) {
      const from = (o * n + idx[r]) * inner;
      (data as Float64Array).set((t.data as Float64Array).subarray(from, from + inner), (o * idx.length + r) * inner);
    }
  return tensor(t.dtype, shape, data);
}

/** tensors joined along `axis` (equal shapes elsewhere) */
export function concatAxis(ts: Tensor[], axis: number): Tensor {
  const sizes = ts.map((t) => t.shape[axis]);
  const shape = [...ts[0].shape];
  shape[axis] = sizes.reduce((a, b) => a + b, 0);
  const outer = numel(shape.slice(0, axis));
  const inner = numel(shape.slice(axis + 1));
  const data = new (ts[0].data.constructor as new (n: number) => Tensor['data'])(numel(shape));
  for (let o = 0; o < outer; o++) {
    let at = o * shape[axis] * inner;
    ts.forEach((t, p) => {
      const len = sizes[p] * inner;
      (data as Float64Array).set((t.data as Float64Array).subarray(o * len, (o + 1) * len), at);
      at += len;
    });
  }
  return tensor(ts[0].dtype, shape, data);
}

/** the rows a sampled check looks at: the op's required rows and seeded random ones up to k, sorted */
export function sampleRows(op: OpDef, c: Pick<CaseLine, 'id' | 'args' | 'in'>, k: number, seed: number): Int32Array {
  const s = op.rowSampling!;
  const count = s.count(c.in);
  const picked = new Set(s.required(c.args, c.in).filter((r) => r >= 0 && r < count));
  // the sample depends on the seed and the case id only (not on the file position or shard)
  const idHash = [...JSON.stringify(c.id)].reduce((h, ch) => hash32(h ^ ch.charCodeAt(0)), 0x811c9dc5);
  const rng = new Rng(hash32(seed) ^ idHash);
  const target = Math.min(count, Math.max(k, picked.size));
  while (picked.size < target) picked.add(rng.int(0, count - 1));
  return Int32Array.from([...picked].sort((a, b) => a - b));
}

/**
 * What a check of a row op looks at. `positions` index the row axis of the result (and of a
 * full-size expect); `rows` are the window rows they stand for (the op's rows input).
 *   - a case with a rows input: positions 0..R−1, rows = the case's rows, the result has R rows
 *   - --sample-rows K: sampled rows, positions = rows, the result is full size
 *   - all: every row, when the whole case is cut into parts for worker threads
 */
export interface RowPlan {
  sampling: RowSampling;
  positions: Int32Array;
  rows: Int32Array;
  /** length of the result's row axis */
  axisLength: number;
  sampled: boolean;
}

export function rowPlan(op: OpDef, c: CaseLine, sample: number | undefined, seed: number, all: boolean): RowPlan | undefined {
  const s = op.rowSampling;
  if (!s) return undefined;
  const count = s.count(c.in);
  const given = c.in[s.input];
  if (given) {
    const rows = rowIndices(given, count, `${op.name}: ${s.input}`);
    return { sampling: s, positions: Int32Array.from(rows, (_, i) => i), rows, axisLength: rows.length, sampled: false };
  }
  if (sample) {
    const rows = sampleRows(op, c, sample, seed);
    return { sampling: s, positions: rows, rows, axisLength: count, sampled: true };
  }
  if (!all) return undefined;
  const rows = Int32Array.from({ length: count }, (_, i) => i);
  return { sampling: s, positions: rows, rows, axisLength: count, sampled: false };
}

/** the expected outputs and the contract's evidence of some rows of a case */
export interface RowsPart {
  expected: Record<string, Tensor>;
  evidence: Record<string, Tensor>;
}

/**
 * compute one part: positions into the plan's row axis, rows the window rows they stand for;
 * the expected rows come from the case's expect when it has one (verify), else the oracle;
 * the contract's evidence only when asked (verify; eval needs the outputs alone)
 */
export function computeRows(c: CaseLine, positions: Int32Array, rows: Int32Array, withEvidence: boolean, axisLength: number): RowsPart {
  const op = getOp(c.op);
  const s = op.rowSampling!;
  const inputs = { ...c.in, [s.input]: tensor('i32', [rows.length], rows) };
  let expected: Record<string, Tensor>;
  if (c.expect) {
    validateCase(op, c.args, c.in, c.expect); // a case's own inputs are checked even when it carries its expectation
    // expect's row axis must be the plan's: the case's rows (R), or the window (L) for a full-size expect
    for (const [k, t] of Object.entries(c.expect))
      if (t.shape[s.axes[k]] !== axisLength)
        throw new OpError('BAD_CASE', `${op.name}: expect.${k} has shape [${t.shape}]: ${t.shape[s.axes[k]]} rows on axis ${s.axes[k]} where the case gives ${axisLength}`);
    expected = Object.fromEntries(Object.entries(c.expect).map(([k, t]) => [k, gatherAxis(t, s.axes[k], positions)]));
  } else expected = runOp(c.op, c.args, inputs);
  return { expected, evidence: (withEvidence && s.evidence?.(c.args, inputs, expected)) || {} };
}

/** the plan cut into `n` interleaved parts (row k to part k mod n: causal rows cost more late) */
export function splitPlan(plan: RowPlan, n: number): { positions: Int32Array; rows: Int32Array }[] {
  const parts = Math.max(1, Math.min(n, plan.positions.length));
  return Array.from({ length: parts }, (_, p) => {
    const pick = (a: Int32Array) => a.filter((_, k) => k % parts === p);
    return { positions: pick(plan.positions), rows: pick(plan.rows) };
  });
}

/** parts (in splitPlan's order) put back together in plan order */
export function joinParts(parts: RowsPart[], sampling: RowSampling): RowsPart {
  const n = parts.length;
  const sizes = parts.map((p) => Object.values(p.expected)[0]?.shape[sampling.axes[Object.keys(p.expected)[0]]] ?? 0);
  const offsets = sizes.map((_, p) => sizes.slice(0, p).reduce((a, b) => a + b, 0));
  const total = sizes.reduce((a, b) => a + b, 0);
  const order = Int32Array.from({ length: total }, (_, k) => offsets[k % n] + Math.floor(k / n));
  const join = (get: (p: RowsPart) => Record<string, Tensor>, axisOf: (name: string) => number) =>
    Object.fromEntries(Object.keys(get(parts[0])).map((name) => [name, gatherAxis(concatAxis(parts.map((p) => get(p)[name]), axisOf(name)), axisOf(name), order)]));
  return {
    expected: join((p) => p.expected, (name) => sampling.axes[name]),
    evidence: join((p) => p.evidence, (name) => sampling.evidenceAxes?.[name] ?? 1),
  };
}

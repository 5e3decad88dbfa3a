// verify: compare another implementation's result lines with the cases' expectations
// under each op's contract (TestFloat's testfloat_ver). Results are matched to cases by id.
// One case is checked by checkCase (pure: the worker threads of --jobs run it); a Verifier
// adds the outcomes up in case order, so the report is the same whatever the job count.

import { OpError } from '../io/errors.ts';
import { elementValue, hexBits, tensor, type Tensor } from '../io/tensor.ts';
import { computeRows, gatherAxis, rowPlan, type RowPlan, type RowsPart } from './rows.ts';
import { idOf, parseCaseLine, tensorMap, type CaseId, type CaseLine } from './cases.ts';
import { describeTolerance, offenses, type CompareOptions, type Offense } from './compare.ts';
import { getOp, runOp, validateCase, type Tolerance } from './registry.ts';

export interface VerifyOptions extends CompareOptions {
  /** how many mismatch lines to print in all (the rest are counted) */
  maxReports?: number;
  /** check this many query rows per head of ops with row sampling (0 or undefined: all rows) */
  sampleRows?: number;
  /** seed of the row sample */
  seed?: number;
}

/** a result line after reading: out tensors decoded one by one (a bad one is kept as its problem) */
export interface ResultValue {
  id: CaseId;
  out?: Record<string, Tensor | { problem: string }>;
  error?: unknown;
  skip?: string;
  /** why the line is not a valid result line */
  problem?: string;
}

export type Kind = 'mismatch' | 'error_result' | 'missing' | 'duplicate' | 'bad_case' | 'bad_result';
export interface CaseOutcome {
  status: 'passed' | 'failed' | 'skipped';
  kind?: Kind;
  mismatchedElements: number;
  messages: string[];
  skipReason?: string;
  /** rows checked when sampled: how many of how many (per head) */
  rows?: { checked: number; of: number };
  seconds?: number;
}

const PER_OUTPUT = 5;

const unravel = (i: number, shape: number[]): number[] => {
  const idx: number[] = [];
  for (let k = shape.length - 1; k >= 0; k--) {
    idx.unshift(i % shape[k]);
    i = Math.floor(i / shape[k]);
  }
  return idx;
};

/** decode a parsed result line; never throws (problems are kept for the report) */
export function resultFromValue(value: unknown, decode: (w: unknown, where: string) => Tensor): ResultValue {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { id: null, problem: 'a result line must be a JSON object' };
  const o = value as Record<string, unknown>;
  const id = idOf(o);
  const kinds = ['out', 'error', 'skip'].filter((k) => Object.hasOwn(o, k));
  if (kinds.length !== 1) return { id, problem: `a result line needs exactly one of "out", "error", "skip" (has ${kinds.length ? kinds.join(', ') : 'none'})` };
  if (kinds[0] === 'skip') return typeof o.skip === 'string' ? { id, skip: o.skip } : { id, problem: '"skip" must be a string: the reason the case is not supported' };
  if (kinds[0] === 'error') return { id, error: o.error };
  if (typeof o.out !== 'object' || o.out === null || Array.isArray(o.out)) return { id, problem: '"out" must be an object of tensors' };
  const out: Record<string, Tensor | { problem: string }> = {};
  for (const [k, w] of Object.entries(o.out)) {
    try {
      out[k] = decode(w, `out.${k}`);
    } catch (e) {
      if (!(e instanceof OpError)) throw e;
      out[k] = { problem: e.message };
    }
  }
  return { id, out };
}

/**
 * Check one case against its result under the op's contract. Row ops (attention.forward) are
 * checked on their row plan: the case's rows, the --sample-rows sample, or (cut into parts
 * for worker threads by the caller, who then passes the joined `part`) every row.
 */
export function checkCase(c: CaseLine, label: string, res: ResultValue, opts: VerifyOptions = {}, pre?: { plan: RowPlan; part: RowsPart }): CaseOutcome {
  const o: CaseOutcome = { status: 'failed', mismatchedElements: 0, messages: [] };
  const fail = (kind: Kind, msg: string): CaseOutcome => ({ ...o, kind, messages: [`${label}: ${msg}`] });
  if (res.problem) return fail('bad_result', res.problem);
  if (res.skip !== undefined) return { status: 'skipped', mismatchedElements: 0, messages: [], skipReason: res.skip };
  if (res.error !== undefined) return fail('error_result', `implementation reported an error: ${JSON.stringify(res.error)}`);
  const op = getOp(c.op);
  let plan: RowPlan | undefined;
  let expected: Record<string, Tensor>;
  let evidence: Record<string, Tensor> | undefined;
  try {
    plan = pre?.plan ?? rowPlan(op, c, opts.sampleRows, opts.seed ?? 1, false);
    if (plan) ({ expected, evidence } = pre?.part ?? computeRows(c, plan.positions, plan.rows, true, plan.axisLength));
    else {
      if (c.expect) validateCase(op, c.args, c.in, c.expect); // a case's own inputs are checked even when it carries its expectation
      expected = c.expect ?? runOp(c.op, c.args, c.in);
    }
  } catch (e) {
    return fail('bad_case', `the oracle cannot evaluate this case: ${(e as Error).message}`);
  }
  if (plan?.sampled) o.rows = { checked: plan.rows.length, of: plan.axisLength };
  let contract: Record<string, Tolerance>;
  try {
    contract = op.contract(c.args);
  } catch (e) {
    if (!(e instanceof OpError)) throw e;
    return fail('bad_case', `the oracle cannot evaluate this case: ${e.message}`);
  }
  const out = res.out ?? {};
  const inputs = plan ? { ...c.in, [plan.sampling.input]: tensor('i32', [plan.rows.length], plan.rows) } : c.in;
  const ctx = { args: c.args, inputs, expected, evidence };
  let ok = true;
  let unreadable = false; // an output that could not be decoded: the result is bad, not a mismatch
  for (const [name, want] of Object.entries(expected)) {
    const tol = contract[name] ?? { kind: 'exact' as const };
    const say = (msg: string) => o.messages.push(`${label}: ${msg}`);
    if (!Object.hasOwn(out, name)) {
      ok = false;
      say(`output "${name}" missing`);
      continue;
    }
    const g = out[name];
    if ('problem' in g) {
      ok = false;
      unreadable = true;
      say(g.problem);
      continue;
    }
    // the result's shape: the plan's row axis at full length (a sampled check reads some rows)
    const axis = plan?.sampling.axes[name];
    const fullShape = [...want.shape];
    if (axis !== undefined) fullShape[axis] = plan!.axisLength;
    if (g.dtype !== want.dtype || g.shape.join() !== fullShape.join()) {
      ok = false;
      say(`out.${name} is ${g.dtype}[${g.shape}], expected ${want.dtype}[${fullShape}]`);
      continue;
    }
    const got = axis !== undefined && plan!.sampled ? gatherAxis(g, axis, plan!.positions) : g;
    let bad;
    try {
      bad = offenses(got, want, tol, ctx, opts);
    } catch (e) {
      // a contract that needs the inputs (bounds from q, k, v) found them unusable
      if (!(e instanceof OpError)) throw e;
      return fail('bad_case', `the oracle cannot evaluate this case: ${e.message}`);
    }
    if (!bad.length) continue;
    ok = false;
    o.mismatchedElements += bad.length;
    // indices named in the result's own coordinates (a sampled row by its window row)
    const where = (i: number) => {
      const idx = unravel(i, want.shape);
      if (axis !== undefined && plan!.sampled) idx[axis] = plan!.positions[idx[axis]];
      return `[${idx}]`;
    };
    for (const b of bad.slice(0, PER_OUTPUT)) say(`out.${name}${where(b.i)} got ${hexBits(got, b.i)} (${elementValue(got, b.i)}) want ${hexBits(want, b.i)} (${elementValue(want, b.i)})${errorText(b)} [${describeTolerance(tol)}]`);
    if (bad.length > PER_OUTPUT) say(`out.${name}: ${bad.length - PER_OUTPUT} more mismatching elements`);
    if (axis !== undefined && plan!.sampled) {
      const badRows = [...new Set(bad.map((b) => plan!.rows[unravel(b.i, want.shape)[axis]]))].sort((a, b) => a - b);
      say(`out.${name}: mismatches in ${badRows.length} of the ${plan!.rows.length} sampled rows: ${badRows.slice(0, 20).join(', ')}${badRows.length > 20 ? ', …' : ''}`);
    }
  }
  if (ok) return { ...o, status: 'passed', messages: [] };
  return { ...o, kind: unreadable && o.mismatchedElements === 0 ? 'bad_result' : 'mismatch' };
}

function errorText(b: Offense): string {
  if (b.error === undefined || b.bound === undefined) return '';
  const ratio = b.bound > 0 ? (b.error / b.bound).toPrecision(3) : '∞';
  return `: error ${b.error.toPrecision(4)} > bound ${b.bound.toPrecision(4)} (×${ratio})`;
}

export interface VerifyReport {
  cases: number;
  passed: number;
  failed: number;
  skipped: number;
  mismatchedElements: number;
  errors: number;
  missing: number;
  extra: number;
  duplicates: number;
  badCases: number;
  badResults: number;
  /** sampled checks: cases, rows checked per head in all, rows of those cases per head in all */
  sampled: { cases: number; rows: number; of: number };
  skipReasons: Record<string, number>;
  failures: { id: CaseId; line: number; op?: string; kind: Kind }[];
  messages: string[];
  shard?: string;
}

export class Verifier {
  readonly report: VerifyReport = {
    cases: 0, passed: 0, failed: 0, skipped: 0, mismatchedElements: 0, errors: 0, missing: 0, extra: 0, duplicates: 0, badCases: 0, badResults: 0,
    sampled: { cases: 0, rows: 0, of: 0 }, skipReasons: {}, failures: [], messages: [],
  };
  private reported = 0;
  constructor(private readonly opts: VerifyOptions = {}) {}

  /** a message for the report (the first maxReports are kept, the rest counted) */
  say(msg: string): void {
    if (this.reported++ < (this.opts.maxReports ?? 20)) this.report.messages.push(msg);
  }

  /** add one case's outcome (in case order) */
  add(o: CaseOutcome, meta: { id: CaseId; line: number; op?: string }): void {
    const r = this.report;
    r.cases++;
    r[o.status]++;
    r.mismatchedElements += o.mismatchedElements;
    if (o.kind === 'error_result') r.errors++;
    if (o.kind === 'missing') r.missing++;
    if (o.kind === 'duplicate') r.duplicates++;
    if (o.kind === 'bad_case') r.badCases++;
    if (o.kind === 'bad_result') r.badResults++;
    if (o.skipReason !== undefined) r.skipReasons[o.skipReason] = (r.skipReasons[o.skipReason] ?? 0) + 1;
    if (o.rows) {
      r.sampled.cases++;
      r.sampled.rows += o.rows.checked;
      r.sampled.of += o.rows.of;
    }
    if (o.status === 'failed' && o.kind) r.failures.push({ ...meta, kind: o.kind });
    for (const m of o.messages) this.say(m);
  }

  /** result lines that match no case, or that cannot be read (not tied to a case) */
  extraResult(msg: string): void {
    this.report.extra++;
    this.say(msg);
  }
  badResultLine(msg: string): void {
    this.report.badResults++;
    this.say(msg);
  }

  /** one case line against its result line, both as text (in process, inline tensors only) */
  check(caseText: string, caseLineNo: number, resultText: string | undefined): void {
    let c: CaseLine;
    try {
      c = parseCaseLine(caseText);
    } catch (e) {
      this.add({ status: 'failed', kind: 'bad_case', mismatchedElements: 0, messages: [`cases line ${caseLineNo}: ${(e as Error).message}`] }, { id: null, line: caseLineNo });
      return;
    }
    const label = caseLabel(c.id, c.op, caseLineNo);
    if (resultText === undefined) {
      this.add({ status: 'failed', kind: 'missing', mismatchedElements: 0, messages: [`${label}: no result line`] }, { id: c.id, line: caseLineNo, op: c.op });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(resultText);
    } catch (e) {
      value = undefined;
      this.add({ status: 'failed', kind: 'bad_result', mismatchedElements: 0, messages: [`${label}: result line is not JSON (${(e as Error).message})`] }, { id: c.id, line: caseLineNo, op: c.op });
      return;
    }
    const res = resultFromValue(value, (w, where) => tensorMap({ x: w }, where).x);
    if (!res.problem && JSON.stringify(res.id) !== JSON.stringify(c.id)) res.problem = `result has id ${JSON.stringify(res.id)}, case has ${JSON.stringify(c.id)}`;
    this.add(checkCase(c, label, res, this.opts), { id: c.id, line: caseLineNo, op: c.op });
  }

  summary(): string {
    const r = this.report;
    const parts = [`${r.mismatchedElements} mismatching elements`, `${r.errors} error results`, `${r.missing} missing results`];
    if (r.extra) parts.push(`${r.extra} extra results`);
    if (r.duplicates) parts.push(`${r.duplicates} duplicate ids`);
    parts.push(`${r.badCases + r.badResults} unreadable`);
    let s = `verify: ${r.shard ? `shard ${r.shard}: ` : ''}${r.cases} cases, ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (${parts.join(', ')})`;
    if (r.sampled.cases)
      s += `\nverify: sampled rows: ${r.sampled.rows} of ${r.sampled.of} query rows per head checked in ${r.sampled.cases} case(s) (--sample-rows ${this.opts.sampleRows}, seed ${this.opts.seed ?? 1})`;
    const reasons = Object.entries(r.skipReasons);
    if (reasons.length) s += `\nverify: skipped: ${reasons.map(([why, n]) => `${n}× ${JSON.stringify(why)}`).join(', ')}`;
    return s;
  }

  /** exit status: 1 when anything failed or did not match up */
  get ok(): boolean {
    const r = this.report;
    return r.failed === 0 && r.extra === 0 && r.badResults === 0;
  }
}

export const caseLabel = (id: CaseId, op: string | undefined, line: number) => `case ${JSON.stringify(id)} (${op ? `${op}, ` : ''}line ${line})`;


// verify: compare another implementation's result lines with the cases' expectations
// under each op's contract (TestFloat's testfloat_ver).

import { OpError } from '../io/errors.ts';
import { decodeTensor, elementValue, hexBits, type Tensor } from '../io/tensor.ts';
import { parseCaseLine, type CaseLine } from './cases.ts';
import { describeTolerance, offendingIndices, type CompareOptions } from './compare.ts';
import { getOp, runOp } from './registry.ts';

export interface VerifyReport {
  cases: number;
  passed: number;
  failed: number;
  mismatchedElements: number;
  errors: number;
  missing: number;
  badCases: number;
  messages: string[];
}

export interface VerifyOptions extends CompareOptions {
  /** how many mismatch lines to print (the rest are counted) */
  maxReports?: number;
}

const unravel = (i: number, shape: number[]): number[] => {
  const idx: number[] = [];
  for (let k = shape.length - 1; k >= 0; k--) {
    idx.unshift(i % shape[k]);
    i = Math.floor(i / shape[k]);
  }
  return idx;
};

export class Verifier {
  readonly report: VerifyReport = { cases: 0, passed: 0, failed: 0, mismatchedElements: 0, errors: 0, missing: 0, badCases: 0, messages: [] };
  private reported = 0;
  constructor(private readonly opts: VerifyOptions = {}) {}

  private say(msg: string): void {
    if (this.reported++ < (this.opts.maxReports ?? 20)) this.report.messages.push(msg);
  }

  /** one case line against its result line (undefined when the results ran out) */
  check(caseText: string, caseLineNo: number, resultText: string | undefined): void {
    const r = this.report;
    r.cases++;
    let c: CaseLine;
    try {
      c = parseCaseLine(caseText);
    } catch (e) {
      r.badCases++;
      r.failed++;
      this.say(`cases line ${caseLineNo}: ${(e as OpError).message}`);
      return;
    }
    const label = `case ${JSON.stringify(c.id)} (${c.op}, line ${caseLineNo})`;
    if (resultText === undefined) {
      r.missing++;
      r.failed++;
      this.say(`${label}: no result line`);
      return;
    }
    let res: Record<string, unknown>;
    try {
      res = JSON.parse(resultText);
      if (typeof res !== 'object' || res === null) throw new Error('not an object');
    } catch (e) {
      r.failed++;
      r.badCases++;
      this.say(`${label}: result line is not a JSON object (${(e as Error).message})`);
      return;
    }
    if (res.id !== c.id) {
      r.failed++;
      this.say(`${label}: result line has id ${JSON.stringify(res.id)}; results must be in case order`);
      return;
    }
    if (res.error) {
      r.errors++;
      r.failed++;
      this.say(`${label}: implementation reported an error: ${JSON.stringify(res.error)}`);
      return;
    }
    let expected: Record<string, Tensor>;
    try {
      expected = c.expect ?? runOp(c.op, c.args, c.in);
    } catch (e) {
      r.badCases++;
      r.failed++;
      this.say(`${label}: the oracle cannot evaluate this case: ${(e as Error).message}`);
      return;
    }
    const contract = getOp(c.op).contract(c.args);
    const out = (res.out ?? {}) as Record<string, unknown>;
    let ok = true;
    for (const [name, want] of Object.entries(expected)) {
      const tol = contract[name] ?? { kind: 'exact' as const };
      if (!(name in out)) {
        ok = false;
        this.say(`${label}: output "${name}" missing`);
        continue;
      }
      let got: Tensor;
      try {
        got = decodeTensor(out[name], `out.${name}`);
      } catch (e) {
        ok = false;
        this.say(`${label}: ${(e as Error).message}`);
        continue;
      }
      if (got.dtype !== want.dtype || got.shape.join() !== want.shape.join()) {
        ok = false;
        this.say(`${label}: out.${name} is ${got.dtype}[${got.shape}], expected ${want.dtype}[${want.shape}]`);
        continue;
      }
      const bad = offendingIndices(got, want, tol, { args: c.args, inputs: c.in, expected }, this.opts);
      if (bad.length) {
        ok = false;
        r.mismatchedElements += bad.length;
        for (const i of bad.slice(0, 5))
          this.say(
            `${label}: out.${name}[${unravel(i, want.shape)}] got ${hexBits(got, i)} (${elementValue(got, i)}) want ${hexBits(want, i)} (${elementValue(want, i)}) [${describeTolerance(tol)}]`,
          );
        if (bad.length > 5) this.say(`${label}: out.${name}: ${bad.length - 5} more mismatching elements`);
      }
    }
    if (ok) r.passed++;
    else r.failed++;
  }

  /** results left over after the last case */
  extraResults(count: number): void {
    if (count > 0) {
      this.report.failed++;
      this.say(`${count} result line(s) beyond the last case`);
    }
  }

  summary(): string {
    const r = this.report;
    return `verify: ${r.cases} cases, ${r.passed} passed, ${r.failed} failed (${r.mismatchedElements} mismatching elements, ${r.errors} error results, ${r.missing} missing results, ${r.badCases} unreadable)`;
  }
}

import '../ops/index.ts';
import { existsSync } from 'node:fs';
import { Verifier } from '../ops/verify.ts';
import { readLines } from '../io/lines.ts';
import { type Command, intOption, UsageError } from './main.ts';

export const command: Command = {
  summary: "check another implementation's results against the cases under each op's contract",
  usage: 'anchor-oracle verify --cases FILE --results FILE [--strict-nan] [--max-report N]   (exit 0: all match, 1: mismatches, 2: could not run)',
  options: { cases: { type: 'string' }, results: { type: 'string' }, 'strict-nan': { type: 'boolean' }, 'max-report': { type: 'string' } },
  async run(v) {
    if (!v.cases || !v.results) throw new UsageError('--cases and --results are both required');
    for (const p of [v.cases, v.results] as string[])
      if (p !== '-' && !existsSync(p)) {
        console.error(`anchor-oracle verify: cannot read ${p}: no such file`);
        return 2;
      }
    const verifier = new Verifier({ strictNaN: Boolean(v['strict-nan']), maxReports: intOption(v['max-report'], 'max-report', 20) });
    const results = readLines(v.results as string)[Symbol.asyncIterator]();
    for await (const { line, lineNo } of readLines(v.cases as string)) {
      const r = await results.next();
      verifier.check(line, lineNo, r.done ? undefined : r.value.line);
    }
    let extra = 0;
    while (!(await results.next()).done) extra++;
    verifier.extraResults(extra);
    for (const m of verifier.report.messages) console.log(m);
    console.log(verifier.summary());
    return verifier.report.failed ? 1 : 0;
  },
};

import '../ops/index.ts';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { caseFromValue, idOf, type CaseId, type CaseLine } from '../ops/cases.ts';
import { Ordered, Pool, rowsInParts, worthSplitting } from '../ops/pool.ts';
import { info, stepsProgress } from '../io/progress.ts';
import { JOBS, jobsOption, MAX_MEMORY, SHARD } from './eval.ts';
import { getOp, validateCase } from '../ops/registry.ts';
import { rowPlan } from '../ops/rows.ts';
import { caseLabel, checkCase, resultFromValue, Verifier, type CaseOutcome, type ResultValue, type VerifyOptions, type VerifyReport } from '../ops/verify.ts';
import { jsonLines, openInput, readSome } from '../io/json-stream.ts';
import { SidecarCache } from '../io/sidecar.ts';
import { decodeTensor } from '../io/tensor.ts';
import { OpError } from '../io/errors.ts';
import { writeAll } from '../io/lines.ts';
import { type Command, intOption, type Options, shardOption, sizeOption, UsageError } from './main.ts';

const key = (id: CaseId) => JSON.stringify(id);

/** a readable regular file, or an OpError that says why not */
function checkFile(p: string, what: string): void {
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new OpError('BAD_ARGS', `cannot read ${what} ${p}: no such file`);
  }
  if (!st.isFile()) throw new OpError('BAD_ARGS', `cannot read ${what} ${p}: not a regular file`);
}

/** stdin copied to a temporary file: results are read twice (an index of ids, then each line) */
function spoolStdin(): { path: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-results-'));
  const path = join(dir, 'results.jsonl');
  const fd = openSync(path, 'w');
  const buf = new Uint8Array(1 << 20);
  try {
    for (let n; (n = readSome(0, buf, null)) > 0; ) writeAll(fd, buf.subarray(0, n), path);
  } finally {
    closeSync(fd);
  }
  return { path, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** where each result id is, from one pass that skims the tensors */
interface Indexed {
  offset: number;
  lineNo: number;
}

const O = {
  cases: { type: 'string', placeholder: 'FILE', description: 'the case lines (a file, not standard input), required' },
  results: { type: 'string', placeholder: 'FILE|-', description: "the other implementation's result lines, matched to cases by id (-: standard input), required" },
  'sample-rows': { type: 'string', placeholder: 'K', description: "row ops (attention.forward): check K query rows of each case, the op's required rows and seeded ones (0: every row)", default: 0 },
  seed: { type: 'string', placeholder: 'S', description: 'seed of the sampled rows (integer ≥ 0)', default: 1 },
  jobs: JOBS,
  shard: SHARD,
  json: { type: 'boolean', description: 'a JSON summary on standard output (the messages go to stderr); verify --merge adds such summaries up' },
  'strict-nan': { type: 'boolean', description: 'compare the bits of NaNs too (by default any NaN matches any NaN)' },
  'max-report': { type: 'string', placeholder: 'N', description: 'print at most N failure messages (the rest are counted)', default: 20 },
  'max-memory': MAX_MEMORY,
  merge: { type: 'boolean', description: 'add up the --json summaries named as arguments (shards of one run); exit 1 unless all passed and every shard is there once' },
} satisfies Options;

export const command: Command = {
  summary: "check another implementation's results against the cases under each op's contract (results matched by id)",
  usage:
    'anchor-oracle verify --cases FILE --results FILE [--sample-rows K] [--seed S] [--jobs N] [--shard i/n] [--json] [--strict-nan] [--max-report N] [--max-memory SIZE]\n' +
    '       anchor-oracle verify --merge SUMMARY.json...   (the --json summaries of shards, added up)\n' +
    '(exit 0: all match, 1: mismatches, failures, missing or extra results, 2: could not run)',
  options: O,
  examples: [
    'anchor-oracle verify --cases cases.jsonl --results theirs.jsonl',
    'anchor-oracle verify --cases long.jsonl --results long-results.jsonl --sample-rows 64 --max-report 5',
    'anchor-oracle verify --cases c.jsonl --results r.jsonl --shard 3/8 --json > s3.json',
    'anchor-oracle verify --merge s*.json',
  ],
  allowPositionals: true,
  async run(v, pos) {
    if (v.merge) return merge(pos, Boolean(v.json));
    if (pos.length) throw new UsageError(`unexpected argument ${JSON.stringify(pos[0])}`);
    if (!v.cases || !v.results) throw new UsageError('--cases and --results are both required');
    if (v.cases === '-') throw new UsageError('--cases must be a file (results may come from stdin)');
    const sample = intOption(v['sample-rows'], 'sample-rows', O['sample-rows'].default, 0);
    const opts: VerifyOptions = {
      strictNaN: Boolean(v['strict-nan']),
      maxReports: intOption(v['max-report'], 'max-report', O['max-report'].default),
      sampleRows: sample || undefined,
      seed: intOption(v.seed, 'seed', O.seed.default),
    };
    const jobs = jobsOption(v.jobs);
    const shard = shardOption(v.shard);
    const budget = sizeOption(v['max-memory'], 'max-memory');
    const log = (s: string) => (v.json ? console.error(s) : console.log(s));
    // a missing or special file: one line, exit 2 (cli/main.ts failure)
    checkFile(v.cases as string, 'cases');
    const spooled = v.results === '-' ? spoolStdin() : undefined;
    if (!spooled) checkFile(v.results as string, 'results');
    const resultsPath = spooled?.path ?? (v.results as string);
    const verifier = new Verifier(opts);
    if (shard) verifier.report.shard = shard.label;
    const cases = openInput(v.cases as string);
    const results = openInput(resultsPath);
    const caseSidecars = new SidecarCache(dirname(v.cases as string));
    const resultSidecars = new SidecarCache(v.results === '-' ? process.cwd() : dirname(resultsPath));
    const pool = jobs > 1 ? new Pool(jobs) : undefined;
    try {
      // 1. index the results by id (tensors skimmed, not decoded)
      // result lines tied to no case (unreadable, no id, no case with their id) are reported by
      // an unsharded run or by shard 1 alone, so that merged shard summaries count them once
      const reportsStrays = !shard || shard.index === 1;
      const index = new Map<string, Indexed[]>();
      for (const line of jsonLines(results.fd, { skim: true })) {
        if (line.error) {
          if (reportsStrays) verifier.badResultLine(`results line ${line.lineNo}: ${line.error.message}`);
          continue;
        }
        const id = idOf(line.value);
        if (id === null) {
          if (reportsStrays) verifier.badResultLine(`results line ${line.lineNo}: no "id" (a string or a number); results are matched to cases by id`);
          continue;
        }
        const list = index.get(key(id)) ?? [];
        list.push({ offset: line.offset, lineNo: line.lineNo });
        index.set(key(id), list);
      }
      const readResult = (at: Indexed): ResultValue => {
        const [line] = jsonLines(results.fd, { start: at.offset, maxLines: 1, firstLineNo: at.lineNo, budget, shared: Boolean(pool) });
        if (line.error) return { id: null, problem: `results line ${at.lineNo}: ${line.error.message}` };
        return resultFromValue(line.value, (w, where) => decodeTensor(w, where, { sidecars: resultSidecars, shared: Boolean(pool), budget: line.budget }));
      };
      // 2. each case of this shard against its result, outcomes added up in case order; the ids
      // of every case line (of any shard) are kept: a result for one of them is not extra, and a
      // second case line with an id is a duplicate whichever shard the first belongs to
      const caseIds = new Set<string>();
      const ordered = new Ordered<{ o: CaseOutcome; meta: { id: CaseId; line: number; op?: string } }>(pool ? jobs + 1 : 1, ({ o, meta }) => {
        verifier.add(o, meta);
        if (o.seconds !== undefined && o.seconds > 5) info(`verify: ${caseLabel(meta.id, meta.op, meta.line)} checked in ${o.seconds.toFixed(1)} s`);
      });
      const failNow = (o: Omit<CaseOutcome, 'status' | 'mismatchedElements'>, meta: { id: CaseId; line: number; op?: string }) =>
        ordered.submit(Promise.resolve({ o: { status: 'failed' as const, mismatchedElements: 0, ...o }, meta }));
      const badCase = (label: string, why: string): CaseOutcome => ({ status: 'failed', kind: 'bad_case', mismatchedElements: 0, messages: [`${label}: ${why}`] });
      // one case, whatever happens to it: a long row op in parts (on every worker) with progress,
      // else on a worker or here; a case the oracle cannot evaluate, or a crash, is a bad case
      // and the run goes on
      const checkOne = async (c: CaseLine, label: string, res: ResultValue): Promise<CaseOutcome> => {
        try {
          const op = getOp(c.op);
          let plan;
          if (op.rowSampling && !res.problem && res.skip === undefined && res.error === undefined) {
            validateCase(op, c.args, c.in); // the plan reads the inputs
            plan = rowPlan(op, c, opts.sampleRows, opts.seed ?? 1, true);
          }
          if (plan && worthSplitting(plan.rows.length, plan.sampling.count(c.in))) {
            const part = await rowsInParts(pool, jobs, c, plan, true, stepsProgress(`verify: ${label}, ${plan.rows.length} rows`));
            return 'error' in part ? badCase(label, `the oracle cannot evaluate this case: ${part.error.message}`) : checkCase(c, label, res, opts, { plan, part });
          }
          if (!pool) return checkCase(c, label, res, opts);
          await pool.ready();
          return (await pool.run({ kind: 'verify', c, label, res, opts })) as CaseOutcome;
        } catch (e) {
          if (e instanceof OpError) return badCase(label, `the oracle cannot evaluate this case: ${e.message}`);
          return badCase(label, `internal error: ${(e as Error).message?.split('\n')[0]} (please report it with this case line)`);
        }
      };
      const readOpts = { budget, shared: Boolean(pool), skim: Boolean(shard) && !shard!.has(0) };
      let ordinal = 0;
      for (const line of jsonLines(cases.fd, readOpts)) {
        const mine = !shard || shard.has(ordinal);
        ordinal++;
        readOpts.skim = Boolean(shard) && !shard!.has(ordinal);
        const id = line.error ? idOf({ id: line.id }) : idOf(line.value);
        const seenBefore = id !== null && caseIds.has(key(id));
        if (id !== null) caseIds.add(key(id));
        if (!mine) continue;
        const meta = { id, line: line.lineNo };
        if (line.error) {
          await failNow({ kind: 'bad_case', messages: [`cases line ${line.lineNo}: ${line.error.message}`] }, meta);
          continue;
        }
        let c: CaseLine;
        try {
          c = caseFromValue(line.value, { sidecars: caseSidecars, shared: Boolean(pool), budget: line.budget });
        } catch (e) {
          if (!(e instanceof OpError)) throw e;
          await failNow({ kind: 'bad_case', messages: [`${caseLabel(id, undefined, line.lineNo)}: ${e.message}`] }, meta);
          continue;
        }
        const label = caseLabel(c.id, c.op, line.lineNo);
        const cmeta = { ...meta, op: c.op };
        if (c.id === null) {
          await failNow({ kind: 'bad_case', messages: [`${label}: the case has no id; verify matches results to cases by id`] }, cmeta);
          continue;
        }
        if (seenBefore) {
          await failNow({ kind: 'duplicate', messages: [`${label}: a second case with this id; ids must be unique`] }, cmeta);
          continue;
        }
        const found = index.get(key(c.id)) ?? [];
        if (found.length === 0) {
          await failNow({ kind: 'missing', messages: [`${label}: no result line with this id`] }, cmeta);
          continue;
        }
        if (found.length > 1) {
          await failNow({ kind: 'duplicate', messages: [`${label}: ${found.length} result lines have this id (results lines ${found.map((f) => f.lineNo).join(', ')})`] }, cmeta);
          continue;
        }
        const res = readResult(found[0]);
        const started = Date.now();
        await ordered.submit(checkOne(c, label, res).then((o) => ({ o: { ...o, seconds: (Date.now() - started) / 1000 }, meta: cmeta })));
      }
      await ordered.drain();
      // 3. results that match no case
      if (reportsStrays)
        for (const [id, list] of index) if (!caseIds.has(id)) for (const at of list) verifier.extraResult(`results line ${at.lineNo}: id ${id} matches no case`);
    } finally {
      caseSidecars.close();
      resultSidecars.close();
      cases.close();
      results.close();
      spooled?.done();
      await pool?.close();
    }
    for (const m of verifier.report.messages) log(m);
    log(verifier.summary());
    if (v.json) console.log(JSON.stringify(summaryJson(verifier.report, verifier.ok)));
    return verifier.ok ? 0 : 1;
  },
};

/** the --json summary: counts, skip reasons, failing cases (id, line, op, kind), the printed messages */
function summaryJson(r: VerifyReport, ok: boolean): object {
  return { format: 'anchor-oracle-verify-summary/1', ok, ...r };
}

const COUNTS = ['cases', 'passed', 'failed', 'skipped', 'mismatchedElements', 'errors', 'missing', 'extra', 'duplicates', 'badCases', 'badResults'] as const;

/** verify --merge: the --json summaries of shards added up; exit 1 unless every shard of 1..n is there once and all passed */
function merge(paths: string[], json: boolean): number {
  if (!paths.length) throw new UsageError('--merge takes the --json summary files of the shards');
  const parts: (VerifyReport & { ok: boolean })[] = [];
  for (const p of paths) {
    try {
      const s = JSON.parse(readFileSync(p, 'utf8'));
      if (s?.format !== 'anchor-oracle-verify-summary/1') throw new Error('not a verify --json summary');
      parts.push(s);
    } catch (e) {
      console.error(`anchor-oracle verify --merge: ${p}: ${(e as Error).message}`);
      return 2;
    }
  }
  const total = new Verifier().report;
  const problems: string[] = [];
  for (const s of parts) {
    for (const k of COUNTS) total[k] += s[k];
    total.sampled.cases += s.sampled.cases;
    total.sampled.rows += s.sampled.rows;
    total.sampled.of += s.sampled.of;
    for (const [why, n] of Object.entries(s.skipReasons)) total.skipReasons[why] = (total.skipReasons[why] ?? 0) + n;
    total.failures.push(...s.failures);
    total.messages.push(...s.messages);
  }
  // summaries of verify --shard runs must cover 1..n once; summaries of whole files (of a
  // split made at gen or eval time) are only added up
  const shards = parts.map((s) => s.shard).filter((s): s is string => s !== undefined);
  if (shards.length && shards.length !== parts.length) problems.push('some summaries come from verify --shard runs and some do not');
  if (shards.length) {
    const n = Number(shards[0].split('/')[1]);
    const want = Array.from({ length: n }, (_, i) => `${i + 1}/${n}`);
    for (const w of want) if (!shards.includes(w)) problems.push(`shard ${w} is missing`);
    for (const s of new Set(shards)) {
      if (!want.includes(s)) problems.push(`shard ${s} does not belong to a split into ${n}`);
      if (shards.filter((x) => x === s).length > 1) problems.push(`shard ${s} is given twice`);
    }
  }
  const v = new Verifier();
  Object.assign(v.report, total);
  const ok = v.ok && problems.length === 0;
  const log = (s: string) => (json ? console.error(s) : console.log(s));
  for (const m of total.messages) log(m);
  for (const p of problems) log(`verify --merge: ${p}`);
  log(v.summary().replace('verify:', `verify --merge (${parts.length} shards):`));
  if (json) console.log(JSON.stringify(summaryJson(total, ok)));
  return ok ? 0 : 1;
}

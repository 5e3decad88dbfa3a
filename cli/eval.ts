import '../ops/index.ts';
import { dirname } from 'node:path';
import { caseFromValue, errorOf, idOf, type CaseLine, type Result } from '../ops/cases.ts';
import { defaultJobs, Ordered, Pool, rowsInParts, worthSplitting } from '../ops/pool.ts';
import { info, stepsProgress } from '../io/progress.ts';
import { getOp, runOp, validateInputs } from '../ops/registry.ts';
import { rowPlan } from '../ops/rows.ts';
import { jsonLines, openInput } from '../io/json-stream.ts';
import { JsonlWriter } from '../io/line-writer.ts';
import { yieldToEvents } from '../io/lines.ts';
import { SidecarCache } from '../io/sidecar.ts';
import { type Command, intOption, type Options, UsageError, shardOption, sizeOption, tensorsOption } from './main.ts';

/** the options eval and verify share */
export const JOBS = { type: 'string', placeholder: 'N', description: 'worker threads (1 to 4 × the CPUs); a long case is cut into row parts, the output is the same as one job\'s', default: 'the number of CPUs' } as const;

/** --jobs: 1 … 4 × the CPUs (each worker holds a case's shared tensors: more only costs memory) */
export function jobsOption(v: string | boolean | undefined): number {
  const max = 4 * defaultJobs();
  const n = intOption(v, 'jobs', defaultJobs(), 1);
  if (n > max) throw new UsageError(`--jobs must be ≤ ${max} (4 × the ${defaultJobs()} CPUs here: each worker thread holds a case's tensors), got ${n}`);
  return n;
}
export const SHARD = { type: 'string', placeholder: 'i/n', description: 'only shard i of n: case lines k (0-based, in file order) with k mod n = i - 1 (1 ≤ i ≤ n)' } as const;
export const MAX_MEMORY = { type: 'string', placeholder: 'SIZE', description: 'memory budget of one case line\'s tensors: a number with K, M, G or T (powers of 1024)', default: 'a third of the memory' } as const;


export const command: Command = {
  summary: 'compute the oracle outputs for each case line (stdin or FILE); one result line per case',
  usage:
    'anchor-oracle eval [FILE|-] [--out FILE] [--tensors inline|sidecar] [--jobs N] [--shard i/n] [--max-memory SIZE]   (exit 0: all ok, 1: some error lines, 2: could not run)',
  options: {
    out: { type: 'string', placeholder: 'FILE', description: 'write the result lines to FILE (atomically) instead of standard output', default: 'standard output' },
    tensors: { type: 'string', placeholder: 'inline|sidecar', description: 'output tensors inline as base64, or in a .safetensors sidecar beside --out', default: 'inline' },
    jobs: JOBS,
    shard: SHARD,
    'max-memory': MAX_MEMORY,
  } satisfies Options,
  examples: [
    'anchor-oracle eval cases.jsonl > results.jsonl',
    'anchor-oracle eval --jobs 1 < cases.jsonl',
    'anchor-oracle eval long.jsonl --tensors sidecar --out long-results.jsonl --max-memory 8G --shard 3/8',
  ],
  allowPositionals: true,
  async run(v, pos) {
    const path = pos[0];
    if (pos.length > 1) throw new UsageError('at most one input file');
    const mode = tensorsOption(v.tensors, v.out);
    const jobs = jobsOption(v.jobs);
    const shard = shardOption(v.shard);
    const budget = sizeOption(v['max-memory'], 'max-memory');
    // an unreadable input or an unwritable output: one line, exit 2 (cli/main.ts failure)
    const input = openInput(path);
    const out = new JsonlWriter(v.out as string | undefined, mode);
    const sidecars = new SidecarCache(input.seekable ? dirname(path!) : process.cwd());
    const pool = jobs > 1 ? new Pool(jobs) : undefined;
    let errors = 0;
    let count = 0;
    const emit = ({ r, lineNo }: { r: Result; lineNo: number }) => {
      count++;
      if ('error' in r) {
        errors++;
        console.error(`eval: line ${lineNo}: ${r.error.code}: ${r.error.message}`);
      }
      out.write(r);
    };
    const ordered = new Ordered(pool ? jobs + 1 : 1, emit);
    const opts = { budget, shared: Boolean(pool), seekable: input.seekable, skim: Boolean(shard) && !shard!.has(0) };
    // one case, whatever happens to it: a long row op in parts (on every worker) with progress,
    // else on a worker or here; any failure is the case's error line and the run goes on
    const evalOne = async (c: CaseLine): Promise<Result> => {
      try {
        const op = getOp(c.op);
        validateInputs(op, c.in); // the row plan reads the inputs
        const plan = rowPlan(op, c, undefined, 1, true);
        if (plan && worthSplitting(plan.rows.length, plan.sampling.count(c.in))) {
          const part = await rowsInParts(pool, jobs, c, plan, false, stepsProgress(`eval: ${c.op} ${JSON.stringify(c.id)}, ${plan.rows.length} rows`));
          return 'error' in part ? { id: c.id, error: part.error } : { id: c.id, out: part.expected };
        }
        if (!pool) return { id: c.id, out: runOp(c.op, c.args, c.in) };
        await pool.ready();
        return (await pool.run({ kind: 'eval', c })) as Result;
      } catch (e) {
        return { id: c.id, error: errorOf(e) };
      }
    };
    try {
      let ordinal = 0;
      for (const line of jsonLines(input.fd, opts)) {
        await yieldToEvents(); // an interruption between cases removes the temporary files
        const mine = !shard || shard.has(ordinal);
        ordinal++;
        // the next line is read in full only when it belongs to this shard
        opts.skim = Boolean(shard) && !shard!.has(ordinal);
        if (!mine) continue;
        if (line.error) {
          await ordered.submit(Promise.resolve({ r: { id: idOf({ id: line.id }), error: errorOf(line.error) }, lineNo: line.lineNo }));
          continue;
        }
        let r: Result | Promise<Result>;
        try {
          r = evalOne(caseFromValue(line.value, { sidecars, shared: Boolean(pool), budget: line.budget }, { expect: false }));
        } catch (e) {
          r = { id: idOf(line.value), error: errorOf(e) };
        }
        const lineNo = line.lineNo;
        await ordered.submit(Promise.resolve(r).then((x) => ({ r: x, lineNo })));
      }
      await ordered.drain();
      out.close();
    } catch (e) {
      out.abort(); // nothing half-written; the error is reported by cli/main.ts failure
      throw e;
    } finally {
      sidecars.close();
      input.close();
      await pool?.close();
    }
    info(`eval: ${count} cases${shard ? ` (shard ${shard.label})` : ''}, ${count - errors} ok, ${errors} errors`);
    return errors ? 1 : 0;
  },
};

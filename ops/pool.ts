// Worker threads for eval and verify (--jobs N). The main thread reads the lines (tensors in
// SharedArrayBuffers, so handing a case to a worker copies nothing), a worker evaluates or
// checks one case, and answers come back in submission order: the output is the same for
// any number of jobs.

import type { Worker } from 'node:worker_threads';
import { startWorker } from '../io/worker.ts';
import { availableParallelism } from 'node:os';
import type { CaseLine, Result } from './cases.ts';
import { computeRows, joinParts, splitPlan, type RowPlan, type RowsPart } from './rows.ts';
import { errorOf } from './cases.ts';
import { yieldToEvents } from '../io/lines.ts';
import type { CaseOutcome, ResultValue, VerifyOptions } from './verify.ts';

export type Task =
  | { kind: 'eval'; c: CaseLine }
  | { kind: 'verify'; c: CaseLine; label: string; res: ResultValue; opts: VerifyOptions }
  /** some rows of a row op: expected outputs (and, to check, the contract's evidence) */
  | { kind: 'rows'; c: CaseLine; positions: Int32Array; rows: Int32Array; evidence: boolean; axisLength: number };
export type Answer = Result | CaseOutcome | RowsPart | { error: { code: string; message: string } };

export const defaultJobs = (): number => Math.max(1, availableParallelism());

interface Slot {
  worker: Worker;
  busy: boolean;
}

export class Pool {
  private readonly slots: Slot[] = [];
  private readonly waiting: (() => void)[] = [];
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void; slot: Slot }>();

  constructor(private readonly jobs: number) {}

  private spawn(): Slot {
    const worker = startWorker(import.meta.url, './worker');
    const slot: Slot = { worker, busy: false };
    worker.on('message', (m: { seq: number; answer?: Answer; crash?: string }) => {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      p.slot.busy = false;
      this.wake();
      if (m.crash !== undefined) p.reject(new Error(m.crash));
      else p.resolve(m.answer!);
    });
    // a worker that fails or exits takes its task with it: reject that task, drop the worker
    // (the next task starts a new one), let waiters look again
    const lost = (why: Error) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      for (const [seq, p] of this.pending)
        if (p.slot === slot) {
          this.pending.delete(seq);
          p.reject(why);
        }
      this.wake();
    };
    worker.on('error', (e) => lost(e));
    worker.on('exit', (code) => lost(new Error(`a worker thread exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }

  /** every waiter looks again (a free worker may serve any of them) */
  private wake(): void {
    for (const w of this.waiting.splice(0)) w();
  }

  /** a free worker (started on demand, up to jobs), taken: found and marked busy in one step */
  private async acquire(): Promise<Slot> {
    for (;;) {
      const free = this.slots.find((s) => !s.busy) ?? (this.slots.length < this.jobs ? this.spawn() : undefined);
      if (free) {
        free.busy = true;
        return free;
      }
      await new Promise<void>((r) => this.waiting.push(r));
    }
  }

  /** run a task on a worker; resolves with its answer */
  async run(task: Task): Promise<Answer> {
    const slot = await this.acquire();
    const seq = this.seq++;
    return new Promise<Answer>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, slot });
      slot.worker.postMessage({ seq, task });
    });
  }

  /** wait until a worker is free (so the reader does not run ahead of the workers) */
  async ready(): Promise<void> {
    if (this.slots.some((s) => !s.busy) || this.slots.length < this.jobs) return;
    await new Promise<void>((r) => this.waiting.push(r));
  }

  close(): Promise<number[]> {
    const slots = this.slots.splice(0); // terminated on purpose: not "lost"
    return Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/** a row op's case big enough to cut into parts: rows × keys ≥ 2^22, at least 8 rows */
export function worthSplitting(rows: number, keys: number): boolean {
  return rows >= 8 && rows * keys >= 2 ** 22;
}

type PartAnswer = RowsPart | { error: { code: string; message: string } };

/**
 * A row op's case computed in parts: splitPlan's interleaved cut, 4 parts per job (for load
 * balance and progress steps), on the pool's workers or, without a pool, one after another
 * here; joined back in plan order. With `evidence`, also what the contract checks need.
 * Verify passes the case with its expect, eval without (eval computes every output).
 */
export async function rowsInParts(pool: Pool | undefined, jobs: number, c: CaseLine, plan: RowPlan, evidence: boolean, progress?: (done: number, total: number) => void): Promise<PartAnswer> {
  const parts = splitPlan(plan, 4 * jobs);
  let done = 0;
  progress?.(0, parts.length);
  const tick = <T>(a: T): T => {
    progress?.(++done, parts.length);
    return a;
  };
  let answers: PartAnswer[];
  if (!pool) {
    answers = [];
    for (const p of parts) {
      await yieldToEvents(); // progress and signals between parts
      try {
        answers.push(tick(computeRows(c, p.positions, p.rows, evidence, plan.axisLength)));
      } catch (e) {
        return { error: errorOf(e) };
      }
    }
  } else {
    const shared = { ...c, in: plan.sampling.shared?.(c.in) ?? c.in };
    answers = (await Promise.all(parts.map((p) => pool.run({ kind: 'rows', c: shared, positions: p.positions, rows: p.rows, evidence, axisLength: plan.axisLength }).then(tick)))) as PartAnswer[];
  }
  const failed = answers.find((a) => 'error' in a);
  if (failed) return failed;
  return joinParts(answers as RowsPart[], plan.sampling);
}

/**
 * Answers in submission order: `submit` starts a task and `drain` hands finished answers to
 * `emit` in order, at most `depth` tasks in flight.
 */
export class Ordered<T> {
  private readonly queue: Promise<T>[] = [];
  constructor(
    private readonly depth: number,
    private readonly emit: (value: T) => void,
  ) {}
  async submit(p: Promise<T>): Promise<void> {
    p.catch(() => {}); // a failure is seen when its turn comes (drain / submit), not as an unhandled rejection
    this.queue.push(p);
    while (this.queue.length >= this.depth) this.emit(await this.queue.shift()!);
  }
  async drain(): Promise<void> {
    while (this.queue.length) this.emit(await this.queue.shift()!);
  }
}

// Worker threads for eval and verify (--jobs N). The main thread reads the lines (tensors in
// SharedArrayBuffers, so handing a case to a worker copies nothing), a worker evaluates or
// checks one case, and answers come back in submission order: the output is the same for
// any number of jobs.

import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { CaseLine, Result } from './cases.ts';
import type { CaseOutcome, ResultValue, VerifyOptions } from './verify.ts';

export type Task = { kind: 'eval'; c: CaseLine } | { kind: 'verify'; c: CaseLine; label: string; res: ResultValue; opts: VerifyOptions };
export type Answer = Result | CaseOutcome;

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
    const worker = new Worker(new URL('../io/ts-worker.mjs', import.meta.url), { workerData: { entry: new URL('./worker.ts', import.meta.url).href } });
    const slot: Slot = { worker, busy: false };
    worker.on('message', (m: { seq: number; answer?: Answer; crash?: string }) => {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      p.slot.busy = false;
      this.waiting.shift()?.();
      if (m.crash !== undefined) p.reject(new Error(m.crash));
      else p.resolve(m.answer!);
    });
    worker.on('error', (e) => {
      for (const [seq, p] of this.pending) if (p.slot === slot) {
        this.pending.delete(seq);
        p.reject(e);
      }
    });
    this.slots.push(slot);
    return slot;
  }

  /** a free worker (started on demand, up to jobs) */
  private async slot(): Promise<Slot> {
    for (;;) {
      const free = this.slots.find((s) => !s.busy);
      if (free) return free;
      if (this.slots.length < this.jobs) return this.spawn();
      await new Promise<void>((r) => this.waiting.push(r));
    }
  }

  /** run a task on a worker; resolves with its answer */
  async run(task: Task): Promise<Answer> {
    const slot = await this.slot();
    slot.busy = true;
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
    return Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
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
    this.queue.push(p);
    while (this.queue.length >= this.depth) this.emit(await this.queue.shift()!);
  }
  async drain(): Promise<void> {
    while (this.queue.length) this.emit(await this.queue.shift()!);
  }
}

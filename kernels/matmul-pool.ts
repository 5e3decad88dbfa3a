// Matmuls split by output rows over worker threads, called synchronously. The model Backend is
// synchronous (reference/model/backend.ts), so the main thread posts each worker a block of
// rows, computes the first block itself, and then blocks in Atomics.wait until every worker has
// written its rows into the shared output. Each row is the same generated kernel's sum
// (matmulPlan: float32, k in order, one rounding), whichever thread runs it, so the result is
// bit-identical to a one-thread run (test/kernels-model.test.ts checks it).
//
// Inputs are converted once into shared buffers (float32; bf16 and f32 values are exact there),
// reused and grown across calls; workers read them in place and write their rows in place.
// Node lets the main thread block in Atomics.wait; workers are unref'd, so they never keep a
// finished process alive.

import type { Worker } from 'node:worker_threads';
import { startWorker } from '../io/worker.ts';
import { availableParallelism } from 'node:os';
import { OpError } from '../io/errors.ts';

/** what a worker is asked: rows m0 … m1 − 1 of c [M, N] = a [M, K] · b [K, N] */
export interface MatmulTask {
  a: SharedArrayBuffer;
  b: SharedArrayBuffer;
  c: SharedArrayBuffer;
  m0: number;
  m1: number;
  K: number;
  N: number;
  out: 'f32' | 'bf16';
}
/** control words shared with every worker */
export const CTRL = { done: 0, failed: 1, ready: 2 } as const;
export const ERROR_BYTES = 2048;

/** worker threads a kernel model backend uses by default: the cores this process may run on, at most 8 */
export const defaultModelThreads = (): number => Math.max(1, Math.min(8, availableParallelism()));

/** how long a new worker may take to load before the pool gives up (tsx compiles the sources on first load) */
const START_TIMEOUT_MS = 120_000;

export class MatmulPool {
  private readonly workers: Worker[] = [];
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * 3));
  private readonly err = new Uint8Array(new SharedArrayBuffer(ERROR_BYTES));
  private readonly bufs: Record<'a' | 'b' | 'c', SharedArrayBuffer | null> = { a: null, b: null, c: null };
  /** why the workers could not start: every later run says it again */
  private broken: string | null = null;

  /** threads in all, the calling thread included (threads − 1 workers) */
  constructor(readonly backend: 'webasm' | 'cpu', readonly threads: number) {
    if (!(Number.isInteger(threads) && threads >= 1)) throw new OpError('BAD_ARGS', `threads must be a positive integer, got ${threads}`);
  }

  /** a float32 view of n elements on shared buffer `role`, grown (never shrunk) as needed */
  view(role: 'a' | 'b' | 'c', n: number): Float32Array {
    const cur = this.bufs[role];
    if (!cur || cur.byteLength < 4 * n) this.bufs[role] = new SharedArrayBuffer(4 * Math.max(n, cur ? cur.byteLength / 2 : 0));
    return new Float32Array(this.bufs[role]!, 0, n);
  }

  private start(): void {
    if (this.broken) throw new OpError('INTERNAL', this.broken);
    if (this.workers.length === this.threads - 1) return;
    while (this.workers.length < this.threads - 1) {
      const w = startWorker(import.meta.url, './matmul-worker', { backend: this.backend, ctrl: this.ctrl.buffer, err: this.err.buffer });
      w.unref();
      this.workers.push(w);
    }
    // every worker raises `ready` once its backend is open; a worker that cannot start says why in err
    const t0 = Date.now();
    for (let r = Atomics.load(this.ctrl, CTRL.ready); r < this.workers.length; r = Atomics.load(this.ctrl, CTRL.ready)) {
      if (Date.now() - t0 > START_TIMEOUT_MS) this.giveUp(`did not start within ${START_TIMEOUT_MS / 1000} s`);
      Atomics.wait(this.ctrl, CTRL.ready, r, 200);
    }
    if (Atomics.load(this.ctrl, CTRL.failed) !== 0) this.giveUp(`could not start: ${this.errorText()}`);
  }

  private giveUp(why: string): never {
    this.broken = `matmul worker threads ${why}; run with one thread (--threads 1)`;
    for (const w of this.workers.splice(0)) void w.terminate();
    throw new OpError('INTERNAL', this.broken);
  }

  private errorText(): string {
    const n = this.err.indexOf(0);
    return new TextDecoder().decode(this.err.slice(0, n < 0 ? ERROR_BYTES : n));
  }

  private throwIfFailed(): void {
    if (Atomics.load(this.ctrl, CTRL.failed) === 0) return;
    const msg = this.errorText();
    Atomics.store(this.ctrl, CTRL.failed, 0);
    throw new OpError('INTERNAL', `matmul worker: ${msg}`);
  }

  /**
   * c [M, N] = a [M, K] · b [K, N] on `threads` threads; `local` runs a block on this thread (the
   * caller's backend). a and b may already be views from view('a' | 'b') (then nothing is copied).
   * Blocks of rows are multiples of R (the kernel's rows per cell), so only the last one pads.
   * The result is a view on the shared output: read it before the next run.
   */
  run(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, out: 'f32' | 'bf16', R: number, local: (a: Float32Array, b: Float32Array, M: number) => Float32Array): Float32Array {
    const av = this.shared('a', a, M * K);
    const bv = this.shared('b', b, K * N);
    const parts = Math.min(this.threads, Math.ceil(M / R));
    if (parts <= 1) return local(av, bv, M);
    this.start();
    const step = R * Math.ceil(M / R / parts);
    const cv = this.view('c', M * N);
    Atomics.store(this.ctrl, CTRL.done, 0);
    let posted = 0;
    for (let p = 1; p < parts && p * step < M; p++) {
      const task: MatmulTask = { a: this.bufs.a!, b: this.bufs.b!, c: this.bufs.c!, m0: p * step, m1: Math.min(M, (p + 1) * step), K, N, out };
      this.workers[p - 1].postMessage(task);
      posted++;
    }
    const m1 = Math.min(M, step);
    cv.set(local(av.subarray(0, m1 * K), bv, m1));
    for (let d = Atomics.load(this.ctrl, CTRL.done); d < posted; d = Atomics.load(this.ctrl, CTRL.done)) Atomics.wait(this.ctrl, CTRL.done, d);
    this.throwIfFailed();
    return cv;
  }

  private shared(role: 'a' | 'b', x: ArrayLike<number>, n: number): Float32Array {
    if (x instanceof Float32Array && x.buffer === this.bufs[role] && x.byteOffset === 0 && x.length === n) return x;
    const v = this.view(role, n);
    v.set(x);
    return v;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
    Atomics.store(this.ctrl, CTRL.ready, 0);
  }
}

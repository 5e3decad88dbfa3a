// Kernel work split over worker threads, called synchronously. The model Backend is synchronous
// (reference/model/backend.ts), so the main thread posts each worker its part, computes the
// first part itself, and then blocks in Atomics.wait until every worker has written its part
// into the shared output. Two kinds of work:
// - matmul: blocks of output rows (matmulPlan: float32, k in order, one rounding per row);
// - attention forward / backward: groups of key/value heads (GQA: a kv head and its query
//   heads are independent of the others), each run by attentionForwardPlan /
//   attentionBackwardPlan on that head subset.
// Each output is computed by the same code whichever thread runs it, so the result is
// bit-identical to a one-thread run (test/kernels-model.test.ts checks it).
//
// Matmul inputs are converted once into shared buffers (float32; bf16 and f32 values are exact
// there), reused and grown across calls; workers read them in place and write their rows in
// place. Node lets the main thread block in Atomics.wait; workers are unref'd, so they never keep
// a finished process alive.

import type { Worker } from 'node:worker_threads';
import { startWorker } from '../io/worker.ts';
import { availableParallelism } from 'node:os';
import { OpError } from '../io/errors.ts';
import { attentionBackwardPlan, attentionForwardPlan, blockTable, runPlanSync, type AttnKernelShape, type BlockTable } from './ops.ts';
import type { KernelBackend } from './runtime.ts';
import type { Variant } from '../reference/masks.ts';

/** what a worker is asked: rows m0 … m1 − 1 of c [M, N] = a [M, K] · b [K, N] */
export interface MatmulTask {
  kind: 'matmul';
  a: SharedArrayBuffer;
  b: SharedArrayBuffer;
  c: SharedArrayBuffer;
  m0: number;
  m1: number;
  K: number;
  N: number;
  out: 'f32' | 'bf16';
}
/** the attention options a worker needs (the block table it builds itself) */
export interface AttnPartOptions {
  variant: Variant;
  precision: 'f32' | 'bf16_flash';
  scale?: number;
  blockSize: number;
}
/** each attention kind's tensors: inputs (float64, as the model Backend passes them) and outputs (float32) */
export const ATTN_IO = {
  attention: { in: ['q', 'k', 'v'], out: ['out', 'lse'] },
  attentionBackward: { in: ['q', 'k', 'v', 'out', 'lse', 'dOut'], out: ['dq', 'dk', 'dv'] },
} as const;
export type AttnKind = keyof typeof ATTN_IO;
/**
 * what a worker is asked: attention over kv heads g0 … g1 − 1 (and their query heads). Every
 * tensor is whole in a shared buffer (ATTN_IO: inputs float64, outputs float32); the worker
 * reads and writes its heads only.
 */
export interface AttentionTask {
  kind: AttnKind;
  shape: AttnKernelShape;
  g0: number;
  g1: number;
  docIds: Int32Array;
  opts: AttnPartOptions;
  bufs: Record<string, SharedArrayBuffer>;
}
export type PoolTask = MatmulTask | AttentionTask;

/** the sizes of an attention kind's outputs */
export function attentionOutputSizes(kind: AttnKind, { Hq, Hkv, L, D }: AttnKernelShape): Record<string, number> {
  const size: Record<string, number> = { out: Hq * L * D, lse: Hq * L, dq: Hq * L * D, dk: Hkv * L * D, dv: Hkv * L * D };
  return Object.fromEntries(ATTN_IO[kind].out.map((k) => [k, size[k]]));
}

/** the attention tensors indexed by kv head (k, v and their gradients); every other one (q, out, lse, dOut, dq) by query head */
const KV_TENSORS = new Set(['k', 'v', 'dk', 'dv']);
type Views = Record<string, Float32Array | Float64Array>;

/** whole-tensor views of an attention task's shared buffers */
export const attentionViews = (kind: AttnKind, bufs: Record<string, SharedArrayBuffer>): Views =>
  Object.fromEntries([...ATTN_IO[kind].in.map((k) => [k, new Float64Array(bufs[k])]), ...ATTN_IO[kind].out.map((k) => [k, new Float32Array(bufs[k])])]);

/**
 * Runs one part of an attention call, kv heads g0 … g1 − 1 and their query heads (heads are the
 * outer dimension, so each tensor's part is a contiguous view), on `be`, writing the part's
 * outputs into their views. The block table depends only on (variant, doc ids, B): the caller's
 * is passed in, a worker builds its own.
 */
export function runAttentionPart(kind: AttnKind, whole: Views, shape: AttnKernelShape, g0: number, g1: number, docIds: ArrayLike<number>, opts: AttnPartOptions, be: KernelBackend, table?: BlockTable): void {
  const { Hq, Hkv, L, D } = shape;
  const group = Hq / Hkv;
  const v: Views = {};
  for (const [k, t] of Object.entries(whole)) {
    const [heads, h0, h1] = KV_TENSORS.has(k) ? [Hkv, g0, g1] : [Hq, g0 * group, g1 * group];
    const per = t.length / heads;
    v[k] = t.subarray(h0 * per, h1 * per);
  }
  const part = { Hq: (g1 - g0) * group, Hkv: g1 - g0, L, D };
  const o = { ...opts, table: table ?? blockTable(opts.variant, docIds, opts.blockSize) };
  if (kind === 'attention') {
    const r = runPlanSync(attentionForwardPlan(v.q, v.k, v.v, part, docIds, o), be);
    v.out.set(r.out);
    v.lse.set(r.lse);
  } else {
    const r = runPlanSync(attentionBackwardPlan(v.q, v.k, v.v, v.out, v.lse, v.dOut, part, docIds, o), be);
    v.dq.set(r.dq);
    v.dk.set(r.dk);
    v.dv.set(r.dv);
  }
}

/** control words shared with every worker */
export const CTRL = { done: 0, failed: 1, ready: 2 } as const;
export const ERROR_BYTES = 2048;

/** worker threads a kernel model backend uses by default: the cores this process may run on, at most 8 */
export const defaultModelThreads = (): number => Math.max(1, Math.min(8, availableParallelism()));

/** how long a new worker may take to load before the pool gives up (tsx compiles the sources on first load) */
const START_TIMEOUT_MS = 120_000;

export class KernelPool {
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
      const w = startWorker(import.meta.url, './kernel-worker', { backend: this.backend, ctrl: this.ctrl.buffer, err: this.err.buffer });
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
    this.broken = `kernel worker threads ${why}; run with one thread (--threads 1)`;
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
    throw new OpError('INTERNAL', `kernel worker: ${msg}`);
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
    const step = R * Math.ceil(M / R / parts);
    const cv = this.view('c', M * N);
    const tasks: PoolTask[] = [];
    for (let p = 1; p < parts && p * step < M; p++) tasks.push({ kind: 'matmul', a: this.bufs.a!, b: this.bufs.b!, c: this.bufs.c!, m0: p * step, m1: Math.min(M, (p + 1) * step), K, N, out });
    const m1 = Math.min(M, step);
    this.together(tasks, () => cv.set(local(av.subarray(0, m1 * K), bv, m1)));
    return cv;
  }

  /**
   * attention split by kv heads over the threads (parts of whole kv-head groups, as even as the
   * count allows): the tensors copied into shared buffers, the worker parts posted, the first
   * part run here on `be`; returns the outputs (views of the shared buffers)
   */
  attention(kind: AttnKind, inputs: Record<string, ArrayLike<number>>, shape: AttnKernelShape, docIds: ArrayLike<number>, opts: AttnPartOptions, be: KernelBackend, table: BlockTable): Record<string, Float32Array> {
    const bufs: Record<string, SharedArrayBuffer> = {};
    for (const k of ATTN_IO[kind].in) bufs[k] = new SharedArrayBuffer(8 * inputs[k].length);
    for (const [k, n] of Object.entries(attentionOutputSizes(kind, shape))) bufs[k] = new SharedArrayBuffer(4 * n);
    const whole = attentionViews(kind, bufs);
    for (const k of ATTN_IO[kind].in) (whole[k] as Float64Array).set(inputs[k]);
    const parts = Math.min(this.threads, shape.Hkv);
    const bound = (p: number) => Math.round((p * shape.Hkv) / parts);
    const ids = Int32Array.from(docIds);
    const tasks: PoolTask[] = [];
    for (let p = 1; p < parts; p++) tasks.push({ kind, shape, g0: bound(p), g1: bound(p + 1), docIds: ids, opts, bufs });
    this.together(tasks, () => runAttentionPart(kind, whole, shape, 0, bound(1), docIds, opts, be, table));
    return Object.fromEntries(ATTN_IO[kind].out.map((k) => [k, whole[k] as Float32Array]));
  }

  /** post `tasks` to workers 1 … n, run `local` here, wait for every worker */
  private together(tasks: PoolTask[], local: () => void): void {
    if (tasks.length) this.start();
    Atomics.store(this.ctrl, CTRL.done, 0);
    tasks.forEach((t, i) => this.workers[i].postMessage(t));
    local();
    for (let d = Atomics.load(this.ctrl, CTRL.done); d < tasks.length; d = Atomics.load(this.ctrl, CTRL.done)) Atomics.wait(this.ctrl, CTRL.done, d);
    this.throwIfFailed();
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

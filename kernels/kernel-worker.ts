// A KernelPool worker (kernels/kernel-pool.ts): opens its own kernel backend (webasm or cpu),
// then for each task runs the one-thread path's code on its part and writes it into the shared
// output: rows m0 … m1 − 1 of c = a · b (matmulPlan), or attention over kv heads g0 … g1 − 1
// (runAttentionPart). A failure is written to the shared error bytes; the done counter is
// raised either way, so the waiting main thread always wakes.

import { parentPort, workerData } from 'node:worker_threads';
import { matmulPlan, matmulRows, runPlanSync } from './ops.ts';
import { openBackendSync } from './runtime.ts';
import { attentionViews, CTRL, ERROR_BYTES, runAttentionPart, type PoolTask } from './kernel-pool.ts';

const { backend, ctrl: ctrlBuf, err: errBuf } = workerData as { backend: 'webasm' | 'cpu'; ctrl: SharedArrayBuffer; err: SharedArrayBuffer };
const ctrl = new Int32Array(ctrlBuf);
const err = new Uint8Array(errBuf);

function fail(e: unknown): void {
  const bytes = new TextEncoder().encode(String((e as Error)?.message ?? e)).subarray(0, ERROR_BYTES - 1);
  err.fill(0);
  err.set(bytes);
  Atomics.store(ctrl, CTRL.failed, 1);
}

try {
  const be = openBackendSync(backend);
  const R = matmulRows(be.name);
  parentPort!.on('message', (t: PoolTask) => {
    try {
      if (t.kind === 'matmul') {
        const Mc = t.m1 - t.m0;
        const a = new Float32Array(t.a, 4 * t.m0 * t.K, Mc * t.K);
        const b = new Float32Array(t.b, 0, t.K * t.N);
        new Float32Array(t.c, 4 * t.m0 * t.N, Mc * t.N).set(runPlanSync(matmulPlan(a, b, Mc, t.K, t.N, t.out, R), be));
      } else runAttentionPart(t.kind, attentionViews(t.kind, t.bufs), t.shape, t.g0, t.g1, t.docIds, t.opts, be);
    } catch (e) {
      fail(e);
    }
    Atomics.add(ctrl, CTRL.done, 1);
    Atomics.notify(ctrl, CTRL.done);
  });
} catch (e) {
  fail(e);
}
Atomics.add(ctrl, CTRL.ready, 1);
Atomics.notify(ctrl, CTRL.ready);

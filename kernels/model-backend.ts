// The model's Backend (reference/model/backend.ts) on generated kernels, synchronous: webasm
// or cpu (gpu.js runs them in this process). webgl2 answers over the browser bridge, so it
// cannot back the synchronous model interface; use the async ops in kernels/ops.ts there.
//
// Kernel ops: RMSNorm forward, SwiGLU forward, cross-entropy, attention forward and backward
// (paths f32 and bf16_flash). Everything else, and every op under the f64 policy or the bf16_eager
// attention path, is the reference's (each listed in SPEC.md, "Kernels").

import { referenceBackend, type Backend } from '../reference/model/backend.ts';
import type { Policy } from '../reference/model/precision.ts';
import type { Variant } from '../reference/masks.ts';
import { attentionBackwardPlan, attentionForwardPlan, blockTable, crossEntropyPlan, rmsnormPlan, runPlanSync, swigluPlan, type ActRounding, type BlockTable } from './ops.ts';
import { openBackendSync } from './runtime.ts';

export type KernelBackendName = 'webasm' | 'cpu';
export const MODEL_BACKENDS = ['reference', 'webasm', 'cpu'] as const;

const f64 = (x: Float32Array): Float64Array => Float64Array.from(x);
const actOf = (pol: Policy): ActRounding | null => (pol.name === 'f32' ? 'f32' : pol.name === 'bf16' ? 'bf16' : null);

/** a model Backend running the kernel ops on webasm or cpu */
export function kernelModelBackend(name: KernelBackendName, opts: { blockSize?: number } = {}): Backend {
  const be = openBackendSync(name);
  const B = opts.blockSize ?? 32;
  // the block table depends only on (variant, doc ids): build it once per window, reuse across layers
  let tableKey: { variant: string; docIds: ArrayLike<number> } | null = null;
  let table: BlockTable | null = null;
  const tableFor = (variant: string, docIds: ArrayLike<number>): BlockTable => {
    if (!tableKey || tableKey.variant !== variant || tableKey.docIds !== docIds) {
      tableKey = { variant, docIds };
      table = blockTable(variant as Variant, docIds, B);
    }
    return table!;
  };
  return {
    ...referenceBackend,
    name,
    rmsnorm(x, T, d, w, eps, pol) {
      const act = actOf(pol);
      if (!act) return referenceBackend.rmsnorm(x, T, d, w, eps, pol);
      const r = runPlanSync(rmsnormPlan(x, T, d, w, eps, act), be);
      return { out: f64(r.out), rstd: f64(r.rstd) };
    },
    swiglu(gate, up, pol) {
      const act = actOf(pol);
      if (!act) return referenceBackend.swiglu(gate, up, pol);
      const r = runPlanSync(swigluPlan(gate, up, act), be);
      return { out: f64(r.out), act: f64(r.act) };
    },
    crossEntropy(logits, T, V, labels, pol) {
      const act = actOf(pol);
      if (!act) return referenceBackend.crossEntropy(logits, T, V, labels, pol);
      const r = runPlanSync(crossEntropyPlan(logits, T, V, labels, act), be);
      return { loss: r.loss, dlogits: f64(r.dlogits), count: r.count, perToken: r.perToken };
    },
    attention(q, k, v, shape, docIds, o) {
      if ((o.precision !== 'f32' && o.precision !== 'bf16_flash') || o.exactQK) return referenceBackend.attention(q, k, v, shape, docIds, o);
      const r = runPlanSync(attentionForwardPlan(q, k, v, shape, docIds, { variant: o.variant, precision: o.precision, scale: o.scale, table: tableFor(o.variant, docIds) }), be);
      return { out: f64(r.out), lse: f64(r.lse) };
    },
    attentionBackward(q, k, v, out, lse, dOut, shape, docIds, o) {
      if ((o.precision !== 'f32' && o.precision !== 'bf16_flash') || o.exactQK) return referenceBackend.attentionBackward(q, k, v, out, lse, dOut, shape, docIds, o);
      const r = runPlanSync(attentionBackwardPlan(q, k, v, out, lse, dOut, shape, docIds, { variant: o.variant, precision: o.precision, scale: o.scale, table: tableFor(o.variant, docIds) }), be);
      return { dq: f64(r.dq), dk: f64(r.dk), dv: f64(r.dv) };
    },
  };
}

/** the Backend a --backend option names: 'reference' (default) or a kernel backend */
export function modelBackendByName(name: string | undefined): Backend {
  if (name === undefined || name === 'reference') return referenceBackend;
  if (name === 'webasm' || name === 'cpu') return kernelModelBackend(name);
  throw new RangeError(`--backend must be one of ${MODEL_BACKENDS.join(', ')}, got ${JSON.stringify(name)}`);
}

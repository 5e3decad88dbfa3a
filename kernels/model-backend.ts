// The model's Backend (reference/model/backend.ts) on generated kernels, synchronous: webasm
// or cpu (gpu.js runs them in this process). webgl2 answers over the browser bridge, so it
// cannot back the synchronous model interface; use the async ops in kernels/ops.ts there.
//
// Kernel ops: linear forward and backward (the LM head included; chunked matmuls, float32
// accumulation, one rounding to the policy dtype), RMSNorm forward, SwiGLU forward,
// cross-entropy, attention forward and backward (paths f32 and bf16_flash), RoPE forward (paths
// f32, hf, paper: bit for bit the reference's). Everything else, every
// op under the f64 policy or the bf16_eager attention path, and every op below its
// KERNEL_MIN_WORK size, are the reference's (each listed in SPEC.md, "Kernels").

import { referenceBackend, type Backend } from '../reference/model/backend.ts';
import { bf16Value } from '../reference/bf16.ts';
import type { Round } from '../reference/model/layers.ts';
import type { Policy } from '../reference/model/precision.ts';
import type { Variant } from '../reference/masks.ts';
import { blockTable, crossEntropyPlan, matmulPlan, matmulRows, MAX_KERNEL_ELEMENTS, rmsnormPlan, ropeApplyPlan, runPlanSync, swigluPlan, transposeTiled, type ActRounding, type AttnKernelShape, type BlockTable } from './ops.ts';
import { openBackendSync } from './runtime.ts';
import { attentionOutputSizes, defaultModelThreads, KernelPool, runAttentionPart, type AttnKind, type AttnPartOptions } from './kernel-pool.ts';

export type KernelBackendName = 'webasm' | 'cpu';
export const MODEL_BACKENDS = ['reference', 'webasm', 'cpu'] as const;

const f64 = (x: Float32Array): Float64Array => Float64Array.from(x);
const actOf = (pol: Policy): ActRounding | null => (pol.name === 'f32' ? 'f32' : pol.name === 'bf16' ? 'bf16' : null);
/** a linear's rounding (the policy's `act`): f32 (Math.fround), bf16 (bf16Value), or null (f64: the reference's) */
const roundOf = (round: Round): ActRounding | null => (round === Math.fround ? 'f32' : round === bf16Value ? 'bf16' : null);

/**
 * Below these sizes an op runs on the reference: there the kernel call's fixed cost (argument
 * conversion, gpu.js dispatch) loses to the plain JS loop, and the kernel Backend is never to
 * be slower than the reference (bench/model.bench.ts --sizes measures the crossovers; SPEC.md,
 * "Model Backend"). Sizes: linear T·nIn·nOut multiply-adds, rmsnorm T·d, swiglu elements,
 * crossEntropy T·V, attention (forward and backward) Hq·L²·D, rope (forward) H·T·D.
 */
export const KERNEL_MIN_WORK = {
  linear: 1 << 14,
  rmsnorm: 1 << 12,
  swiglu: 1 << 12,
  crossEntropy: 1 << 12,
  attention: 1 << 14,
  attentionBackward: 1 << 14,
  rope: 1 << 12,
} as const;
export type KernelModelOp = keyof typeof KERNEL_MIN_WORK;
/** minWork that puts every op on the kernels whatever its size (tests, the crossover bench) */
export const ALWAYS_KERNELS = Object.fromEntries(Object.keys(KERNEL_MIN_WORK).map((op) => [op, 0])) as Record<KernelModelOp, number>;

/**
 * Matmuls with at least this many multiply-adds split their rows over the backend's worker
 * threads (kernels/kernel-pool.ts); below it the post-and-wait round trip (about 0.1 ms) is not
 * worth it. Attention (forward and backward) splits its kv-head groups over the threads from the
 * same size in Hq·L²·D. Bit-identical either way.
 */
export const PARALLEL_MIN_WORK = 1 << 20;

/** webasm indexes in float32: an op whose whole tensors reach 2^24 elements runs on the reference (linears are chunked instead) */
const tooBig = (...n: number[]): boolean => n.some((x) => x > MAX_KERNEL_ELEMENTS);

/** [R, C] row-major → [C, R], into `y` when given */
const transpose = (x: ArrayLike<number>, R: number, C: number, y: Float32Array<ArrayBufferLike> = new Float32Array(R * C)): Float32Array<ArrayBufferLike> => transposeTiled(x, R, C, y);

export interface KernelModelOptions {
  /** attention tile size (default 32) */
  blockSize?: number;
  /** per op, the size below which it runs on the reference (default KERNEL_MIN_WORK) */
  minWork?: Partial<Record<KernelModelOp, number>>;
  /** threads for the linears' matmuls, this one included (default: the usable cores, at most 8) */
  threads?: number;
}

/** a model Backend running the kernel ops on webasm or cpu */
export function kernelModelBackend(name: KernelBackendName, opts: KernelModelOptions = {}): Backend & { close(): Promise<void> } {
  const be = openBackendSync(name);
  const B = opts.blockSize ?? 32;
  const minWork: Record<KernelModelOp, number> = { ...KERNEL_MIN_WORK, ...opts.minWork };
  const threads = opts.threads ?? defaultModelThreads();
  const R = matmulRows(be.name);
  const pool = threads > 1 ? new KernelPool(name, threads) : null;
  const parallel = (M: number, K: number, N: number): boolean => pool !== null && M * K * N >= PARALLEL_MIN_WORK;
  /** c [M, N] = a · b (on the pool's threads when big enough; the result is read before the next call) */
  const mm = (a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, out: ActRounding): Float32Array =>
    parallel(M, K, N)
      ? pool!.run(a, b, M, K, N, out, R, (ab, bb, Mc) => runPlanSync(matmulPlan(ab, bb, Mc, K, N, out, R), be))
      : runPlanSync(matmulPlan(a, b, M, K, N, out, R), be);
  const attnWork = (s: { Hq: number; L: number; D: number }): number => s.Hq * s.L * s.L * s.D;
  /** attention splits its kv-head groups over the pool's threads when there are several and it is big enough */
  const splitAttention = (s: { Hq: number; Hkv: number; L: number; D: number }): boolean => pool !== null && s.Hkv >= 2 && attnWork(s) >= PARALLEL_MIN_WORK;
  /**
   * attention forward or backward: split by kv-head groups over the pool's threads when big
   * enough, else here; either way every part is runAttentionPart (here: all kv heads at once)
   */
  const attend = (kind: AttnKind, inputs: Record<string, Float64Array>, shape: AttnKernelShape, docIds: ArrayLike<number>, o: { variant: Variant; precision: string; scale?: number }): Record<string, Float32Array> => {
    const opts: AttnPartOptions = { variant: o.variant, precision: o.precision as AttnPartOptions['precision'], scale: o.scale, blockSize: B };
    const table = tableFor(o.variant, docIds);
    if (splitAttention(shape)) return pool!.attention(kind, inputs, shape, docIds, opts, be, table);
    const outputs = Object.fromEntries(Object.entries(attentionOutputSizes(kind, shape)).map(([k, n]) => [k, new Float32Array(n)]));
    runAttentionPart(kind, { ...inputs, ...outputs }, shape, 0, shape.Hkv, docIds, opts, be, table);
    return outputs;
  };
  /** where a transposed operand goes: straight into the pool's shared input when the matmul runs there */
  const operand = (role: 'a' | 'b', M: number, K: number, N: number): Float32Array | undefined => (parallel(M, K, N) ? pool!.view(role, role === 'a' ? M * K : K * N) : undefined);
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
    close: async () => pool?.close(),
    // y = round(x·Wᵀ + b): yᵀ [nOut, T] = W [nOut, nIn] · xᵀ [nIn, T] (W's rows are the kernel's
    // a rows, chunked without a copy), float32 sums over i in order; with a bias the float32 sum
    // comes back and round(sum + b) is formed here, so each output is still rounded once
    linear(x, T, nIn, W, nOut, b, round) {
      const act = roundOf(round);
      if (!act || T * nIn * nOut < minWork.linear) return referenceBackend.linear(x, T, nIn, W, nOut, b, round);
      const yT = mm(W, transpose(x, T, nIn, operand('b', nOut, nIn, T)), nOut, nIn, T, b ? 'f32' : act);
      // y [T, nOut] = yT [nOut, T] transposed (+ b[o], rounded once)
      return transposeTiled(yT, nOut, T, new Float64Array(T * nOut), { map: b ? (v, o) => round(v + b[o]) : undefined });
    },
    // dx [T, nIn] = dy [T, nOut] · W [nOut, nIn] (sum over o in order), dW [nOut, nIn] = dyᵀ · x
    // (sum over t in order): float32 sums rounded once by the kernel, dW returned in float32
    // storage; db = round(Σ_t dy) in f64
    linearBackward(dy, x, T, nIn, W, nOut, hasBias, round) {
      const act = roundOf(round);
      if (!act || T * nIn * nOut < minWork.linear) return referenceBackend.linearBackward(dy, x, T, nIn, W, nOut, hasBias, round);
      const dx = f64(mm(dy, W, T, nOut, nIn, act));
      // dW stays float32 (its values are the policy dtype's; a copy: mm's result may be a reused buffer)
      const dW = mm(transpose(dy, T, nOut, operand('a', nOut, T, nIn)), x, nOut, T, nIn, act).slice();
      let db: Float64Array | null = null;
      if (hasBias) {
        db = new Float64Array(nOut);
        for (let t = 0; t < T; t++) for (let o = 0; o < nOut; o++) db[o] += dy[t * nOut + o];
        for (let o = 0; o < nOut; o++) db[o] = round(db[o]);
      }
      return { dx, dW, db };
    },
    // RoPE forward on the f32 / hf / paper paths: the kernel is the reference's ropeApply bit for bit
    ropeApply(x, H, T, D, cos, sin, cfg) {
      if (cfg.path === 'f64' || cfg.exactStages?.size || tooBig(x.length) || x.length < minWork.rope) return referenceBackend.ropeApply(x, H, T, D, cos, sin, cfg);
      return f64(runPlanSync(ropeApplyPlan(x, H, T, D, cos, sin, cfg.path, cfg.layout), be));
    },
    rmsnorm(x, T, d, w, eps, pol) {
      const act = actOf(pol);
      if (!act || tooBig(T * d) || T * d < minWork.rmsnorm) return referenceBackend.rmsnorm(x, T, d, w, eps, pol);
      const r = runPlanSync(rmsnormPlan(x, T, d, w, eps, act), be);
      return { out: f64(r.out), rstd: f64(r.rstd) };
    },
    swiglu(gate, up, pol) {
      const act = actOf(pol);
      if (!act || tooBig(2 * gate.length) || gate.length < minWork.swiglu) return referenceBackend.swiglu(gate, up, pol);
      const r = runPlanSync(swigluPlan(gate, up, act), be);
      return { out: f64(r.out), act: f64(r.act) };
    },
    crossEntropy(logits, T, V, labels, pol) {
      const act = actOf(pol);
      if (!act || tooBig(T * V) || T * V < minWork.crossEntropy) return referenceBackend.crossEntropy(logits, T, V, labels, pol);
      const r = runPlanSync(crossEntropyPlan(logits, T, V, labels, act), be);
      return { loss: r.loss, dlogits: f64(r.dlogits), count: r.count, perToken: r.perToken };
    },
    attention(q, k, v, shape, docIds, o) {
      if ((o.precision !== 'f32' && o.precision !== 'bf16_flash') || o.exactQK || tooBig(q.length, k.length) || attnWork(shape) < minWork.attention) return referenceBackend.attention(q, k, v, shape, docIds, o);
      const r = attend('attention', { q, k, v }, shape, docIds, o);
      return { out: f64(r.out), lse: f64(r.lse) };
    },
    attentionBackward(q, k, v, out, lse, dOut, shape, docIds, o) {
      if ((o.precision !== 'f32' && o.precision !== 'bf16_flash') || o.exactQK || tooBig(q.length, k.length) || attnWork(shape) < minWork.attentionBackward) return referenceBackend.attentionBackward(q, k, v, out, lse, dOut, shape, docIds, o);
      const r = attend('attentionBackward', { q, k, v, out, lse, dOut }, shape, docIds, o);
      return { dq: f64(r.dq), dk: f64(r.dk), dv: f64(r.dv) };
    },
  };
}

/** the Backend a --backend option names: 'reference' (default) or a kernel backend */
export function modelBackendByName(name: string | undefined, threads?: number): Backend {
  if (name === undefined || name === 'reference') return referenceBackend;
  if (name === 'webasm' || name === 'cpu') return kernelModelBackend(name, { threads });
  throw new RangeError(`--backend must be one of ${MODEL_BACKENDS.join(', ')}, got ${JSON.stringify(name)}`);
}

// Host wrappers: check shapes, lay out arguments, run the generated kernel on a backend.
// Inputs are values (any ArrayLike<number>); they are stored as float32 for the kernel, so
// pass values already rounded to the path's storage (bf16 values for bf16 paths).

import { OpError } from '../io/errors.ts';
import { blockMask, BLOCK_EMPTY, BLOCK_FULL, type Variant } from '../reference/masks.ts';
import { GENERATED, type KernelName } from '../generated/index.ts';
import { openBackend, type KernelArg, type KernelBackend } from './runtime.ts';
import type { GeneratedKernel } from './types.ts';
import type { BackendName } from './types.ts';

export type BackendChoice = KernelBackend | BackendName | undefined;

async function resolve(b: BackendChoice): Promise<KernelBackend> {
  return typeof b === 'object' ? b : openBackend(b);
}
const f32 = (x: ArrayLike<number>): Float32Array => (x instanceof Float32Array ? x : Float32Array.from(x));
async function run(b: BackendChoice, name: KernelName, args: KernelArg[], output: number[]): Promise<Float32Array> {
  const be = await resolve(b);
  return be.run(GENERATED[name][be.name], args, output);
}
function need(cond: boolean, msg: string): void {
  if (!cond) throw new OpError('BAD_TENSOR', msg);
}

/** bf16 values (RNE, NaN stays NaN) of float32 values */
export async function bf16Round(x: ArrayLike<number>, backend?: BackendChoice): Promise<Float32Array> {
  if (x.length === 0) return new Float32Array(0);
  return run(backend, 'bf16Round', [f32(x)], [x.length]);
}

/** c [M, N] = a [M, K] · b [K, N], bf16 inputs, float32 accumulation in k order; out 'f32' or 'bf16' */
export async function matmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, out: 'f32' | 'bf16' = 'f32', backend?: BackendChoice): Promise<Float32Array> {
  need(a.length === M * K && b.length === K * N, `matmul: a has ${a.length} values (M·K = ${M * K}), b has ${b.length} (K·N = ${K * N})`);
  return run(backend, 'matmul', [f32(a), f32(b), K, N, out === 'bf16' ? 1 : 0], [N, M]);
}

export type RopeKernelPath = 'f32' | 'hf' | 'paper';
/** reference/rope.ts ropeApply for x [H, T, D] and cos/sin [T, D], paths f32 / hf / paper */
export async function ropeApply(
  x: ArrayLike<number>, H: number, T: number, D: number, cos: ArrayLike<number>, sin: ArrayLike<number>,
  path: RopeKernelPath, layout: 'half' | 'interleaved' = 'half', backend?: BackendChoice,
): Promise<Float32Array> {
  need(D % 2 === 0 && D >= 2, `rope.apply: head dim D must be even, got ${D}`);
  need(x.length === H * T * D && cos.length === T * D && sin.length === T * D, `rope.apply: x/cos/sin sizes ${x.length}/${cos.length}/${sin.length} do not match H·T·D, T·D`);
  const p = { f32: 0, hf: 1, paper: 2 }[path];
  if (p === undefined) throw new OpError('BAD_ARGS', `rope.apply kernel: path must be f32, hf or paper, got ${path}`);
  return run(backend, 'ropeApply', [f32(x), f32(cos), f32(sin), T, D, D / 2, p, layout === 'interleaved' ? 1 : 0], [D, T, H]);
}

// ---------------------------------------------------------------- attention
export interface BlockTable {
  B: number;
  nb: number;
  /** CSR over query blocks: tiles rowStart[qb] … rowStart[qb+1]−1, in increasing key block */
  rowStart: Int32Array;
  tileKb: Int32Array;
  /** 1 = every pair allowed (the mask is skipped), 0 = partial */
  tileFull: Int32Array;
}
const VARIANT_CODE: Record<Variant, number> = { full: 0, intra_doc: 1, intra_doc_reset: 1, anchor: 2 };

/** the block table of a mask: reference/masks.ts blockMask, empty tiles dropped */
export function blockTable(variant: Variant, docIds: ArrayLike<number>, B: number): BlockTable {
  const { nb, kind } = blockMask(variant, docIds, B);
  const rowStart = new Int32Array(nb + 1);
  const kb: number[] = [];
  const full: number[] = [];
  for (let qb = 0; qb < nb; qb++) {
    for (let c = 0; c < nb; c++) {
      const k = kind[qb * nb + c];
      if (k === BLOCK_EMPTY) continue;
      kb.push(c);
      full.push(k === BLOCK_FULL ? 1 : 0);
    }
    rowStart[qb + 1] = kb.length;
  }
  return { B, nb, rowStart, tileKb: Int32Array.from(kb), tileFull: Int32Array.from(full) };
}

export interface AttnKernelShape {
  Hq: number;
  Hkv: number;
  L: number;
  D: number;
}
export interface AttnKernelOptions {
  variant: Variant;
  /** 'bf16_flash' (bf16 q/k/v values, P and out in bf16) or 'f32' */
  precision: 'bf16_flash' | 'f32';
  scale?: number;
  /** tile size B (a multiple of 4); default 64 */
  blockSize?: number;
  /** a prebuilt block table (build once per step, reuse across layers) */
  table?: BlockTable;
  /** most tiles per chunk (memory: two chunk·B² float arrays); default 1024 */
  chunkTiles?: number;
}

// ---------------------------------------------------------------- plans
// A host computation that runs kernels is written once as a generator: it yields each
// kernel call and receives its output, so a synchronous driver (webasm, cpu) and an
// asynchronous one (webgl2) share the code.
export interface KernelCall {
  name: KernelName;
  args: KernelArg[];
  output: number[];
}
export type Plan<T> = Generator<KernelCall, T, Float32Array>;

/** run a plan on a backend that can run synchronously */
export function runPlanSync<T>(plan: Plan<T>, be: KernelBackend): T {
  if (!be.runSync) throw new OpError('BAD_ARGS', `kernel backend ${be.name} cannot run synchronously`);
  let r = plan.next();
  while (!r.done) r = plan.next(be.runSync(GENERATED[r.value.name][be.name] as GeneratedKernel, r.value.args, r.value.output));
  return r.value;
}
/** run a plan on any backend */
export async function runPlan<T>(plan: Plan<T>, backend?: BackendChoice): Promise<T> {
  const be = await resolve(backend);
  let r = plan.next();
  while (!r.done) r = plan.next(await be.run(GENERATED[r.value.name][be.name] as GeneratedKernel, r.value.args, r.value.output));
  return r.value;
}

/** 2^(i − 149) for i = 0 … 149: the exponent table of the kernels' expf */
export const POW2_TABLE: Float32Array = Float32Array.from({ length: 150 }, (_, i) => 2 ** (i - 149));

/**
 * The plan of block-sparse attention forward: out [Hq, L, D] and lse [Hq, L] for q [Hq, L, D],
 * k/v [Hkv, L, D]; reference/attention.ts attentionForward on the same precision path.
 */
export function* attentionForwardPlan(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, shape: AttnKernelShape, docIds: ArrayLike<number>, opts: AttnKernelOptions,
): Plan<{ out: Float32Array; lse: Float32Array }> {
  const { Hq, Hkv, L, D } = shape;
  need(Number.isInteger(Hq / Hkv) && Hq >= 1 && Hkv >= 1, `attention: Hq (${Hq}) must be a positive multiple of Hkv (${Hkv})`);
  need(q.length === Hq * L * D && k.length === Hkv * L * D && v.length === Hkv * L * D, `attention: q/k/v have ${q.length}/${k.length}/${v.length} values for Hq=${Hq}, Hkv=${Hkv}, L=${L}, D=${D}`);
  need(docIds.length === L, `attention: doc ids have length ${docIds.length}, expected L = ${L}`);
  const B = opts.table?.B ?? opts.blockSize ?? 64;
  if (B % 4 !== 0 || B < 4) throw new OpError('BAD_ARGS', `attention: block size must be a positive multiple of 4, got ${B}`);
  if (opts.precision !== 'bf16_flash' && opts.precision !== 'f32') throw new OpError('BAD_ARGS', `attention kernel: precision must be bf16_flash or f32, got ${opts.precision}`);
  const table = opts.table ?? blockTable(opts.variant, docIds, B);
  const scale = Math.fround(opts.scale ?? 1 / Math.sqrt(D));
  const group = Hq / Hkv;
  const variant = VARIANT_CODE[opts.variant];
  const bf16io = opts.precision === 'bf16_flash' ? 1 : 0;
  const qf = f32(q);
  const kf = f32(k);
  const vf = f32(v);
  const ids = f32(docIds);
  const out = new Float32Array(Hq * L * D);
  const lse = new Float32Array(Hq * L);
  // entries (head, query block) in order, cut into chunks of at most `cap` tiles; every chunk
  // is padded to the same sizes (capT tiles, capE entries) so each kernel compiles once
  const rowTiles = (qb: number) => table.rowStart[qb + 1] - table.rowStart[qb];
  const entries: { h: number; qb: number }[] = [];
  for (let h = 0; h < Hq; h++) for (let qb = 0; qb < table.nb; qb++) entries.push({ h, qb });
  const totalTiles = Hq * table.rowStart[table.nb];
  const capT = Math.min(totalTiles, Math.max(opts.chunkTiles ?? 1024, ...Array.from({ length: table.nb }, (_, qb) => rowTiles(qb))));
  const chunks: [number, number][] = [];
  for (let e0 = 0; e0 < entries.length; ) {
    let e1 = e0;
    let tiles = 0;
    while (e1 < entries.length && tiles + rowTiles(entries[e1].qb) <= capT) tiles += rowTiles(entries[e1++].qb);
    chunks.push([e0, e1]);
    e0 = e1;
  }
  const capE = Math.max(...chunks.map(([a, b]) => b - a));
  const R = capE * B;
  for (const [e0, e1] of chunks) {
    const tH = new Float32Array(capT);
    const tQb = new Float32Array(capT);
    const tKb = new Float32Array(capT);
    const tFull = new Float32Array(capT).fill(-1);
    const tRow = new Float32Array(capT);
    const cH = new Float32Array(capE);
    const cStart = new Float32Array(capE);
    const cEnd = new Float32Array(capE);
    let t = 0;
    for (let c = 0; c < e1 - e0; c++) {
      const { h, qb } = entries[e0 + c];
      cH[c] = h;
      cStart[c] = t;
      for (let x = table.rowStart[qb]; x < table.rowStart[qb + 1]; x++, t++) {
        tH[t] = h;
        tQb[t] = qb;
        tKb[t] = table.tileKb[x];
        tFull[t] = table.tileFull[x];
        tRow[t] = c * B;
      }
      cEnd[c] = t;
    }
    const s = yield { name: 'attnScores', args: [qf, kf, ids, tH, tQb, tKb, tFull, L, D, B, group, variant, scale], output: [B, B, capT] };
    const stats = yield { name: 'attnRowStats', args: [s, cStart, cEnd, POW2_TABLE, B], output: [R, 2] };
    const p = yield { name: 'attnProbs', args: [s, stats, tRow, POW2_TABLE, B, bf16io], output: [B, B, capT] };
    const o = yield { name: 'attnOut', args: [p, vf, stats, cH, cStart, cEnd, tKb, L, D, B, group, R, bf16io], output: [D, R] };
    for (let c = 0; c < e1 - e0; c++) {
      const { h, qb } = entries[e0 + c];
      const rows = Math.min(B, L - qb * B);
      out.set(o.subarray(c * B * D, (c * B + rows) * D), (h * L + qb * B) * D);
      // lse = f32(m + f32(log l)), the reference's formula
      for (let ii = 0; ii < rows; ii++) lse[h * L + qb * B + ii] = Math.fround(stats[c * B + ii] + Math.fround(Math.log(stats[R + c * B + ii])));
    }
  }
  return { out, lse };
}

/** block-sparse attention forward on a backend (see attentionForwardPlan) */
export function attentionForward(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, shape: AttnKernelShape, docIds: ArrayLike<number>, opts: AttnKernelOptions, backend?: BackendChoice,
): Promise<{ out: Float32Array; lse: Float32Array }> {
  return runPlan(attentionForwardPlan(q, k, v, shape, docIds, opts), backend);
}

// ---------------------------------------------------------------- model layers
export type ActRounding = 'f32' | 'bf16';
const actCode = (a: ActRounding): number => {
  if (a !== 'f32' && a !== 'bf16') throw new OpError('BAD_ARGS', `layer kernel: activation rounding must be f32 or bf16, got ${a}`);
  return a === 'bf16' ? 1 : 0;
};

/** RMSNorm forward (reference/model/layers.ts rmsnormForward, f32 statistics): out [T, d], rstd [T] */
export function* rmsnormPlan(x: ArrayLike<number>, T: number, d: number, w: ArrayLike<number>, eps: number, act: ActRounding): Plan<{ out: Float32Array; rstd: Float32Array }> {
  need(x.length === T * d && w.length === d && T >= 1 && d >= 1, `rmsnorm: x has ${x.length} values (T·d = ${T * d}), w ${w.length} (d = ${d})`);
  const a = actCode(act);
  const xf = f32(x);
  const rstd = yield { name: 'rmsnormRstd', args: [xf, d, Math.fround(eps)], output: [T] };
  const out = yield { name: 'rmsnormApply', args: [xf, f32(w), rstd, d, a], output: [d, T] };
  return { out, rstd };
}

/** SwiGLU forward (reference/model/layers.ts swigluForward): out = act(act(silu(gate))·up), act */
export function* swigluPlan(gate: ArrayLike<number>, up: ArrayLike<number>, act: ActRounding): Plan<{ out: Float32Array; act: Float32Array }> {
  need(gate.length === up.length && gate.length >= 1, `swiglu: gate has ${gate.length} values, up ${up.length}`);
  const r = yield { name: 'swiglu', args: [f32(gate), f32(up), actCode(act)], output: [gate.length, 2] };
  return { act: r.subarray(0, gate.length), out: r.subarray(gate.length) };
}

/**
 * Cross-entropy (reference/model/layers.ts crossEntropy, f32 statistics): mean NLL over the
 * labels ≠ −100, dlogits = act((softmax − onehot)/count), perToken NLL
 */
export function* crossEntropyPlan(
  logits: ArrayLike<number>, T: number, V: number, labels: ArrayLike<number>, act: ActRounding,
): Plan<{ loss: number; dlogits: Float32Array; count: number; perToken: Float64Array }> {
  need(logits.length === T * V && labels.length === T, `cross-entropy: logits have ${logits.length} values (T·V = ${T * V}), labels ${labels.length} (T = ${T})`);
  let count = 0;
  for (let t = 0; t < T; t++) {
    const y = labels[t];
    if (y === -100) continue;
    if (!Number.isInteger(y) || y < 0 || y >= V) throw new OpError('BAD_ARGS', `cross-entropy: label ${y} at position ${t} is outside the vocabulary [0, ${V})`);
    count++;
  }
  const lf = f32(logits);
  const lse = yield { name: 'ceLse', args: [lf, V], output: [T] };
  const dlogits = yield { name: 'ceGrad', args: [lf, lse, Float32Array.from(labels), V, count || 1, actCode(act)], output: [V, T] };
  const perToken = new Float64Array(T);
  let total = 0;
  for (let t = 0; t < T; t++) {
    if (labels[t] === -100) continue;
    perToken[t] = Math.fround(lse[t] - lf[t * V + labels[t]]);
    total += perToken[t];
  }
  return { loss: count ? Math.fround(total / count) : NaN, dlogits, count, perToken };
}

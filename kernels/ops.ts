// Host wrappers: check shapes, lay out arguments, run the generated kernel on a backend.
// Inputs are values (any ArrayLike<number>); they are stored as float32 for the kernel, so
// pass values already rounded to the path's storage (bf16 values for bf16 paths).

import { OpError } from '../io/errors.ts';
import { blockMask, BLOCK_EMPTY, BLOCK_FULL, type Variant } from '../reference/masks.ts';
import { GENERATED, type KernelName } from '../generated/index.ts';
import { openBackend, type KernelArg, type KernelBackend } from './runtime.ts';
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
  /** most probs tiles per chunk (memory bound: chunk·B² floats); default 2048 */
  chunkTiles?: number;
}

/**
 * Block-sparse attention forward: out [Hq, L, D] and lse [Hq, L] for q [Hq, L, D],
 * k/v [Hkv, L, D]; reference/attention.ts attentionForward on the same precision path.
 */
export async function attentionForward(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, shape: AttnKernelShape, docIds: ArrayLike<number>, opts: AttnKernelOptions, backend?: BackendChoice,
): Promise<{ out: Float32Array; lse: Float32Array }> {
  const { Hq, Hkv, L, D } = shape;
  need(Number.isInteger(Hq / Hkv) && Hq >= 1 && Hkv >= 1, `attention: Hq (${Hq}) must be a positive multiple of Hkv (${Hkv})`);
  need(q.length === Hq * L * D && k.length === Hkv * L * D && v.length === Hkv * L * D, `attention: q/k/v have ${q.length}/${k.length}/${v.length} values for Hq=${Hq}, Hkv=${Hkv}, L=${L}, D=${D}`);
  need(docIds.length === L, `attention: doc ids have length ${docIds.length}, expected L = ${L}`);
  const B = opts.table?.B ?? opts.blockSize ?? 64;
  if (B % 4 !== 0 || B < 4) throw new OpError('BAD_ARGS', `attention: block size must be a positive multiple of 4, got ${B}`);
  if (opts.precision !== 'bf16_flash' && opts.precision !== 'f32') throw new OpError('BAD_ARGS', `attention kernel: precision must be bf16_flash or f32, got ${opts.precision}`);
  const table = opts.table ?? blockTable(opts.variant, docIds, B);
  const be = await resolve(backend);
  const scale = Math.fround(opts.scale ?? 1 / Math.sqrt(D));
  const group = Hq / Hkv;
  const variant = VARIANT_CODE[opts.variant];
  const bf16io = opts.precision === 'bf16_flash' ? 1 : 0;
  const qf = f32(q);
  const kf = f32(k);
  const vf = f32(v);
  const ids = f32(docIds);
  const tileKbF = Float32Array.from(table.tileKb);
  const lse = await be.run(GENERATED.attnLse[be.name], [qf, kf, ids, Float32Array.from(table.rowStart), tileKbF, Float32Array.from(table.tileFull), L, D, B, group, variant, scale], [L, Hq]);

  // chunks of whole (head, query block) entries, at most chunkTiles tiles each, padded to a fixed size
  const cap = Math.max(opts.chunkTiles ?? 2048, ...Array.from({ length: table.nb }, (_, qb) => table.rowStart[qb + 1] - table.rowStart[qb]));
  const out = new Float32Array(Hq * L * D);
  const entries: { h: number; qb: number }[] = [];
  for (let h = 0; h < Hq; h++) for (let qb = 0; qb < table.nb; qb++) entries.push({ h, qb });
  let e0 = 0;
  while (e0 < entries.length) {
    let e1 = e0;
    let tiles = 0;
    while (e1 < entries.length) {
      const n = table.rowStart[entries[e1].qb + 1] - table.rowStart[entries[e1].qb];
      if (tiles + n > cap) break;
      tiles += n;
      e1++;
    }
    const chunk = entries.slice(e0, e1);
    const tH = new Float32Array(cap);
    const tQb = new Float32Array(cap);
    const tKb = new Float32Array(cap);
    const tFull = new Float32Array(cap).fill(-1);
    const cH = new Float32Array(chunk.length);
    const cStart = new Float32Array(chunk.length);
    const cEnd = new Float32Array(chunk.length);
    let t = 0;
    chunk.forEach(({ h, qb }, c) => {
      cH[c] = h;
      cStart[c] = t;
      for (let s = table.rowStart[qb]; s < table.rowStart[qb + 1]; s++, t++) {
        tH[t] = h;
        tQb[t] = qb;
        tKb[t] = table.tileKb[s];
        tFull[t] = table.tileFull[s];
      }
      cEnd[c] = t;
    });
    const p = await be.run(GENERATED.attnProbs[be.name], [qf, kf, lse, ids, tH, tQb, tKb, tFull, L, D, B, group, variant, scale, bf16io], [B, B, cap]);
    const o = await be.run(GENERATED.attnOut[be.name], [p, vf, cH, cStart, cEnd, tKb, L, D, B, group, bf16io], [D, chunk.length * B]);
    chunk.forEach(({ h, qb }, c) => {
      const rows = Math.min(B, L - qb * B);
      out.set(o.subarray(c * B * D, (c * B + rows) * D), (h * L + qb * B) * D);
    });
    e0 = e1;
  }
  return { out, lse };
}

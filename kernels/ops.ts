// Host wrappers: check shapes, lay out arguments, run the generated kernel on a backend.
// Inputs are values (any ArrayLike<number>); they are stored as float32 for the kernel, so
// pass values already rounded to the path's storage (bf16 values for bf16 paths).

import { OpError } from '../io/errors.ts';
import { bf16Value } from '../reference/bf16.ts';
import { ANCHOR_DOC, BLOCK_EMPTY, BLOCK_FULL, type Variant } from '../reference/masks.ts';
import { blockKinds } from '../reference/masks.ts';
import { GENERATED, type KernelName } from '../generated/index.ts';
import { constantArgs, openBackend, orderArgs, type KernelArg, type KernelBackend, type NamedArgs } from './runtime.ts';
import type { GeneratedKernel } from './types.ts';
import { ATTN_VARIANT, TILE_KIND } from './src/attention.ts';
import { COLS_DK, COLS_DV } from './src/attention-backward.ts';
import { ROUNDING } from './src/precision.ts';
import { ROPE_LAYOUT, ROPE_PATH } from './src/rope-apply.ts';
import { KERNEL_FLAVOR, type BackendName } from './types.ts';

export type BackendChoice = KernelBackend | BackendName | undefined;

async function resolve(b: BackendChoice): Promise<KernelBackend> {
  return typeof b === 'object' ? b : openBackend(b);
}
const f32 = (x: ArrayLike<number>): Float32Array => (x instanceof Float32Array ? x : Float32Array.from(x));
async function run(b: BackendChoice, name: KernelName, args: NamedArgs, output: number[]): Promise<Float32Array> {
  const be = await resolve(b);
  const k = GENERATED[name][KERNEL_FLAVOR[be.name]];
  assertKernelSize(be.name, name, args, output, k.components);
  return be.run(k, orderArgs(k, args), output, constantArgs(k, args));
}
function need(cond: boolean, msg: string): void {
  if (!cond) throw new OpError('BAD_TENSOR', msg);
}

/** bf16 values (RNE, NaN stays NaN) of float32 values */
export async function bf16Round(x: ArrayLike<number>, backend?: BackendChoice): Promise<Float32Array> {
  if (x.length === 0) return new Float32Array(0);
  return run(backend, 'bf16Round', { x: f32(x) }, [x.length]);
}

/**
 * The largest element count of any one kernel argument or output. gpu.js's webasm emitter holds
 * every variable (index arithmetic included) as float32, so a flat index is exact only below
 * 2^24: an array of 2^24 or more elements is read or written wrongly. Host wrappers split their
 * problems under this (matmulChunks); runKernelSync / runPlan refuse any webasm call above it.
 */
export const MAX_KERNEL_ELEMENTS = 2 ** 24 - 1;
/** throws when a webasm kernel call has an argument or output of ≥ 2^24 elements */
export function assertKernelSize(backend: string, name: string, args: NamedArgs | readonly KernelArg[], output: readonly number[], components = 1): void {
  if (backend !== 'webasm') return;
  const outN = output.reduce((p, x) => p * x, 1) * components;
  if (outN > MAX_KERNEL_ELEMENTS) throw new OpError('BAD_ARGS', `kernel ${name}: output of ${outN} elements ≥ 2^24 (webasm indexes in float32; split the call)`);
  for (const [k, v] of Object.entries(args)) {
    if (typeof v !== 'number' && v.length > MAX_KERNEL_ELEMENTS) throw new OpError('BAD_ARGS', `kernel ${name}: argument ${k} has ${v.length} elements ≥ 2^24 (webasm indexes in float32; split the call)`);
  }
}

/** one kernel call of a chunked matmul: rows m0 … m1 − 1 of a, columns n0 … n1 − 1 of b */
export interface MatmulChunk {
  m0: number;
  m1: number;
  n0: number;
  n1: number;
}
/**
 * split c [M, N] = a [M, K] · b [K, N] into kernel calls whose a rows (padded to R), b columns
 * and outputs each hold at most `limit` elements; K is never split (each output is the one
 * sequential sum over k). Chunks are equal-sized (the last may be smaller) so each size compiles
 * once. Throws when R rows of a or one column of b already exceed the limit.
 */
export function matmulChunks(M: number, K: number, N: number, R: number, limit = MAX_KERNEL_ELEMENTS): MatmulChunk[] {
  need(R * K <= limit && K <= limit, `matmul: K = ${K} is too large for one kernel call (R·K must stay ≤ ${limit})`);
  const nMax = Math.max(1, Math.min(N, Math.floor(limit / K), Math.floor(limit / R)));
  const nChunks = Math.ceil(N / nMax);
  const Nc = Math.ceil(N / nChunks);
  const Mpad = Math.ceil(M / R) * R;
  const mMax = Math.max(R, Math.min(Mpad, Math.floor(limit / K / R) * R, Math.floor(limit / Nc / R) * R));
  const mChunks = Math.ceil(Mpad / mMax);
  const Mc = Math.ceil(Mpad / mChunks / R) * R;
  const out: MatmulChunk[] = [];
  for (let m0 = 0; m0 < M; m0 += Mc) for (let n0 = 0; n0 < N; n0 += Nc) out.push({ m0, m1: Math.min(M, m0 + Mc), n0, n1: Math.min(N, n0 + Nc) });
  return out;
}

/**
 * c [M, N] = a [M, K] · b [K, N] as a plan (synchronous or not), chunked by matmulChunks so every
 * kernel call stays under 2^24 elements per argument and output. R: the generated kernel's rows
 * per cell (GENERATED.matmul[flavor].rows).
 */
export function* matmulPlan(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, out: 'f32' | 'bf16', R: number, limit = MAX_KERNEL_ELEMENTS): Plan<Float32Array> {
  need(a.length === M * K && b.length === K * N, `matmul: a has ${a.length} values (M·K = ${M * K}), b has ${b.length} (K·N = ${K * N})`);
  const outBf16 = out === 'bf16' ? ROUNDING.bf16 : ROUNDING.f32;
  const af = f32(a);
  const bf = f32(b);
  const chunks = matmulChunks(M, K, N, R, limit);
  const c = chunks.length === 1 ? null : new Float32Array(M * N);
  for (const ch of chunks) {
    const Mc = ch.m1 - ch.m0;
    const Nc = ch.n1 - ch.n0;
    // rows of a are contiguous; pad to a multiple of R (rows past M read zero)
    const Mq = Math.ceil(Mc / R);
    let ac = af.subarray(ch.m0 * K, ch.m1 * K);
    if (Mq * R !== Mc) {
      const padded = new Float32Array(Mq * R * K);
      padded.set(ac);
      ac = padded;
    }
    // columns of b: copied out unless the chunk takes them all
    let bc = bf;
    if (Nc !== N) {
      bc = new Float32Array(K * Nc);
      for (let k = 0; k < K; k++) bc.set(bf.subarray(k * N + ch.n0, k * N + ch.n1), k * Nc);
    }
    const raw: Float32Array = yield { name: 'matmul', args: { a: ac, b: bc, K, N: Nc, outBf16 }, output: R === 1 ? [Nc, Mc] : [Nc, Mq] };
    const block = R === 1 ? raw : unblockRows(raw, Mc, Nc, R);
    if (!c) return block;
    for (let m = 0; m < Mc; m++) c.set(block.subarray(m * Nc, (m + 1) * Nc), (ch.m0 + m) * N + ch.n0);
  }
  return c!;
}

/** the rows per cell of the matmul kernel a backend runs (its flavour's @rows; 1 where the flavour keeps one row per cell) */
export const matmulRows = (backend: BackendName): number => GENERATED.matmul[KERNEL_FLAVOR[backend]].rows ?? 1;

/** c [M, N] = a [M, K] · b [K, N], bf16 inputs, float32 accumulation in k order; out 'f32' or 'bf16' */
export async function matmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, out: 'f32' | 'bf16' = 'f32', backend?: BackendChoice): Promise<Float32Array> {
  need(a.length === M * K && b.length === K * N, `matmul: a has ${a.length} values (M·K = ${M * K}), b has ${b.length} (K·N = ${K * N})`);
  const be = await resolve(backend);
  return runPlan(matmulPlan(a, b, M, K, N, out, matmulRows(be.name)), be);
}

/** square tiles of a transpose: one tile of each side stays in L1 while the other side is strided */
const TILE = 32;
/**
 * y[c·stride + r] = map(x[r·C + c], r) for [R, C] row-major x (stride: y's row length, default R;
 * map: default none), in TILE × TILE tiles: a plain loop strides one side through memory a row per
 * element, a cache miss per value at the LM head's 49152 columns. Inside a tile the writes are the
 * contiguous side: measured 1.8–2.3 ns a value against 4.0–4.2 with contiguous reads (yᵀ → y at the
 * SmolLM2 shapes, float32 → float64), the same for float64 → float32.
 */
export function transposeTiled<Y extends { [i: number]: number }>(x: ArrayLike<number>, R: number, C: number, y: Y, o: { map?: (v: number, r: number) => number; stride?: number } = {}): Y {
  const f = o.map;
  const stride = o.stride ?? R;
  for (let r0 = 0; r0 < R; r0 += TILE)
    for (let c0 = 0; c0 < C; c0 += TILE) {
      const r1 = Math.min(R, r0 + TILE), c1 = Math.min(C, c0 + TILE);
      for (let c = c0; c < c1; c++) {
        const w = c * stride;
        if (f) for (let r = r0; r < r1; r++) y[w + r] = f(x[r * C + c], r);
        else for (let r = r0; r < r1; r++) y[w + r] = x[r * C + c];
      }
    }
  return y;
}

/** [y][x][c] (stride R, rows R·y + c) → [row][x], the first M rows */
export function unblockRows(blocked: Float32Array, M: number, N: number, R: number): Float32Array {
  const c = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    const base = (m - (m % R)) * N + (m % R);
    const row = m * N;
    for (let n = 0; n < N; n++) c[row + n] = blocked[base + n * R];
  }
  return c;
}

export type RopeKernelPath = 'f32' | 'hf' | 'paper';
/** reference/rope.ts ropeApply for x [H, T, D] and cos/sin [T, D], paths f32 / hf / paper */
export async function ropeApply(
  x: ArrayLike<number>, H: number, T: number, D: number, cos: ArrayLike<number>, sin: ArrayLike<number>,
  path: RopeKernelPath, layout: 'half' | 'interleaved' = 'half', backend?: BackendChoice,
): Promise<Float32Array> {
  return runPlan(ropeApplyPlan(x, H, T, D, cos, sin, path, layout), backend);
}
/** ropeApply as a plan (one kernel call; synchronous where the backend is) */
export function* ropeApplyPlan(
  x: ArrayLike<number>, H: number, T: number, D: number, cos: ArrayLike<number>, sin: ArrayLike<number>,
  path: RopeKernelPath, layout: 'half' | 'interleaved' = 'half',
): Plan<Float32Array> {
  need(D % 2 === 0 && D >= 2, `rope.apply: head dim D must be even, got ${D}`);
  need(x.length === H * T * D && cos.length === T * D && sin.length === T * D, `rope.apply: x/cos/sin sizes ${x.length}/${cos.length}/${sin.length} do not match H·T·D, T·D`);
  const p = (ROPE_PATH as Record<string, number>)[path];
  if (p === undefined) throw new OpError('BAD_ARGS', `rope.apply kernel: path must be f32, hf or paper, got ${path}`);
  return yield { name: 'ropeApply', args: { x: f32(x), cos: f32(cos), sin: f32(sin), T, D, Dh: D / 2, path: p, interleaved: layout === 'interleaved' ? ROPE_LAYOUT.interleaved : ROPE_LAYOUT.half }, output: [D, T, H] };
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
  /**
   * the tile's keys kb·B + tileJ0 … kb·B + tileJ1 − 1 hold every pair of it any row may attend
   * (a partial tile's first and last key some row of the block attends; a full tile's whole
   * width): the kernels that loop over a tile's keys skip the rest, which are masked for every
   * row (an anchor tile of a later document: one key of B)
   */
  tileJ0: Int32Array;
  tileJ1: Int32Array;
}
const VARIANT_CODE: Record<Variant, number> = ATTN_VARIANT;

/** the block table of a mask: reference/masks.ts blockMask's tile kinds (computed by blockKinds), empty tiles dropped */
export function blockTable(variant: Variant, docIds: ArrayLike<number>, B: number): BlockTable {
  const { nb, kind } = blockKinds(variant, docIds, B);
  const L = docIds.length;
  const rowStart = new Int32Array(nb + 1);
  const kb: number[] = [];
  const full: number[] = [];
  const j0s: number[] = [];
  const j1s: number[] = [];
  for (let qb = 0; qb < nb; qb++) {
    const r0 = qb * B, r1 = Math.min(L, r0 + B);
    // the last row of the block in each document: key j is attended by some row of the block
    // iff a row i ≥ j may attend it (every variant is causal)
    const lastRow = new Map<number, number>();
    for (let i = r0; i < r1; i++) lastRow.set(docIds[i], i);
    const attended = (j: number): boolean =>
      j <= r1 - 1 && (variant === 'full' || (variant === 'anchor' && docIds[j] === ANCHOR_DOC) || (lastRow.get(docIds[j]) ?? -1) >= j);
    for (let c = 0; c < nb; c++) {
      const k = kind[qb * nb + c];
      if (k === BLOCK_EMPTY) continue;
      kb.push(c);
      full.push(k === BLOCK_FULL ? TILE_KIND.full : TILE_KIND.partial);
      const k0 = c * B, width = Math.min(B, L - k0);
      let j0 = 0, j1 = width;
      if (k !== BLOCK_FULL) {
        while (j0 < width && !attended(k0 + j0)) j0++;
        while (j1 > j0 && !attended(k0 + j1 - 1)) j1--;
      }
      j0s.push(j0);
      j1s.push(j1);
    }
    rowStart[qb + 1] = kb.length;
  }
  return { B, nb, rowStart, tileKb: Int32Array.from(kb), tileFull: Int32Array.from(full), tileJ0: Int32Array.from(j0s), tileJ1: Int32Array.from(j1s) };
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
  /** tile size B (a multiple of 4); default 32 (measured faster than 64 here, and closer to the pair ratio) */
  blockSize?: number;
  /** a prebuilt block table (build once per step, reuse across layers) */
  table?: BlockTable;
  /** most tiles per chunk (memory: a few chunk·B² float arrays); default FORWARD_CHUNK_TILES forward, 1024 backward */
  chunkTiles?: number;
}

/**
 * Forward chunk size: large, because gpu.js splits a kernel's cells over worker threads only
 * in ranges of ≥ 4096 cells, and attnOut has D·R/4 cells per chunk (D = 64, 1024 tiles: often
 * 1 range). 8192 tiles of 32² are 32 MiB of scores.
 */
export const FORWARD_CHUNK_TILES = 8192;

// ---------------------------------------------------------------- plans
// A host computation that runs kernels is written once as a generator: it yields each
// kernel call and receives its output, so a synchronous driver (webasm, cpu) and an
// asynchronous one (webgl2) share the code.
export interface KernelCall {
  name: KernelName;
  /** by parameter name (the kernel's generated params; kernels/runtime.ts orderArgs) */
  args: NamedArgs;
  output: number[];
}
export type Plan<T> = Generator<KernelCall, T, Float32Array>;

/** run a plan on a backend that can run synchronously */
export function runPlanSync<T>(plan: Plan<T>, be: KernelBackend): T {
  if (!be.runSync) throw new OpError('BAD_ARGS', `kernel backend ${be.name} cannot run synchronously`);
  let r = plan.next();
  while (!r.done) {
    const k = GENERATED[r.value.name][KERNEL_FLAVOR[be.name]] as GeneratedKernel;
    assertKernelSize(be.name, r.value.name, r.value.args, r.value.output, k.components);
    r = plan.next(be.runSync(k, orderArgs(k, r.value.args), r.value.output, constantArgs(k, r.value.args)));
  }
  return r.value;
}
/** run a plan on any backend */
export async function runPlan<T>(plan: Plan<T>, backend?: BackendChoice): Promise<T> {
  const be = await resolve(backend);
  let r = plan.next();
  while (!r.done) {
    const k = GENERATED[r.value.name][KERNEL_FLAVOR[be.name]] as GeneratedKernel;
    assertKernelSize(be.name, r.value.name, r.value.args, r.value.output, k.components);
    r = plan.next(await be.run(k, orderArgs(k, r.value.args), r.value.output, constantArgs(k, r.value.args)));
  }
  return r.value;
}

/** one chunk of (head, query block) entries with its tiles, padded to the plan's common sizes */
export interface Chunk {
  e0: number;
  e1: number;
  entries: { h: number; qb: number }[];
  /** tiles: head, query block, key block, 1 full / 0 partial / −1 padding, chunk row of the first query */
  tH: Float32Array;
  tQb: Float32Array;
  tKb: Float32Array;
  tFull: Float32Array;
  tRow: Float32Array;
  /** the tile's attended keys (BlockTable tileJ0 / tileJ1; 0, 0 for padding tiles) */
  tJ0: Float32Array;
  tJ1: Float32Array;
  /** entries: head, first and end tile */
  cH: Float32Array;
  cStart: Float32Array;
  cEnd: Float32Array;
  /** tiles per chunk (capT) and chunk rows (R = capE·B), the same for every chunk */
  capT: number;
  R: number;
}

/**
 * entries (head, query block), cut into chunks of at most `chunkTiles` tiles; every chunk is
 * padded to the same sizes (capT tiles, capE entries) so each kernel compiles once. Order
 * 'rows': query blocks in increasing order (the backward needs it: dK/dV sum over query rows in
 * order, across chunks). Order 'zigzag': 0, nb−1, 1, nb−2, … per head, so that any contiguous
 * run of entries holds light (early) and heavy (late, causal) rows alike: gpu.js splits a
 * kernel's cells into contiguous ranges per worker thread, and the forward is row-independent.
 */
export function buildChunks(table: BlockTable, Hq: number, chunkTiles = 1024, order: 'rows' | 'zigzag' = 'rows'): Chunk[] {
  const B = table.B;
  const rowTiles = (qb: number) => table.rowStart[qb + 1] - table.rowStart[qb];
  const entries: { h: number; qb: number }[] = [];
  const nb = table.nb;
  for (let h = 0; h < Hq; h++)
    for (let x = 0; x < nb; x++) entries.push({ h, qb: order === 'rows' ? x : x % 2 === 0 ? x / 2 : nb - 1 - (x - 1) / 2 });
  const totalTiles = Hq * table.rowStart[table.nb];
  // the chunk size (at most chunkTiles tiles, at least the longest query block) that packs whole
  // query blocks with the fewest padding tiles (they still cost a cell each), then fewest chunks
  /** greedy packing under `cap` tiles a chunk; `most`: the most tiles a chunk got */
  const pack = (cap: number): { spans: [number, number][]; most: number } => {
    const spans: [number, number][] = [];
    let most = 0;
    for (let e0 = 0; e0 < entries.length; ) {
      let e1 = e0;
      let tiles = 0;
      while (e1 < entries.length && tiles + rowTiles(entries[e1].qb) <= cap) tiles += rowTiles(entries[e1++].qb);
      spans.push([e0, e1]);
      most = Math.max(most, tiles);
      e0 = e1;
    }
    return { spans, most };
  };
  const minCap = Math.max(1, ...Array.from({ length: table.nb }, (_, qb) => rowTiles(qb)));
  const maxCap = Math.max(minCap, Math.min(chunkTiles, totalTiles));
  const lowest = Math.max(minCap, Math.ceil(maxCap / 2));
  // the cap in [lowest, maxCap] with the least n·cap (the largest such cap on a tie). Every cap in
  // [most, cap] packs exactly as cap does (each chunk still fits, and what did not fit still does
  // not), so only the least of each such run is tried: the same choice as trying every cap, a few
  // packings instead of thousands (4.8 ms at L 8192, anchor)
  let capT = maxCap;
  let best = Infinity;
  for (let cap = maxCap; cap >= lowest; ) {
    const { spans, most } = pack(cap);
    const least = Math.max(most, lowest);
    if (spans.length * least < best) {
      best = spans.length * least;
      capT = least;
    }
    cap = least - 1;
  }
  const { spans } = pack(capT);
  const capE = Math.max(...spans.map(([a, b]) => b - a));
  const R = capE * B;
  return spans.map(([e0, e1]) => {
    const tH = new Float32Array(capT);
    const tQb = new Float32Array(capT);
    const tKb = new Float32Array(capT);
    const tFull = new Float32Array(capT).fill(TILE_KIND.padding);
    const tRow = new Float32Array(capT);
    const tJ0 = new Float32Array(capT);
    const tJ1 = new Float32Array(capT);
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
        tJ0[t] = table.tileJ0[x];
        tJ1[t] = table.tileJ1[x];
      }
      cEnd[c] = t;
    }
    return { e0, e1, entries: entries.slice(e0, e1), tH, tQb, tKb, tFull, tRow, tJ0, tJ1, cH, cStart, cEnd, capT, R };
  });
}

/**
 * per position i: lo[i] = the first key row i may attend to and hi[i] = the last row that may
 * attend to key i (keys below lo and rows past hi are masked: the kernels skip them)
 */
export function keyBounds(variant: Variant, docIds: ArrayLike<number>): { lo: Float32Array; hi: Float32Array } {
  const L = docIds.length;
  const lo = new Float32Array(L);
  const hi = new Float32Array(L).fill(L - 1);
  if (variant === 'full') return { lo, hi };
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  for (let i = 0; i < L; i++) {
    if (!first.has(docIds[i])) first.set(docIds[i], i);
    last.set(docIds[i], i);
  }
  const anchor = variant === 'anchor' ? first.get(ANCHOR_DOC) : undefined;
  for (let i = 0; i < L; i++) {
    const f = first.get(docIds[i])!;
    lo[i] = anchor !== undefined && anchor < f ? anchor : f;
    if (!(variant === 'anchor' && docIds[i] === ANCHOR_DOC)) hi[i] = last.get(docIds[i])!;
  }
  return { lo, hi };
}

/** 2^(i − 75) for i = 0 … 139: the two exponent factors of the layer kernels' expf */
export const POW2_LAYERS: Float32Array = Float32Array.from({ length: 140 }, (_, i) => 2 ** (i - 75));

/** 2^(i − 149) for i = 0 … 149: the exponent table of the kernels' expf */
export const POW2_TABLE: Float32Array = Float32Array.from({ length: 150 }, (_, i) => 2 ** (i - 149));

/** x followed by `fill` up to n values (the kernels' key-indexed arrays, padded to Lp) */
function padded(x: Float32Array, n: number, fill: number): Float32Array {
  const y = new Float32Array(n).fill(fill);
  y.set(x);
  return y;
}

/**
 * x [H, L, D] → [H, D, Lp], zeros at rows L … Lp − 1: the key layout of attnScores and the value
 * layout of attnBwdDs (a cell's neighbours, keys j, j + 1, …, read neighbouring values)
 */
export function headsTransposed(x: Float32Array, H: number, L: number, D: number, Lp: number): Float32Array {
  const xT = new Float32Array(H * D * Lp);
  for (let h = 0; h < H; h++) transposeTiled(x.subarray(h * L * D, (h + 1) * L * D), L, D, xT.subarray(h * D * Lp), { stride: Lp });
  return xT;
}

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
  const B = opts.table?.B ?? opts.blockSize ?? 32;
  if (B % 4 !== 0 || B < 4) throw new OpError('BAD_ARGS', `attention: block size must be a positive multiple of 4, got ${B}`);
  if (opts.precision !== 'bf16_flash' && opts.precision !== 'f32') throw new OpError('BAD_ARGS', `attention kernel: precision must be bf16_flash or f32, got ${opts.precision}`);
  const table = opts.table ?? blockTable(opts.variant, docIds, B);
  const scale = Math.fround(opts.scale ?? 1 / Math.sqrt(D));
  const group = Hq / Hkv;
  const variant = VARIANT_CODE[opts.variant];
  const bf16io = opts.precision === 'bf16_flash' ? ROUNDING.bf16 : ROUNDING.f32;
  const qf = f32(q);
  const kf = f32(k);
  const vf = f32(v);
  const ids = f32(docIds);
  const out = new Float32Array(Hq * L * D);
  const lse = new Float32Array(Hq * L);
  const { lo: rowLo, hi: colHi } = keyBounds(opts.variant, docIds);
  const Lp = table.nb * B;
  const kT = headsTransposed(kf, Hkv, L, D, Lp);
  const idsP = padded(ids, Lp, -1);
  const colHiP = padded(colHi, Lp, -1);
  const chunks = buildChunks(table, Hq, opts.chunkTiles ?? FORWARD_CHUNK_TILES, 'zigzag');
  const R = chunks[0].R;
  for (const { e0, e1, tH, tQb, tKb, tFull, tRow, tJ0, tJ1, cH, cStart, cEnd, entries, capT } of chunks) {
    // scores and probabilities in the blocked layout [tile][ii div 4][jj][ii mod 4]
    const s = yield { name: 'attnScores', args: { q: qf, kT, docIds: idsP, rowLo, colHi: colHiP, tileH: tH, tileQb: tQb, tileKb: tKb, tileFull: tFull, L, Lp, D, B, group, variant, scale }, output: [B, B / 4, capT] };
    const stats = yield { name: 'attnRowStats', args: { s, cStart, cEnd, tileJ0: tJ0, tileJ1: tJ1, pow2: POW2_TABLE, B }, output: [B, R / B] };
    const p = yield { name: 'attnProbs', args: { s, stats, tileRow: tRow, pow2: POW2_TABLE, B, bf16io }, output: [B, B / 4, capT] };
    // out in [row div 4][d][row mod 4]
    const o = yield { name: 'attnOut', args: { p, v: vf, stats, cH, cStart, cEnd, tileQb: tQb, tileKb: tKb, tileJ0: tJ0, tileJ1: tJ1, rowLo, L, D, B, group, bf16io }, output: [D, R / 4] };
    for (let c = 0; c < e1 - e0; c++) {
      const { h, qb } = entries[c];
      const rows = Math.min(B, L - qb * B);
      for (let ii = 0; ii < rows; ii++) {
        const r = c * B + ii;
        const src = (r - (r & 3)) * D + (r & 3);
        const dst = (h * L + qb * B + ii) * D;
        for (let d = 0; d < D; d++) out[dst + d] = o[src + 4 * d];
      }
      // lse = f32(m + f32(log l)), the reference's formula
      for (let ii = 0; ii < rows; ii++) lse[h * L + qb * B + ii] = Math.fround(stats[2 * (c * B + ii)] + Math.fround(Math.log(stats[2 * (c * B + ii) + 1])));
    }
  }
  return { out, lse };
}

/**
 * The plan of block-sparse attention backward: dq [Hq, L, D], dk and dv [Hkv, L, D] from the
 * forward's out and lse and dOut; reference/attention.ts attentionBackward on the same path
 * (f32 or bf16_flash). Inputs are rounded to the path's input precision here, like the reference.
 */
export function* attentionBackwardPlan(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, out: ArrayLike<number>, lse: ArrayLike<number>, dOut: ArrayLike<number>,
  shape: AttnKernelShape, docIds: ArrayLike<number>, opts: AttnKernelOptions,
): Plan<{ dq: Float32Array; dk: Float32Array; dv: Float32Array }> {
  const { Hq, Hkv, L, D } = shape;
  need(Number.isInteger(Hq / Hkv) && Hq >= 1 && Hkv >= 1, `attention backward: Hq (${Hq}) must be a positive multiple of Hkv (${Hkv})`);
  need(q.length === Hq * L * D && k.length === Hkv * L * D && v.length === Hkv * L * D, `attention backward: q/k/v have ${q.length}/${k.length}/${v.length} values for Hq=${Hq}, Hkv=${Hkv}, L=${L}, D=${D}`);
  need(out.length === Hq * L * D && dOut.length === Hq * L * D && lse.length === Hq * L, `attention backward: out/dOut must be [Hq, L, D] and lse [Hq, L]; got ${out.length}/${dOut.length}/${lse.length}`);
  need(docIds.length === L, `attention backward: doc ids have length ${docIds.length}, expected L = ${L}`);
  const B = opts.table?.B ?? opts.blockSize ?? 32;
  if (B % 4 !== 0 || B < 4) throw new OpError('BAD_ARGS', `attention backward: block size must be a positive multiple of 4, got ${B}`);
  if (opts.precision !== 'bf16_flash' && opts.precision !== 'f32') throw new OpError('BAD_ARGS', `attention backward kernel: precision must be bf16_flash or f32, got ${opts.precision}`);
  const table = opts.table ?? blockTable(opts.variant, docIds, B);
  const nb = table.nb;
  const scale = Math.fround(opts.scale ?? 1 / Math.sqrt(D));
  const group = Hq / Hkv;
  const variant = VARIANT_CODE[opts.variant];
  const bf16io = opts.precision === 'bf16_flash' ? ROUNDING.bf16 : ROUNDING.f32;
  const round = bf16io ? bf16Value : Math.fround;
  const rin = (x: ArrayLike<number>) => Float32Array.from(x, round);
  const qf = rin(q), kf = rin(k), vf = rin(v), of = rin(out), dOf = rin(dOut);
  const lsef = f32(lse);
  const ids = f32(docIds);
  // D_i = Σ_d dO·O in f32, in order
  const rowDotAll = new Float32Array(Hq * L);
  for (let r = 0; r < Hq * L; r++) {
    let acc = 0;
    for (let d = 0; d < D; d++) acc = Math.fround(acc + Math.fround(dOf[r * D + d] * of[r * D + d]));
    rowDotAll[r] = acc;
  }
  const dq = new Float32Array(Hq * L * D);
  const { lo: rowLo, hi: colHi } = keyBounds(opts.variant, docIds);
  const KR = Hkv * nb * B; // key rows, padded per head to nb·B
  let dkAcc = new Float32Array(KR * D);
  let dvAcc = new Float32Array(KR * D);
  const Lp = nb * B;
  const kT = headsTransposed(kf, Hkv, L, D, Lp);
  const vT = headsTransposed(vf, Hkv, L, D, Lp);
  const idsP = padded(ids, Lp, -1);
  const colHiP = padded(colHi, Lp, -1);
  const chunks = buildChunks(table, Hq, opts.chunkTiles);
  const R = chunks[0].R;
  for (const { tH, tQb, tKb, tFull, tRow, cH, cStart, cEnd, entries, capT } of chunks) {
    const rowLse = new Float32Array(R);
    const rowDot = new Float32Array(R);
    entries.forEach(({ h, qb }, c) => {
      for (let ii = 0; ii < B && qb * B + ii < L; ii++) {
        rowLse[c * B + ii] = lsef[h * L + qb * B + ii];
        rowDot[c * B + ii] = rowDotAll[h * L + qb * B + ii];
      }
    });
    // the column lists: tiles of each (kv head, key block), in tile order = (head, query block) order
    const lists: number[][] = Array.from({ length: Hkv * nb }, () => []);
    for (let t = 0; t < capT; t++) if (tFull[t] >= 0) lists[Math.floor(tH[t] / group) * nb + tKb[t]].push(t);
    const colStart = new Float32Array(Hkv * nb);
    const colEnd = new Float32Array(Hkv * nb);
    const colTile = new Float32Array(Math.max(1, capT));
    let n = 0;
    lists.forEach((l, gb) => {
      colStart[gb] = n;
      for (const t of l) colTile[n++] = t;
      colEnd[gb] = n;
    });
    const s = yield { name: 'attnScores', args: { q: qf, kT, docIds: idsP, rowLo, colHi: colHiP, tileH: tH, tileQb: tQb, tileKb: tKb, tileFull: tFull, L, Lp, D, B, group, variant, scale }, output: [B, B / 4, capT] };
    const probs = yield { name: 'attnBwdProbs', args: { s, rowLse, tileRow: tRow, pow2: POW2_TABLE, B, bf16io }, output: [B * B * capT] };
    const ds = yield { name: 'attnBwdDs', args: { probs, dO: dOf, vT, rowDot, rowLo, colHi: colHiP, tileH: tH, tileQb: tQb, tileKb: tKb, tileFull: tFull, tileRow: tRow, L, Lp, D, B, group, bf16io }, output: [B, B / 4, capT] };
    const rows = yield { name: 'attnBwdRows', args: { ds, k: kf, cH, cStart, cEnd, tileQb: tQb, tileKb: tKb, rowLo, L, D, B, group }, output: [D, R / 4] };
    dkAcc = Float32Array.from(yield { name: 'attnBwdCols', args: { a: ds, x: qf, prev: dkAcc, colStart, colEnd, colTile, tileH: tH, tileQb: tQb, colHi, L, D, B, nb, ...COLS_DK }, output: [D, KR / 4] });
    dvAcc = Float32Array.from(yield { name: 'attnBwdCols', args: { a: probs, x: dOf, prev: dvAcc, colStart, colEnd, colTile, tileH: tH, tileQb: tQb, colHi, L, D, B, nb, ...COLS_DV }, output: [D, KR / 4] });
    entries.forEach(({ h, qb }, c) => {
      for (let ii = 0; ii < B && qb * B + ii < L; ii++) {
        const r = c * B + ii;
        const src = (r - (r & 3)) * D + (r & 3);
        const dst = (h * L + qb * B + ii) * D;
        // dq = act(f32(acc · scale))
        for (let d = 0; d < D; d++) dq[dst + d] = round(Math.fround(rows[src + 4 * d] * scale));
      }
    });
  }
  const dk = new Float32Array(Hkv * L * D);
  const dv = new Float32Array(Hkv * L * D);
  for (let g = 0; g < Hkv; g++)
    for (let j = 0; j < L; j++) {
      const kr = g * nb * B + j;
      const src = (kr - (kr & 3)) * D + (kr & 3);
      const dst = (g * L + j) * D;
      for (let d = 0; d < D; d++) {
        // dk = act(f32(acc · scale)), dv = act(acc)
        dk[dst + d] = round(Math.fround(dkAcc[src + 4 * d] * scale));
        dv[dst + d] = round(dvAcc[src + 4 * d]);
      }
    }
  return { dq, dk, dv };
}

/** block-sparse attention backward on a backend (see attentionBackwardPlan) */
export function attentionBackward(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, out: ArrayLike<number>, lse: ArrayLike<number>, dOut: ArrayLike<number>,
  shape: AttnKernelShape, docIds: ArrayLike<number>, opts: AttnKernelOptions, backend?: BackendChoice,
): Promise<{ dq: Float32Array; dk: Float32Array; dv: Float32Array }> {
  return runPlan(attentionBackwardPlan(q, k, v, out, lse, dOut, shape, docIds, opts), backend);
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
  return a === 'bf16' ? ROUNDING.bf16 : ROUNDING.f32;
};

/** RMSNorm forward (reference/model/layers.ts rmsnormForward, f32 statistics): out [T, d], rstd [T] */
export function* rmsnormPlan(x: ArrayLike<number>, T: number, d: number, w: ArrayLike<number>, eps: number, act: ActRounding): Plan<{ out: Float32Array; rstd: Float32Array }> {
  need(x.length === T * d && w.length === d && T >= 1 && d >= 1, `rmsnorm: x has ${x.length} values (T·d = ${T * d}), w ${w.length} (d = ${d})`);
  const a = actCode(act);
  const xf = f32(x);
  const rstd = yield { name: 'rmsnormRstd', args: { x: xf, d, eps: Math.fround(eps) }, output: [T] };
  const out = yield { name: 'rmsnormApply', args: { x: xf, w: f32(w), rstd, d, act: a }, output: [d, T] };
  return { out, rstd };
}

/** SwiGLU forward (reference/model/layers.ts swigluForward): out = act(act(silu(gate))·up), act */
/**
 * Values per swiglu call: WebGPU caps a dispatch at 65535 workgroups per dimension (8 cells
 * wide for a 2-D output, so at most 524280 cells along x), so a longer vector goes in pieces.
 */
export const SWIGLU_CHUNK = 1 << 18;
export function* swigluPlan(gate: ArrayLike<number>, up: ArrayLike<number>, act: ActRounding, chunk = SWIGLU_CHUNK): Plan<{ out: Float32Array; act: Float32Array }> {
  need(gate.length === up.length && gate.length >= 1, `swiglu: gate has ${gate.length} values, up ${up.length}`);
  const n = gate.length;
  const g = f32(gate), u = f32(up);
  const outAct = new Float32Array(n), outOut = new Float32Array(n);
  for (let s = 0; s < n; s += chunk) {
    const e = Math.min(n, s + chunk);
    const r: Float32Array = yield { name: 'swiglu', args: { gate: g.subarray(s, e), up: u.subarray(s, e), pow2: POW2_LAYERS, act: actCode(act) }, output: [e - s, 2] };
    outAct.set(r.subarray(0, e - s), s);
    outOut.set(r.subarray(e - s), s);
  }
  return { act: outAct, out: outOut };
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
  const ms = yield { name: 'ceLse', args: { logits: lf, pow2: POW2_LAYERS, V }, output: [T] };
  // lse = f32(m + f32(log s)) from the kernel's [m, s]
  const lse = Float32Array.from({ length: T }, (_, t) => Math.fround(ms[2 * t] + Math.fround(Math.log(ms[2 * t + 1]))));
  const dlogits = yield { name: 'ceGrad', args: { logits: lf, lse, labels: Float32Array.from(labels), pow2: POW2_LAYERS, V, count: count || 1, act: actCode(act) }, output: [V, T] };
  const perToken = new Float64Array(T);
  let total = 0;
  for (let t = 0; t < T; t++) {
    if (labels[t] === -100) continue;
    perToken[t] = Math.fround(lse[t] - lf[t * V + labels[t]]);
    total += perToken[t];
  }
  return { loss: count ? Math.fround(total / count) : NaN, dlogits, count, perToken };
}

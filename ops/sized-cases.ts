// Cases at the sizes kernel authors ship (L = 8K … 128K tokens), for `anchor-oracle gen`:
// attention.forward, its layout ops (positions, mask, block_mask) and rope.apply / rotate /
// cos_sin. The registry's generators make many small cases; these make a few large ones.
//
// Determinism: case c draws from Rngs seeded from (seed, c) only, so its bytes do not depend
// on n, on the other combinations asked for, or on a shard. Case c of every combination
// shares its draws: the q/k/v of f64 and bf16_flash case 3 are the same normals, rounded per
// path, and the doc ids of attention.forward and attention.mask case 3 are the same layout.
// Memory: tensors are filled chunk by chunk into their typed arrays, never through a
// whole-tensor Float64Array or JS array, and each case is built only when it is asked for.

import { alloc, numel, tensor, type Tensor } from '../io/tensor.ts';
import { MIXES, sampleWindowLengths } from '../demos/savings.ts';
import { PRECISIONS, type AttnPrecision } from '../reference/attention.ts';
import { bulkFromF32 } from '../reference/bf16.ts';
import { docIdsFromLengths, VARIANTS, type Variant } from '../reference/masks.ts';
import { counterUint32, Rng } from '../reference/rng.ts';
import { ROPE_LAYOUTS, ROPE_PATHS, ropeCosSinFromInvFreq, ropeInvFreq, seqLenOf, type RopeConfig, type RopeLayout, type RopePath } from '../reference/rope.ts';
import { randomDocIds } from './attention.ops.ts';
import { OUT_DTYPE, X_DTYPES, Y_DTYPE } from './rope.ops.ts';
import { type GenCase } from './registry.ts';

// ------------------------------------------------------------------ document layouts
export type DocsSpec =
  | { kind: 'one' }
  | { kind: 'uniform'; k: number }
  | { kind: 'mix'; mix: (typeof MIXES)[number] }
  | { kind: 'lengths'; lengths: number[] }
  | { kind: 'random' };

/** the accepted docs spec forms, for usage text */
export const DOCS_FORMS = `one, uniform:K, mix:NAME (NAME: ${MIXES.map((m) => m.name.toLowerCase()).join(', ')}), lengths:a,b,…, random`;
const badDocs = (spec: string, why: string) => new Error(`docs spec "${spec}": ${why} (accepted: ${DOCS_FORMS})`);

/**
 * one: a single document fills the window (the default); uniform:K: K documents of equal
 * length, the remainder one token each on the first ones; mix:NAME: lengths drawn from a
 * training mix of demos/savings.ts (the last document is cut at the window's end);
 * lengths:a,b,…: these documents first (after the anchor), the rest of the window one more;
 * random: the small generator's random lengths (randomDocIds).
 */
export function parseDocsSpec(spec: string): DocsSpec {
  const colon = spec.indexOf(':');
  const form = (colon < 0 ? spec : spec.slice(0, colon)).trim().toLowerCase();
  const value = colon < 0 ? undefined : spec.slice(colon + 1).trim();
  const count = (s: string, what: string): number => {
    if (!/^\d+$/.test(s) || !(Number(s) >= 1) || !Number.isSafeInteger(Number(s))) throw badDocs(spec, `${what} must be an integer ≥ 1, got "${s}"`);
    return Number(s);
  };
  const given = (): string => {
    if (!value) throw badDocs(spec, `"${form}" needs a value after ":"`);
    return value;
  };
  switch (form) {
    case 'one':
    case 'random':
      if (value !== undefined) throw badDocs(spec, `"${form}" takes no value`);
      return { kind: form };
    case 'uniform':
      return { kind: 'uniform', k: count(given(), 'K') };
    case 'mix': {
      const mix = MIXES.find((m) => m.name.toLowerCase() === given().toLowerCase());
      if (!mix) throw badDocs(spec, `unknown mix "${value}"`);
      return { kind: 'mix', mix };
    }
    case 'lengths':
      return { kind: 'lengths', lengths: given().split(',').map((s) => count(s.trim(), 'each length')) };
    default:
      throw badDocs(spec, `unknown form "${form}"`);
  }
}

/** doc ids [L] of one window: for `anchor` token 0 is the anchor (id 0), documents get ids 1..n */
export function docIdsForWindow(spec: DocsSpec, L: number, variant: Variant, rng: Rng): Int32Array {
  positiveInt('L', L);
  const anchor = variant === 'anchor';
  const room = L - (anchor ? 1 : 0); // tokens left for documents
  const where = `L = ${L}${anchor ? ', one token is the anchor' : ''}`;
  let lengths: number[];
  switch (spec.kind) {
    case 'random':
      return randomDocIds(rng, L, variant);
    case 'one':
      lengths = room > 0 ? [room] : [];
      break;
    case 'uniform': {
      if (spec.k > room) throw new Error(`docs uniform:${spec.k}: ${spec.k} documents need ${spec.k} tokens, the window has ${room} tokens for documents (${where})`);
      const each = Math.floor(room / spec.k);
      lengths = Array.from({ length: spec.k }, (_, i) => each + (i < room % spec.k ? 1 : 0));
      break;
    }
    case 'mix':
      // sampleWindowLengths fills L − 1 tokens, leaving one for an anchor: ask for room + 1
      lengths = sampleWindowLengths(rng, room + 1, spec.mix.shares, spec.mix.upsampled);
      break;
    case 'lengths': {
      const sum = spec.lengths.reduce((a, b) => a + b, 0);
      if (sum > room) throw new Error(`docs lengths:${spec.lengths.join(',')}: the lengths sum to ${sum}, more than the ${room} tokens the window has for documents (${where})`);
      lengths = sum < room ? [...spec.lengths, room - sum] : spec.lengths;
      break;
    }
  }
  return docIdsFromLengths(lengths, anchor);
}

// ------------------------------------------------------------------ seeding, sharding, filling
/** every `count`-th case of a run, starting at `index` (0-based) */
export interface Shard {
  index: number;
  count: number;
}

// the independent random streams of a case
const VALUES = 0;
const DOCS = 1;
const POSITIONS = 2;
const STREAMS = 3;
/** the Rng of one stream of case c: a function of (seed, c, stream) only */
const caseRng = (seed: number, c: number, stream: number): Rng => new Rng(counterUint32(seed, c * STREAMS + stream));

function positiveInt(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be an integer ≥ 1, got ${JSON.stringify(v)}`);
}
function checkSeed(seed: unknown): void {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new Error(`seed must be an integer, got ${JSON.stringify(seed)}`);
}
function checkList<T>(name: string, given: readonly T[], allowed: readonly T[]): void {
  if (!Array.isArray(given) || given.length === 0) throw new Error(`${name}: give at least one of ${allowed.join(', ')}`);
  for (const g of given) if (!allowed.includes(g)) throw new Error(`${name}: unknown "${g}" (accepted: ${allowed.join(', ')})`);
}
function checkShard(shard: Shard | undefined): void {
  if (!shard) return;
  positiveInt('shard count', shard.count);
  if (!Number.isSafeInteger(shard.index) || shard.index < 0 || shard.index >= shard.count)
    throw new Error(`shard index must be an integer in [0, ${shard.count - 1}], got ${JSON.stringify(shard.index)}`);
}

/**
 * The cases of a run: case c of each combination, c = 0..n−1, all combinations of case c
 * before case c+1 (so a run cut short, or a shard, still covers every combination). Only the
 * cases of the shard are built; `make` gets the case number c.
 */
function* runCases<K>(combos: readonly K[], n: number, shard: Shard | undefined, make: (combo: K, c: number) => GenCase): Generator<GenCase> {
  let i = 0;
  for (let c = 0; c < n; c++)
    for (const combo of combos) {
      if (!shard || i % shard.count === shard.index) yield make(combo, c);
      i++;
    }
}

type FloatDType = 'bf16' | 'f32' | 'f64';
const CHUNK = 1 << 16;
const f32Scratch = new Float32Array(CHUNK);

/** write values into t's elements from `offset`, rounded to its dtype (bf16: RNE via f32, as the reference's bf16Value) */
function store(t: Tensor<FloatDType>, offset: number, values: Float64Array): void {
  if (t.dtype !== 'bf16') {
    (t.data as Float32Array | Float64Array).set(values, offset);
    return;
  }
  for (let s = 0; s < values.length; s += CHUNK) {
    const part = values.subarray(s, s + CHUNK);
    f32Scratch.set(part);
    bulkFromF32(f32Scratch.subarray(0, part.length), (t.data as Uint16Array).subarray(offset + s, offset + s + part.length));
  }
}

/**
 * normal·scale values, rounded to dtype. Marsaglia's polar method on 32-bit draws: both
 * normals of a pair are kept and no cos/sin is evaluated, ~3× faster than Rng.normal
 * (which matters at 10^8 elements); the distribution is the same.
 */
function randomTensor(dtype: FloatDType, shape: number[], rng: Rng, scale: number): Tensor {
  const t = alloc(dtype, shape);
  const n = numel(shape);
  const buf = new Float64Array(Math.min(CHUNK, n + (n % 2)));
  for (let off = 0; off < n; off += buf.length) {
    for (let i = 0; i < buf.length; i += 2) {
      let u: number, v: number, r: number;
      do {
        u = rng.uint32() * 2 ** -31 - 1;
        v = rng.uint32() * 2 ** -31 - 1;
        r = u * u + v * v;
      } while (r >= 1 || r === 0);
      const f = Math.sqrt((-2 * Math.log(r)) / r) * scale;
      buf[i] = u * f;
      buf[i + 1] = v * f;
    }
    store(t, off, buf.subarray(0, Math.min(buf.length, n - off)));
  }
  return t;
}

// ------------------------------------------------------------------ attention
export interface SizedLayoutOptions {
  L: number;
  variants: readonly Variant[];
  docs: DocsSpec;
  /** cases per combination */
  n: number;
  seed: number;
  shard?: Shard;
}
export interface SizedAttentionOptions extends SizedLayoutOptions {
  Hq: number;
  Hkv: number;
  D: number;
  precisions: readonly AttnPrecision[];
}

/** the dtype q/k/v carry on a path (its input rounding: bf16 for both bf16 paths) */
const inputDtype = (p: AttnPrecision): FloatDType => (p === 'f64' || p === 'f32' ? p : 'bf16');

function checkLayoutOptions(o: SizedLayoutOptions): void {
  positiveInt('L', o.L);
  positiveInt('n', o.n);
  checkSeed(o.seed);
  checkList('variants', o.variants, VARIANTS);
  checkShard(o.shard);
}

const docIdsOfCase = (o: SizedLayoutOptions, variant: Variant, c: number): Tensor =>
  tensor('i32', [o.L], docIdsForWindow(o.docs, o.L, variant, caseRng(o.seed, c, DOCS)));

/**
 * attention.forward cases: n per (variant, precision), ids `L131072/full/bf16_flash/s1#0`.
 * q [Hq,L,D], k/v [Hkv,L,D] hold normal·1.5 in the path's input dtype; doc_ids i32 [L].
 * Arguments are checked on the call; the cases are built as they are iterated.
 */
export function sizedAttentionCases(o: SizedAttentionOptions): Generator<GenCase> {
  checkLayoutOptions(o);
  for (const k of ['Hq', 'Hkv', 'D'] as const) positiveInt(k, o[k]);
  if (o.Hq % o.Hkv !== 0) throw new Error(`Hq = ${o.Hq} is not a multiple of Hkv = ${o.Hkv} (grouped-query attention needs Hq % Hkv = 0)`);
  checkList('precisions', o.precisions, PRECISIONS);
  const combos = o.variants.flatMap((variant) => o.precisions.map((precision) => ({ variant, precision })));
  return runCases(combos, o.n, o.shard, ({ variant, precision }, c) => {
    const rng = caseRng(o.seed, c, VALUES);
    const dt = inputDtype(precision);
    return {
      id: `L${o.L}/${variant}/${precision}/s${o.seed}#${c}`,
      args: { variant, precision },
      in: {
        q: randomTensor(dt, [o.Hq, o.L, o.D], rng, 1.5),
        k: randomTensor(dt, [o.Hkv, o.L, o.D], rng, 1.5),
        v: randomTensor(dt, [o.Hkv, o.L, o.D], rng, 1.5),
        doc_ids: docIdsOfCase(o, variant, c),
      },
    };
  });
}

export type SizedLayoutOp = 'attention.positions' | 'attention.mask' | 'attention.block_mask';

/**
 * doc_ids cases for the layout ops: n per variant, ids `L131072/anchor/s1#0`; case c of a
 * variant has the doc ids of attention.forward case c (same seed and docs spec).
 * blockSize (default 128) is block_mask's block_size.
 */
export function sizedAttentionLayoutCases(op: SizedLayoutOp, o: SizedLayoutOptions & { blockSize?: number }): Generator<GenCase> {
  const ops: readonly SizedLayoutOp[] = ['attention.positions', 'attention.mask', 'attention.block_mask'];
  if (!ops.includes(op)) throw new Error(`sized layout cases: unknown op "${op}" (accepted: ${ops.join(', ')})`);
  checkLayoutOptions(o);
  const blockSize = o.blockSize ?? 128;
  if (op === 'attention.block_mask') positiveInt('block size', blockSize);
  return runCases(o.variants, o.n, o.shard, (variant, c) => ({
    id: `L${o.L}/${variant}/s${o.seed}#${c}`,
    args: { variant, ...(op === 'attention.block_mask' ? { block_size: blockSize } : {}) },
    in: { doc_ids: docIdsOfCase(o, variant, c) },
  }));
}

// ------------------------------------------------------------------ rope

export type SizedRopeOp = 'rope.apply' | 'rope.rotate' | 'rope.cos_sin';
export interface SizedRopeOptions {
  T: number;
  dim: number;
  /** heads of x (default 1) */
  H?: number;
  /** positions lie in [0, maxPosition) (default T: positions 0..T−1) */
  maxPosition?: number;
  /** default every path and every layout */
  paths?: readonly RopePath[];
  layouts?: readonly RopeLayout[];
  /** rope_theta (default 10000) */
  base?: number;
  /** cases per combination (default 1) */
  n?: number;
  seed?: number;
  shard?: Shard;
}

/** positions i32 [T]: offset..offset+T−1 with a seeded offset in [0, maxPosition − T] */
function positionsOf(rng: Rng, T: number, maxPosition: number): Int32Array {
  const p = new Int32Array(T);
  const offset = rng.int(0, maxPosition - T);
  for (let t = 0; t < T; t++) p[t] = offset + t;
  return p;
}

/** the reference cos/sin [T, dim] of ropeCosSin, computed a chunk of positions at a time (positions are independent) */
function cosSinTensors(positions: Int32Array, cfg: RopeConfig, dtype: FloatDType): { cos: Tensor; sin: Tensor } {
  const { invFreq, attentionScaling } = ropeInvFreq(cfg, seqLenOf(positions));
  const T = positions.length;
  const D = cfg.dim;
  const cos = alloc(dtype, [T, D]);
  const sin = alloc(dtype, [T, D]);
  const rows = Math.max(1, Math.floor(CHUNK / D));
  for (let t = 0; t < T; t += rows) {
    const part = ropeCosSinFromInvFreq(positions.subarray(t, t + rows), invFreq, attentionScaling, cfg);
    store(cos, t * D, part.cos);
    store(sin, t * D, part.sin);
  }
  return { cos, sin };
}

/**
 * rope cases: n per (path, layout), ids `T131072/hf/half/s1#0`. rope.cos_sin gets positions;
 * rope.rotate x [H,T,dim] (normal·4 in the path's x dtype) and positions; rope.apply x and
 * the reference cos/sin of those positions. Case c has the same positions and x draws in
 * every op and combination.
 */
export function sizedRopeCases(op: SizedRopeOp, o: SizedRopeOptions): Generator<GenCase> {
  const ops: readonly SizedRopeOp[] = ['rope.apply', 'rope.rotate', 'rope.cos_sin'];
  if (!ops.includes(op)) throw new Error(`sized rope cases: unknown op "${op}" (accepted: ${ops.join(', ')})`);
  const { T, dim, H = 1, maxPosition = T, paths = ROPE_PATHS, layouts = ROPE_LAYOUTS, base = 1e4, n = 1, seed = 1 } = o;
  for (const [k, v] of Object.entries({ T, dim, H, n, 'max position': maxPosition })) positiveInt(k, v);
  if (dim % 2) throw new Error(`dim must be even (RoPE rotates pairs), got ${dim}`);
  if (maxPosition < T) throw new Error(`max position ${maxPosition} is less than T = ${T}: T distinct positions need max position ≥ T`);
  if (maxPosition > 2 ** 31) throw new Error(`max position ${maxPosition} does not fit int32 positions (at most 2^31)`);
  if (typeof base !== 'number' || !(base > 0) || !Number.isFinite(base)) throw new Error(`base must be a finite number > 0, got ${JSON.stringify(base)}`);
  checkSeed(seed);
  checkList('paths', paths, ROPE_PATHS);
  checkList('layouts', layouts, ROPE_LAYOUTS);
  checkShard(o.shard);
  const combos = paths.flatMap((path) => layouts.map((layout) => ({ path, layout })));
  return runCases(combos, n, o.shard, ({ path, layout }, c) => {
    const positions = positionsOf(caseRng(seed, c, POSITIONS), T, maxPosition);
    const id = `T${T}/${path}/${layout}/s${seed}#${c}`;
    const dt = { x: X_DTYPES[path][0] as FloatDType, cosSin: OUT_DTYPE[path], y: Y_DTYPE[path] };
    const x = () => randomTensor(dt.x, [H, T, dim], caseRng(seed, c, VALUES), 4);
    if (op === 'rope.apply') return { id, args: { layout, dtype: dt.y, path }, in: { x: x(), ...cosSinTensors(positions, { dim, base, path, layout }, dt.cosSin) } };
    const inputs: Record<string, Tensor> = { positions: tensor('i32', [T], positions) };
    if (op === 'rope.rotate') inputs.x = x();
    return { id, args: { dim, base, path, layout }, in: inputs };
  });
}

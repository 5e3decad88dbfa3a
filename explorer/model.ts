// The explorer's numbers, without the DOM: input parsing (one-line messages for bad
// input) and the two models the page draws. Everything is computed by the reference
// code (reference/rope.ts, reference/masks.ts, reference/bf16.ts, reference/rng.ts);
// this file only picks the inputs and reads the results per frequency / per tile.
// Bundled for the browser by explorer/html.ts; imports only browser-safe modules.

import { f32ToBits, f64ToWords, fromF64, hex16, hex32 } from '../reference/bf16.ts';
import { BLOCK_EMPTY, BLOCK_FULL, BLOCK_PARTIAL, blockMask, denseMask, docIdsFromLengths, pairCount, positionIds, VARIANTS, type Variant } from '../reference/masks.ts';
import { Rng } from '../reference/rng.ts';
import { ROPE_LAYOUTS, ROPE_PATHS, ropeCosSin, ropeInvFreq, ropeRotate, toBf16, type RopeConfig, type RopeLayout, type RopePath } from '../reference/rope.ts';

export const MAX_POSITION = 2 ** 20;
export const MAX_DIM = 256;
export const MAX_MASK_TOKENS = 1024;
export const MAX_BLOCK = 1024;

export type Raw = Record<string, string>;

// ---------------------------------------------------------------- parsing
function num(raw: Raw, key: string, what: string): number | string {
  const s = (raw[key] ?? '').trim();
  if (s === '') return `${what}: enter a number`;
  const v = Number(s);
  return Number.isFinite(v) ? v : `${what}: "${s}" is not a number`;
}
function int(raw: Raw, key: string, what: string, lo: number, hi: number): number | string {
  const v = num(raw, key, what);
  if (typeof v === 'string') return v;
  if (!Number.isInteger(v)) return `${what} must be an integer, got ${v}`;
  if (v < lo || v > hi) return `${what} must be in ${lo} … ${hi}, got ${v}`;
  return v;
}

export interface RopeInputs {
  base: number;
  dim: number;
  /** the position p: x and q sit at p */
  p: number;
  /** the shift Δ */
  delta: number;
  /** the key's position n (the violation compares (p, n) with (p + Δ, n + Δ)) */
  n: number;
  path: RopePath;
  layout: RopeLayout;
  seed: number;
}

/** the inputs, or a one-line message saying what is wrong */
export function parseRopeInputs(raw: Raw): RopeInputs | string {
  const base = num(raw, 'base', 'base');
  if (typeof base === 'string') return base;
  if (!(base > 1)) return `base must be greater than 1, got ${base}`;
  const dim = num(raw, 'dim', 'head dim');
  if (typeof dim === 'string') return dim;
  if (!Number.isInteger(dim) || dim < 2 || dim % 2 !== 0 || dim > MAX_DIM) return `head dim must be an even integer in 2 … ${MAX_DIM}, got ${dim}`;
  const p = int(raw, 'p', 'position p', 0, MAX_POSITION);
  if (typeof p === 'string') return p;
  const delta = int(raw, 'delta', 'shift Δ', 0, MAX_POSITION);
  if (typeof delta === 'string') return delta;
  const n = int(raw, 'n', 'key position n', 0, MAX_POSITION);
  if (typeof n === 'string') return n;
  const seed = int(raw, 'seed', 'seed', 0, 2 ** 32 - 1);
  if (typeof seed === 'string') return seed;
  const path = raw.path as RopePath;
  if (!ROPE_PATHS.includes(path)) return `path must be one of ${ROPE_PATHS.join(', ')}, got "${raw.path}"`;
  const layout = raw.layout as RopeLayout;
  if (!ROPE_LAYOUTS.includes(layout)) return `layout must be one of ${ROPE_LAYOUTS.join(', ')}, got "${raw.layout}"`;
  return { base, dim, p, delta, n, path, layout, seed };
}

// ---------------------------------------------------------------- RoPE
export interface RopeRow {
  i: number;
  invFreq: number;
  /** the path's angle: fround(inv_freq · fround(p)), or the f64 product on the f64 path (the reference uses the exact product there) */
  angle: number;
  cosExact: number;
  sinExact: number;
  cos: number;
  sin: number;
  /** bit patterns of the path's cos/sin: bf16 (hf), f32 (f32, paper), f64 (f64) */
  cosBits: string;
  sinBits: string;
  /** |R̃(p)x − R(p)x| over this frequency's two dimensions */
  rotErr: number;
  /** |⟨R̃(p+Δ)q, R̃(n+Δ)k⟩ − ⟨R̃(p)q, R̃(n)k⟩| over this frequency's two dimensions */
  viol: number;
}

export interface RopeModel {
  inputs: RopeInputs;
  rows: RopeRow[];
  /** ‖R̃(p)x − R(p)x‖ over all dimensions */
  rotErr: number;
  /** |⟨R̃(p+Δ)q, R̃(n+Δ)k⟩ − ⟨R̃(p)q, R̃(n)k⟩| for the whole head */
  viol: number;
  bitsKind: 'bf16' | 'f32' | 'f64';
  /** the seeded x, the path's cos/sin at p (one row of D), and the reference's R̃(p)x (reference/rope.ts ropeApply) */
  x: Float64Array;
  cos: Float64Array;
  sin: Float64Array;
  rx: Float64Array;
  /** the format R̃(p)x is stored in: bf16 (hf, paper), f32, f64 */
  outKind: 'bf16' | 'f32' | 'f64';
}

/** the seeded vectors: x, then q, then k, each dim draws of toBf16(normal) from Rng(seed) */
export function seededVectors(dim: number, seed: number): { x: Float64Array; q: Float64Array; k: Float64Array } {
  const rng = new Rng(seed);
  const draw = () => Float64Array.from({ length: dim }, () => toBf16(rng.normal()));
  const x = draw();
  const q = draw();
  const k = draw();
  return { x, q, k };
}

/** the two dimensions frequency i rotates */
export function pairOf(i: number, dim: number, layout: RopeLayout): [number, number] {
  return layout === 'half' ? [i, i + dim / 2] : [2 * i, 2 * i + 1];
}

/** v's bit pattern in a storage format (hex) */
export function bitsIn(v: number, kind: 'bf16' | 'f32' | 'f64'): string {
  if (kind === 'bf16') return hex16(fromF64(v));
  if (kind === 'f64') {
    const [hi, lo] = f64ToWords(v);
    return hex32(hi) + (lo >>> 0).toString(16).toUpperCase().padStart(8, '0');
  }
  return hex32(f32ToBits(v));
}

function bitsOf(v: number, path: RopePath): string {
  if (path === 'hf') return hex16(fromF64(v));
  if (path === 'f64') {
    const [hi, lo] = f64ToWords(v);
    return hex32(hi) + (lo >>> 0).toString(16).toUpperCase().padStart(8, '0');
  }
  return hex32(f32ToBits(v));
}

export function ropeModel(inputs: RopeInputs): RopeModel {
  const { base, dim, p, delta, n, path, layout, seed } = inputs;
  const cfg: RopeConfig = { dim, base, path, layout };
  const ideal: RopeConfig = { ...cfg, path: 'f64' };
  const half = dim / 2;
  const { invFreq } = ropeInvFreq(cfg);
  const cs = ropeCosSin([p], cfg);
  const ex = ropeCosSin([p], ideal);
  const { x, q, k } = seededVectors(dim, seed);
  const rot = (v: Float64Array, pos: number, c: RopeConfig) => ropeRotate(v, 1, 1, dim, [pos], c);
  const rx = rot(x, p, cfg);
  const rxIdeal = rot(x, p, ideal);
  const q0 = rot(q, p, cfg);
  const k0 = rot(k, n, cfg);
  const q1 = rot(q, p + delta, cfg);
  const k1 = rot(k, n + delta, cfg);
  const rows: RopeRow[] = [];
  for (let i = 0; i < half; i++) {
    const [a, b] = pairOf(i, dim, layout);
    const angle = path === 'f64' ? invFreq[i] * p : Math.fround(invFreq[i] * Math.fround(p));
    rows.push({
      i,
      invFreq: invFreq[i],
      angle,
      cosExact: ex.cos[a],
      sinExact: ex.sin[a],
      cos: cs.cos[a],
      sin: cs.sin[a],
      cosBits: bitsOf(cs.cos[a], path),
      sinBits: bitsOf(cs.sin[a], path),
      rotErr: Math.hypot(rx[a] - rxIdeal[a], rx[b] - rxIdeal[b]),
      viol: Math.abs(q1[a] * k1[a] + q1[b] * k1[b] - (q0[a] * k0[a] + q0[b] * k0[b])),
    });
  }
  let sq = 0;
  let s0 = 0;
  let s1 = 0;
  for (let j = 0; j < dim; j++) {
    sq += (rx[j] - rxIdeal[j]) ** 2;
    s0 += q0[j] * k0[j];
    s1 += q1[j] * k1[j];
  }
  return {
    inputs,
    rows,
    rotErr: Math.sqrt(sq),
    viol: Math.abs(s1 - s0),
    bitsKind: path === 'hf' ? 'bf16' : path === 'f64' ? 'f64' : 'f32',
    x,
    cos: cs.cos,
    sin: cs.sin,
    rx,
    outKind: path === 'hf' || path === 'paper' ? 'bf16' : path === 'f64' ? 'f64' : 'f32',
  };
}

// ---------------------------------------------------------------- masks
export interface MaskInputs {
  lengths: number[];
  variant: Variant;
  blockSize: number;
}

export function parseMaskInputs(raw: Raw): MaskInputs | string {
  const text = (raw.lengths ?? '').trim();
  if (text === '') return 'document lengths: enter positive integers separated by commas, e.g. 20,30,14';
  const parts = text.split(',').map((s) => s.trim());
  const lengths: number[] = [];
  for (const s of parts) {
    const v = Number(s);
    if (s === '' || !Number.isInteger(v) || v < 1) return `document lengths must be positive integers separated by commas, got "${s}"`;
    lengths.push(v);
  }
  const variant = raw.variant as Variant;
  if (!VARIANTS.includes(variant)) return `variant must be one of ${VARIANTS.join(', ')}, got "${raw.variant}"`;
  const L = lengths.reduce((s, v) => s + v, 0) + (variant === 'anchor' ? 1 : 0);
  if (L > MAX_MASK_TOKENS) return `the window has ${L} tokens; the explorer draws at most ${MAX_MASK_TOKENS}`;
  const blockSize = int(raw, 'block', 'block size', 1, MAX_BLOCK);
  if (typeof blockSize === 'string') return blockSize;
  return { lengths, variant, blockSize };
}

export interface MaskModel {
  inputs: MaskInputs;
  L: number;
  docIds: Int32Array;
  mask: Uint8Array;
  positions: Int32Array;
  nb: number;
  kind: Uint8Array;
  counts: { empty: number; partial: number; full: number };
  pairs: number;
}

export function maskModel(inputs: MaskInputs): MaskModel {
  const { lengths, variant, blockSize } = inputs;
  const docIds = docIdsFromLengths(lengths, variant === 'anchor');
  const mask = denseMask(variant, docIds);
  const positions = positionIds(variant, docIds);
  const { nb, kind } = blockMask(variant, docIds, blockSize);
  const counts = { empty: 0, partial: 0, full: 0 };
  for (const t of kind) {
    if (t === BLOCK_EMPTY) counts.empty++;
    else if (t === BLOCK_PARTIAL) counts.partial++;
    else if (t === BLOCK_FULL) counts.full++;
  }
  return { inputs, L: docIds.length, docIds, mask, positions, nb, kind, counts, pairs: pairCount(variant, docIds) };
}

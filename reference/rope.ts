// Rotary position embedding (RoPE), every precision path the paper and its code use.
// SPEC.md, "rope". Tensors are Float64Array of exact VALUES, row-major; every rounding
// is explicit: Math.fround for float32 results, bf16Value / toBf16 for bf16 results.
//
// Paths:
//   f64   the ideal: inv_freq in float64, cos/sin of the exact angle inv_freq·pos
//         (double-double product), the rotation in float64.
//   f32   everything float32: inv_freq, angle fround(inv_freq·pos), correctly rounded
//         f32 cos/sin (× attention_scaling in f32), q·cos + rot(q)·sin with an f32
//         rounding after each op.
//   hf    transformers' LlamaRotaryEmbedding + apply_rotary_pos_emb as run in bf16:
//         f32 inv_freq, angle and cos/sin, cos/sin cast to bf16, then q·cos + rot(q)·sin
//         in bf16 with a rounding after each of the three ops.
//   paper the paper's text: cos/sin as f32, rotation in f32, the rotated q/k rounded
//         to bf16 once.
// invFreqDtype 'bf16' rounds inv_freq to bf16 (DeepSpeed's module.bfloat16() buffer
// cast) and then uses it as float32, on any path.
//
// Layouts: 'half' pairs dimension i with i + D/2 (transformers' rotate_half); cos/sin
// rows are cat(freqs, freqs). 'interleaved' pairs 2i with 2i+1 (the paper's Eq. 6,
// GPT-J / Meta's complex form); cos/sin rows repeat each frequency twice.

import { bf16Value, fromF64, toF32 } from './bf16.ts';
import { ARITH_F32, ARITH_F64, invFreqFor } from './rope-scaling.ts';
import { cosF32, cosSinOfProduct, sinF32 } from './rope-trig.ts';
import { OpError } from '../io/errors.ts';

export type RopePath = 'f64' | 'f32' | 'hf' | 'paper';
export type RopeLayout = 'half' | 'interleaved';
export const ROPE_PATHS: readonly RopePath[] = ['f64', 'f32', 'hf', 'paper'];
export const ROPE_LAYOUTS: readonly RopeLayout[] = ['half', 'interleaved'];
/**
 * A rounding stage that the drift decomposition can switch to exact (computed in f64,
 * not rounded): inv_freq (its f32 formula), inv_freq_bf16 (the DeepSpeed cast), angle
 * (fround(inv_freq·pos), incl. pos → f32), cos_sin (f32 cos/sin and × attention_scaling),
 * cos_sin_cast (cos/sin → bf16, hf), mul and add (the rotation's ops), out_cast (paper:
 * the final round of q/k to bf16).
 */
export type RopeStage = 'inv_freq' | 'inv_freq_bf16' | 'angle' | 'cos_sin' | 'cos_sin_cast' | 'mul' | 'add' | 'out_cast';
export const ROPE_STAGES: readonly RopeStage[] = ['inv_freq', 'inv_freq_bf16', 'angle', 'cos_sin', 'cos_sin_cast', 'mul', 'add', 'out_cast'];

export interface RopeConfig {
  dim: number;
  base: number;
  /** transformers rope_scaling / rope_parameters object (rope_type and its fields) */
  scaling?: Record<string, unknown>;
  maxPositionEmbeddings?: number;
  path: RopePath;
  layout: RopeLayout;
  invFreqDtype?: 'f32' | 'bf16';
  /** stages computed exactly (for the decomposition) */
  exactStages?: ReadonlySet<RopeStage>;
}

const NONE: ReadonlySet<RopeStage> = new Set();

/** round an f64 value to bf16 ONCE (for a float32 value this is bf16Value, PyTorch's cast) */
export function toBf16(x: number): number {
  return x === Math.fround(x) ? bf16Value(x) : toF32(fromF64(x));
}

/**
 * inv_freq [dim/2] (values) and attention_scaling (a double, as transformers returns it).
 * f32 arithmetic on every path but f64 (or with the 'inv_freq' stage exact).
 * seqLen = max position + 1: dynamic and longrope recompute past their lengths.
 * invFreqDtype 'bf16' rounds the init-time table to bf16 (a recomputed one stays f32, as in torch).
 */
export function ropeInvFreq(cfg: RopeConfig, seqLen?: number): { invFreq: Float64Array; attentionScaling: number } {
  const exact = cfg.exactStages ?? NONE;
  const f64 = cfg.path === 'f64' || exact.has('inv_freq');
  const { invFreq, attentionScaling, recomputed } = invFreqFor(cfg, f64 ? ARITH_F64 : ARITH_F32, seqLen);
  // module.bfloat16() casts the init-time buffer; a table dynamic/longrope recompute in the
  // forward pass is a fresh float32 tensor and escapes the cast
  if (cfg.invFreqDtype === 'bf16' && !exact.has('inv_freq_bf16') && !recomputed) for (let i = 0; i < invFreq.length; i++) invFreq[i] = toBf16(invFreq[i]);
  return { invFreq, attentionScaling };
}

/** seq_len as transformers' dynamic_rope_update sees it: max(position_ids) + 1 */
export function seqLenOf(positions: ArrayLike<number>): number | undefined {
  let m = -Infinity;
  for (let i = 0; i < positions.length; i++) m = Math.max(m, positions[i]);
  return positions.length ? m + 1 : undefined;
}

/** cos, sin [T·dim] (values rounded per path) for the given positions */
export function ropeCosSin(positions: ArrayLike<number>, cfg: RopeConfig): { cos: Float64Array; sin: Float64Array } {
  const { invFreq, attentionScaling } = ropeInvFreq(cfg, seqLenOf(positions));
  return ropeCosSinFromInvFreq(positions, invFreq, attentionScaling, cfg);
}

/** cos, sin from a given inv_freq table (for comparing with another implementation's table) */
export function ropeCosSinFromInvFreq(
  positions: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  attentionScaling: number,
  cfg: Pick<RopeConfig, 'path' | 'layout' | 'exactStages'>,
): { cos: Float64Array; sin: Float64Array } {
  const exact = cfg.exactStages ?? NONE;
  const half = invFreq.length;
  const D = 2 * half;
  const T = positions.length;
  const cos = new Float64Array(T * D);
  const sin = new Float64Array(T * D);
  const f64 = cfg.path === 'f64';
  const scaleF32 = Math.fround(attentionScaling);
  for (let t = 0; t < T; t++) {
    const pos = positions[t];
    for (let i = 0; i < half; i++) {
      let c: number;
      let s: number;
      const exactAngle = f64 || exact.has('angle');
      const exactTrig = f64 || exact.has('cos_sin');
      if (exactAngle && exactTrig) {
        // the ideal: cos/sin of the exact product inv_freq·pos
        const cs = cosSinOfProduct(invFreq[i], pos);
        c = cs.cos * attentionScaling;
        s = cs.sin * attentionScaling;
      } else {
        // position_ids.float(), then one f32 multiply (the K=1 matmul)
        const angle = exactAngle ? invFreq[i] * pos : Math.fround(invFreq[i] * Math.fround(pos));
        if (exactTrig) {
          c = Math.cos(angle) * attentionScaling;
          s = Math.sin(angle) * attentionScaling;
        } else {
          c = Math.fround(cosF32(angle) * scaleF32);
          s = Math.fround(sinF32(angle) * scaleF32);
        }
      }
      if (cfg.path === 'hf' && !exact.has('cos_sin_cast')) {
        c = toBf16(c);
        s = toBf16(s);
      }
      const [j0, j1] = cfg.layout === 'half' ? [i, i + half] : [2 * i, 2 * i + 1];
      cos[t * D + j0] = cos[t * D + j1] = c;
      sin[t * D + j0] = sin[t * D + j1] = s;
    }
  }
  return { cos, sin };
}

/** rot(x)[j] for one row: half → cat(−x2, x1); interleaved → (−x[2i+1], x[2i]) */
function rotAt(x: Float64Array, row: number, j: number, D: number, layout: RopeLayout): number {
  if (layout === 'half') {
    const h = D / 2;
    return j < h ? -x[row + j + h] : x[row + j - h];
  }
  return j % 2 === 0 ? -x[row + j + 1] : x[row + j - 1];
}
/** rotᵀ(g)[j]: the adjoint (= inverse) of rot: half → cat(g2, −g1); interleaved → (g[2i+1], −g[2i]) */
function rotTAt(g: (k: number) => number, j: number, D: number, layout: RopeLayout): number {
  if (layout === 'half') {
    const h = D / 2;
    return j < h ? g(j + h) : -g(j - h);
  }
  return j % 2 === 0 ? g(j + 1) : -g(j - 1);
}

/** the rounding after a rotation op on a path (identity when the stage is exact) */
function opRounding(path: RopePath, exact: boolean): (v: number) => number {
  if (exact || path === 'f64') return (v) => v;
  return path === 'hf' ? toBf16 : Math.fround;
}

function checkShapes(name: string, x: Float64Array, H: number, T: number, D: number, cos: Float64Array, sin: Float64Array): void {
  if (D % 2 || D < 2) throw new OpError('BAD_ARGS', `${name}: head dim D must be even, got ${D}`);
  if (x.length !== H * T * D) throw new OpError('BAD_TENSOR', `${name}: x has ${x.length} elements, expected H·T·D = ${H}·${T}·${D}`);
  if (cos.length !== T * D || sin.length !== T * D) throw new OpError('BAD_TENSOR', `${name}: cos/sin have ${cos.length}/${sin.length} elements, expected T·D = ${T}·${D}`);
}

/**
 * y = x·cos + rot(x)·sin for x [H,T,D], cos/sin [T,D], rounded per path:
 * hf: bf16(bf16(x·c) + bf16(rot(x)·s)); f32: the same with fround; paper: the f32
 * result rounded to bf16 once; f64: no rounding.
 */
export function ropeApply(
  x: Float64Array, H: number, T: number, D: number, cos: Float64Array, sin: Float64Array,
  cfg: Pick<RopeConfig, 'path' | 'layout' | 'exactStages'>,
): Float64Array {
  checkShapes('rope.apply', x, H, T, D, cos, sin);
  const exact = cfg.exactStages ?? NONE;
  const opPath = cfg.path === 'paper' ? 'f32' : cfg.path;
  const mul = opRounding(opPath, exact.has('mul'));
  const add = opRounding(opPath, exact.has('add'));
  const out = cfg.path === 'paper' && !exact.has('out_cast') ? toBf16 : (v: number) => v;
  const y = new Float64Array(x.length);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++) {
      const row = (h * T + t) * D;
      for (let j = 0; j < D; j++) {
        const c = cos[t * D + j];
        const s = sin[t * D + j];
        y[row + j] = out(add(mul(x[row + j] * c) + mul(rotAt(x, row, j, D, cfg.layout) * s)));
      }
    }
  return y;
}

/**
 * dx for dy = ∂L/∂y of ropeApply on the same path (autograd of the same ops):
 * hf: bf16(bf16(dy·cos) + rotᵀ(bf16(dy·sin))); f32: fround likewise; f64: exact;
 * paper: the f32 backward (the bf16 cast's backward passes dy through as f32); the
 * result is the gradient w.r.t. the f32 input.
 */
export function ropeApplyBackward(
  dy: Float64Array, H: number, T: number, D: number, cos: Float64Array, sin: Float64Array,
  cfg: Pick<RopeConfig, 'path' | 'layout'>,
): Float64Array {
  checkShapes('rope.apply backward', dy, H, T, D, cos, sin);
  const opPath = cfg.path === 'paper' ? 'f32' : cfg.path;
  const r = opRounding(opPath, false);
  const dx = new Float64Array(dy.length);
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++) {
      const row = (h * T + t) * D;
      const gs = (k: number) => r(dy[row + k] * sin[t * D + k]);
      for (let j = 0; j < D; j++) dx[row + j] = r(r(dy[row + j] * cos[t * D + j]) + rotTAt(gs, j, D, cfg.layout));
    }
  return dx;
}

/** the whole path: inv_freq → angles → cos/sin → apply, for x [H,T,D] with D = cfg.dim */
export function ropeRotate(x: Float64Array, H: number, T: number, D: number, positions: ArrayLike<number>, cfg: RopeConfig): Float64Array {
  if (D !== cfg.dim) throw new OpError('BAD_ARGS', `rope.rotate: x has head dim ${D} but dim is ${cfg.dim} (partial rotary is not supported)`);
  if (positions.length !== T) throw new OpError('BAD_TENSOR', `rope.rotate: ${positions.length} positions for T = ${T}`);
  const { cos, sin } = ropeCosSin(positions, cfg);
  return ropeApply(x, H, T, D, cos, sin, cfg);
}

/** index map from the half layout to the interleaved one: interleaved[perm[j]] = half[j] */
export function halfToInterleavedPerm(D: number): Int32Array {
  const h = D / 2;
  const perm = new Int32Array(D);
  for (let i = 0; i < h; i++) {
    perm[i] = 2 * i;
    perm[i + h] = 2 * i + 1;
  }
  return perm;
}

/** the values a path's input must hold: bf16 for hf/paper inputs is the caller's business; this rounds to the path's storage */
export function roundToPath(x: number, path: RopePath): number {
  return path === 'hf' || path === 'paper' ? toBf16(x) : path === 'f32' ? Math.fround(x) : x;
}

// inv_freq and attention_scaling for every transformers rope_type (ROPE_INIT_FUNCTIONS
// in transformers 5.x modeling_rope_utils.py, plus LlamaRotaryEmbedding's "default").
// The same formulas, written so that every float32 rounding transformers performs is
// one explicit `r(...)` here. In "f64" arithmetic `r` is the identity and pow is Math.pow:
// the ideal values. Python-side scalars (math.log, ratios of config ints) are doubles in
// transformers too, and stay doubles here; a Python float meeting a float32 tensor is
// rounded to float32 first (PyTorch's wrapped-number rule), written r(scalar).
//
// PyTorch details that decide bits:
//   `1.0 / t` and `c / t` are t.reciprocal() * c: fround(fround(1/t) * fround(c)).
//   `base ** t` is an f32 pow: the oracle uses the correctly rounded one (rope-trig.ts).
//   comparisons with a Python float compare against its float32 rounding.

import { OpError } from '../io/errors.ts';
import { powF32 } from './rope-trig.ts';

export const ROPE_TYPES = ['default', 'linear', 'dynamic', 'yarn', 'longrope', 'llama3'] as const;
export type RopeType = (typeof ROPE_TYPES)[number];

/** the arithmetic an inv_freq computation runs in */
export interface Arith {
  r: (x: number) => number;
  /** tensor ** tensor: both operands are float32 values */
  pow: (b: number, e: number) => number;
  /** float32 tensor ** Python float: PyTorch keeps the exponent a double */
  powScalarExp: (b: number, e: number) => number;
}
export const ARITH_F32: Arith = { r: Math.fround, pow: (b, e) => powF32(Math.fround(b), Math.fround(e)), powScalarExp: (b, e) => powF32(Math.fround(b), e) };
export const ARITH_F64: Arith = { r: (x) => x, pow: Math.pow, powScalarExp: Math.pow };

const KEYS: Record<RopeType, { required: string[]; optional: string[] }> = {
  default: { required: [], optional: [] },
  linear: { required: ['factor'], optional: [] },
  dynamic: { required: ['factor'], optional: [] },
  yarn: { required: ['factor'], optional: ['original_max_position_embeddings', 'attention_factor', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim', 'truncate'] },
  longrope: { required: ['short_factor', 'long_factor'], optional: ['original_max_position_embeddings', 'factor', 'attention_factor'] },
  llama3: { required: ['factor', 'low_freq_factor', 'high_freq_factor'], optional: ['original_max_position_embeddings'] },
};
const ALWAYS = ['rope_type', 'type', 'rope_theta'];

export interface ScalingSpec {
  type: RopeType;
  params: Record<string, unknown>;
}

/** validate a transformers rope_scaling / rope_parameters object (strict: unknown keys are errors) */
export function parseScaling(scaling: Record<string, unknown> | undefined, base: number, dim: number): ScalingSpec {
  const s = scaling ?? {};
  const type = (s.rope_type ?? s.type ?? 'default') as string;
  if (!(ROPE_TYPES as readonly string[]).includes(type)) throw new OpError('BAD_ARGS', `rope: unknown rope_type ${JSON.stringify(type)} (known: ${ROPE_TYPES.join(', ')})`);
  const t = type as RopeType;
  const { required, optional } = KEYS[t];
  for (const k of Object.keys(s))
    if (!required.includes(k) && !optional.includes(k) && !ALWAYS.includes(k))
      throw new OpError('BAD_ARGS', `rope: scaling key "${k}" is not used by rope_type "${t}" (accepted: ${[...required, ...optional].join(', ') || 'none'})`);
  for (const k of required) if (s[k] === undefined || s[k] === null) throw new OpError('BAD_ARGS', `rope: rope_type "${t}" needs scaling.${k}`);
  if (s.rope_theta !== undefined && s.rope_theta !== base) throw new OpError('BAD_ARGS', `rope: scaling.rope_theta ${s.rope_theta} differs from base ${base}`);
  const num = (k: string) => {
    const v = s[k];
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isFinite(v))) throw new OpError('BAD_ARGS', `rope: scaling.${k} must be a finite number, got ${JSON.stringify(v)}`);
  };
  for (const k of ['factor', 'original_max_position_embeddings', 'attention_factor', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim', 'low_freq_factor', 'high_freq_factor']) num(k);
  // values the formulas divide by, take logs of, or use as a length: anything else gives NaN or nonsense
  const positive = (k: string) => {
    if (typeof s[k] === 'number' && !((s[k] as number) > 0)) throw new OpError('BAD_ARGS', `rope: scaling.${k} must be > 0, got ${s[k]}`);
  };
  for (const k of ['factor', 'attention_factor', 'beta_fast', 'beta_slow', 'low_freq_factor', 'high_freq_factor']) positive(k);
  for (const k of ['mscale', 'mscale_all_dim'])
    if (typeof s[k] === 'number' && (s[k] as number) < 0) throw new OpError('BAD_ARGS', `rope: scaling.${k} must be ≥ 0, got ${s[k]}`);
  const omp = s.original_max_position_embeddings;
  if (typeof omp === 'number' && !(Number.isSafeInteger(omp) && omp >= 1))
    throw new OpError('BAD_ARGS', `rope: scaling.original_max_position_embeddings must be a positive integer (a length in tokens), got ${omp}`);
  if (typeof s.low_freq_factor === 'number' && typeof s.high_freq_factor === 'number' && !(s.high_freq_factor > s.low_freq_factor))
    throw new OpError('BAD_ARGS', `rope: llama3 needs high_freq_factor > low_freq_factor (it divides by their difference), got ${s.high_freq_factor} and ${s.low_freq_factor}`);
  for (const k of ['short_factor', 'long_factor']) {
    if (!(k in s)) continue;
    const v = s[k];
    if (!Array.isArray(v) || v.length !== dim / 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0))
      throw new OpError('BAD_ARGS', `rope: scaling.${k} must be ${dim / 2} positive numbers (dim/2)`);
  }
  if (s.truncate !== undefined && typeof s.truncate !== 'boolean') throw new OpError('BAD_ARGS', `rope: scaling.truncate must be true or false`);
  return { type: t, params: s };
}

export interface InvFreqInput {
  dim: number;
  base: number;
  scaling?: Record<string, unknown>;
  maxPositionEmbeddings?: number;
}

/** 2m/dim for m = 0..dim/2−1: int64 arange → float32 → / dim (one f32 division) */
function exponents(dim: number, a: Arith): number[] {
  return Array.from({ length: dim / 2 }, (_, m) => a.r((2 * m) / dim));
}

/**
 * inv_freq[dim/2] and attention_scaling for a rope_type, in arithmetic `a`.
 * seqLen: the current sequence length (max position + 1), used by dynamic (growth past
 * max_position_embeddings) and longrope (long factors past the original length), as
 * transformers' dynamic_rope_update does in the forward pass.
 */
export function invFreqFor(inp: InvFreqInput, a: Arith, seqLen?: number): { invFreq: Float64Array; attentionScaling: number; recomputed: boolean } {
  const { dim, base } = inp;
  if (!Number.isInteger(dim) || dim < 2 || dim % 2) throw new OpError('BAD_ARGS', `rope: dim must be a positive even integer, got ${dim}`);
  if (!(base > 1) || !Number.isFinite(base)) throw new OpError('BAD_ARGS', `rope: base must be a finite number > 1, got ${base}`);
  const { type, params: p } = parseScaling(inp.scaling, base, dim);
  const { r } = a;
  const mpe = inp.maxPositionEmbeddings;
  const needMpe = (why: string): number => {
    if (mpe === undefined) throw new OpError('BAD_ARGS', `rope: rope_type "${type}" needs max_position_embeddings (${why})`);
    return mpe;
  };
  const orig = (): number => (p.original_max_position_embeddings as number | undefined) ?? needMpe('the default original_max_position_embeddings');
  const e = exponents(dim, a);
  const half = dim / 2;
  const out = new Float64Array(half);
  // 1.0 / (base ** e), the shared core: two f32 roundings
  const plain = (b: number) => e.map((x) => r(1 / a.pow(b, x)));
  let attentionScaling = 1.0;
  let recomputed = false; // the forward pass replaced the init-time table (a fresh f32 buffer)

  switch (type) {
    case 'default':
      out.set(plain(base));
      break;
    case 'linear': {
      const f = r(p.factor as number);
      plain(base).forEach((v, i) => (out[i] = r(v / f)));
      break;
    }
    case 'dynamic': {
      const M = needMpe('the NTK base grows with seq_len / max_position_embeddings');
      if (dim <= 2) throw new OpError('BAD_ARGS', `rope: rope_type "dynamic" needs dim > 2 (its exponent is dim / (dim − 2)), got ${dim}`);
      const factor = p.factor as number;
      let b: number;
      if (seqLen !== undefined && seqLen > M) {
        recomputed = true;
        // forward-time growth: seq_len is an int64 tensor, so this chain runs on float32 tensors
        let q = r(r(factor) * r(seqLen));
        q = r(q / r(M));
        q = r(q - r(factor - 1));
        b = r(r(base) * a.powScalarExp(q, dim / (dim - 2)));
      } else {
        // init time: seq_len = max_position_embeddings, plain Python floats
        b = base * ((factor * M) / M - (factor - 1)) ** (dim / (dim - 2));
      }
      out.set(plain(b));
      break;
    }
    case 'yarn': {
      const O = orig();
      let factor = p.factor as number | undefined;
      if (factor === undefined || factor === null) factor = needMpe('factor defaults to max/original') / O;
      const mscale = p.mscale as number | undefined;
      const mscaleAll = p.mscale_all_dim as number | undefined;
      const getMscale = (scale: number, m = 1) => (scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0);
      const af = p.attention_factor as number | undefined;
      attentionScaling = af ?? (mscale && mscaleAll ? getMscale(factor, mscale) / getMscale(factor, mscaleAll) : getMscale(factor));
      const betaFast = (p.beta_fast as number) || 32;
      const betaSlow = (p.beta_slow as number) || 1;
      const correctionDim = (rot: number) => (dim * Math.log(O / (rot * 2 * Math.PI))) / (2 * Math.log(base));
      let low = correctionDim(betaFast);
      let high = correctionDim(betaSlow);
      if (p.truncate ?? true) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      low = Math.max(low, 0);
      high = Math.min(high, dim - 1);
      if (low === high) high += 0.001; // transformers: "prevent singularity"
      const span = r(high - low);
      const lowR = r(low);
      const fR = r(factor);
      e.forEach((x, i) => {
        const pf = a.pow(base, x);
        const extrap = r(1 / pf);
        const interp = r(1 / r(fR * pf));
        const ramp = Math.min(Math.max(r(r(i - lowR) / span), 0), 1);
        const ef = r(1 - ramp); // inv_freq_extrapolation_factor
        out[i] = r(r(interp * r(1 - ef)) + r(extrap * ef));
      });
      break;
    }
    case 'longrope': {
      const O = orig();
      let factor = p.factor as number | undefined;
      if (factor === undefined || factor === null) factor = needMpe('factor defaults to max/original') / O;
      const af = p.attention_factor as number | undefined;
      attentionScaling = af ?? (factor <= 1.0 ? 1.0 : Math.sqrt(1 + Math.log(factor) / Math.log(O)));
      recomputed = seqLen !== undefined && seqLen > O;
      const ext = (recomputed ? p.long_factor : p.short_factor) as number[];
      e.forEach((x, i) => (out[i] = r(1 / r(r(ext[i]) * a.pow(base, x)))));
      break;
    }
    case 'llama3': {
      const O = orig();
      const factor = r(p.factor as number);
      const lowF = p.low_freq_factor as number;
      const highF = p.high_freq_factor as number;
      const lowWavelen = r(O / lowF);
      const highWavelen = r(O / highF);
      const twoPi = r(2 * Math.PI);
      plain(base).forEach((inv, i) => {
        const wavelen = r(r(1 / inv) * twoPi);
        let v = wavelen > lowWavelen ? r(inv / factor) : inv;
        if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
          const smooth = r(r(r(r(1 / wavelen) * r(O)) - r(lowF)) / r(highF - lowF));
          v = r(r(r(r(1 - smooth) * v) / factor) + r(smooth * v));
        }
        out[i] = v;
      });
      break;
    }
  }
  return { invFreq: out, attentionScaling, recomputed };
}

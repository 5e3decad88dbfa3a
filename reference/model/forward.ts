// The decoder forward pass (transformers' LlamaForCausalLM / MistralForCausalLM /
// Qwen2ForCausalLM): embeddings → per layer [RMSNorm → q/k/v → RoPE → grouped-query
// attention (reference/attention.ts, any mask variant) → o_proj → residual → RMSNorm →
// SwiGLU MLP → residual] → RMSNorm → LM head. Every intermediate the backward pass needs
// is kept in the returned cache.

import { positionIds, type Variant } from '../masks.ts';
import type { RopeConfig } from '../rope.ts';
import { getBackend, type AttentionOpts, type AttentionShape, type Backend } from './backend.ts';
import type { ModelConfig } from './config.ts';
import { embeddingForward } from './layers.ts';
import type { Model, ParamValues } from './params.ts';
import { policy, type Policy, type Precision } from './precision.ts';

export interface ForwardOptions {
  precision: Precision;
  /** attention mask variant (default 'full') */
  variant?: Variant;
  /** document ids [T] for the mask (default: all 0, one document) */
  docIds?: ArrayLike<number>;
  /** RoPE positions [T] (default: positionIds(variant, docIds)) */
  positions?: ArrayLike<number>;
  /** added to every position: run the model at positions [Δ, Δ+T) (the paper's Eq. 4/5 shift) */
  positionOffset?: number;
  /** keep every layer's q and k after RoPE ([H, T, D] each) in the result */
  captureQK?: boolean;
  /** the bf16 attention path (default 'bf16_eager', transformers' eager attention) */
  bf16Attention?: 'bf16_eager' | 'bf16_flash';
  /** inv_freq in bf16, as DeepSpeed's module.bfloat16() leaves it */
  invFreqDtype?: 'f32' | 'bf16';
  /** RoPE overrides for the drift experiments: another path (e.g. 'paper'), stages made exact */
  rope?: Partial<Pick<RopeConfig, 'path' | 'exactStages'>>;
  /** accumulate QKᵀ exactly on the f32/bf16 attention paths (the drift decomposition's 'qk' stage) */
  exactQK?: boolean;
  /**
   * keep every layer's activations in the result's cache for modelBackward (default true);
   * false for inference: a layer's activations are then garbage once the next layer has run
   * (at the SmolLM2-135M shape and T 512 the kept ones take about 1.4 GB)
   */
  keepActivations?: boolean;
  backend?: Backend;
}

export interface LayerCache {
  hIn: Float64Array;
  xn1: Float64Array;
  rstd1: Float64Array;
  q: Float64Array; // [Hq, T, D] after RoPE
  k: Float64Array; // [Hkv, T, D] after RoPE
  v: Float64Array; // [Hkv, T, D]
  attnOut: Float64Array; // [Hq, T, D]
  lse: Float64Array;
  o: Float64Array; // [T, Hq*D]
  h2: Float64Array;
  xn2: Float64Array;
  rstd2: Float64Array;
  gate: Float64Array;
  up: Float64Array;
  act: Float64Array;
  m: Float64Array;
}

export interface ForwardCache {
  pol: Policy;
  attnOpts: AttentionOpts;
  backend: Backend;
  ids: number[];
  docIds: ArrayLike<number>;
  variant: Variant;
  ropeCfg: RopeConfig;
  cos: Float64Array;
  sin: Float64Array;
  /** every layer's activations; empty when the forward ran with keepActivations: false */
  layers: LayerCache[];
  hFinal: Float64Array;
  hn: Float64Array;
  rstdF: Float64Array;
}

export interface ForwardResult {
  /** [T, V] row-major, rounded to the policy dtype (f32 for the wire) */
  logits: Float64Array;
  T: number;
  V: number;
  positions: Int32Array;
  qk?: { q: Float64Array; k: Float64Array }[];
  cache: ForwardCache;
}

/** the RoPE configuration of a model under a policy */
export function ropeConfigOf(cfg: ModelConfig, pol: Policy, invFreqDtype: 'f32' | 'bf16' = 'f32'): RopeConfig {
  return {
    dim: cfg.headDim,
    base: cfg.ropeTheta,
    scaling: cfg.ropeScaling,
    maxPositionEmbeddings: cfg.maxPositionEmbeddings,
    path: pol.ropePath,
    layout: 'half', // transformers' rotate_half
    invFreqDtype,
  } as RopeConfig;
}

export const P = {
  embed: 'model.embed_tokens.weight',
  norm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  layer: (l: number, s: string) => `model.layers.${l}.${s}`,
};

/** [T, H*D] → [H, T, D] */
export function toHeads(x: Float64Array, T: number, H: number, D: number): Float64Array {
  const out = new Float64Array(H * T * D);
  for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) out.set(x.subarray(t * H * D + h * D, t * H * D + h * D + D), (h * T + t) * D);
  return out;
}
/** [H, T, D] → [T, H*D] */
export function fromHeads(x: Float64Array, T: number, H: number, D: number): Float64Array {
  const out = new Float64Array(H * T * D);
  for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) out.set(x.subarray((h * T + t) * D, (h * T + t) * D + D), t * H * D + h * D);
  return out;
}

function param(m: Model, name: string): ParamValues {
  const p = m.params.get(name === P.lmHead && m.config.tieWordEmbeddings ? P.embed : name);
  if (!p) throw new Error(`model has no parameter ${name}`);
  return p;
}
const optParam = (m: Model, name: string): ParamValues | null => m.params.get(name) ?? null;

/**
 * Run the model on one sequence of token ids. The parameters must already hold values of
 * the policy's weight dtype (roundModel for f32/bf16); the forward does not round them.
 */
export function modelForward(m: Model, inputIds: ArrayLike<number>, opts: ForwardOptions): ForwardResult {
  const cfg = m.config;
  const pol = policy(opts.precision, { bf16Attention: opts.bf16Attention });
  const be = opts.backend ?? getBackend();
  const T = inputIds.length;
  if (T === 0) throw new RangeError('modelForward: empty input');
  const ids = Array.from(inputIds);
  const variant = opts.variant ?? 'full';
  const docIds = opts.docIds ?? new Int32Array(T);
  if (docIds.length !== T) throw new RangeError(`modelForward: ${docIds.length} doc ids for ${T} tokens`);
  const basePos = opts.positions ?? positionIds(variant, docIds);
  if (basePos.length !== T) throw new RangeError(`modelForward: ${basePos.length} positions for ${T} tokens`);
  const delta = opts.positionOffset ?? 0;
  const positions = Int32Array.from(basePos, (p) => p + delta);
  const { hiddenSize: d, numHeads: Hq, numKvHeads: Hkv, headDim: D, vocabSize: V, intermediateSize: I, rmsNormEps: eps } = cfg;
  const ropeCfg = { ...ropeConfigOf(cfg, pol, opts.invFreqDtype), ...Object.fromEntries(Object.entries(opts.rope ?? {}).filter(([, v]) => v !== undefined)) };
  const { cos, sin } = be.ropeCosSin(positions, ropeCfg);
  const shape: AttentionShape = { Hq, Hkv, L: T, D };
  const attnOpts = { variant, precision: pol.attention, exactQK: opts.exactQK };

  let h = embeddingForward(ids, param(m, P.embed), V, d);
  const layers: LayerCache[] = [];
  const qk: { q: Float64Array; k: Float64Array }[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = (s: string) => param(m, P.layer(l, s));
    const op = (s: string) => optParam(m, P.layer(l, s));
    const hIn = h;
    const { out: xn1, rstd: rstd1 } = be.rmsnorm(hIn, T, d, p('input_layernorm.weight'), eps, pol);
    const qLin = be.linear(xn1, T, d, p('self_attn.q_proj.weight'), Hq * D, op('self_attn.q_proj.bias'), pol.act);
    const kLin = be.linear(xn1, T, d, p('self_attn.k_proj.weight'), Hkv * D, op('self_attn.k_proj.bias'), pol.act);
    const vLin = be.linear(xn1, T, d, p('self_attn.v_proj.weight'), Hkv * D, op('self_attn.v_proj.bias'), pol.act);
    const q = be.ropeApply(toHeads(qLin, T, Hq, D), Hq, T, D, cos, sin, ropeCfg);
    const k = be.ropeApply(toHeads(kLin, T, Hkv, D), Hkv, T, D, cos, sin, ropeCfg);
    const v = toHeads(vLin, T, Hkv, D);
    if (opts.captureQK) qk.push({ q, k });
    const { out: attnOut, lse } = be.attention(q, k, v, shape, docIds, attnOpts);
    const o = fromHeads(attnOut, T, Hq, D);
    const a = be.linear(o, T, Hq * D, p('self_attn.o_proj.weight'), d, op('self_attn.o_proj.bias'), pol.act);
    const h2 = new Float64Array(T * d);
    for (let i = 0; i < h2.length; i++) h2[i] = pol.act(hIn[i] + a[i]);
    const { out: xn2, rstd: rstd2 } = be.rmsnorm(h2, T, d, p('post_attention_layernorm.weight'), eps, pol);
    const gate = be.linear(xn2, T, d, p('mlp.gate_proj.weight'), I, op('mlp.gate_proj.bias'), pol.act);
    const up = be.linear(xn2, T, d, p('mlp.up_proj.weight'), I, op('mlp.up_proj.bias'), pol.act);
    const { out: mm, act } = be.swiglu(gate, up, pol);
    const dn = be.linear(mm, T, I, p('mlp.down_proj.weight'), d, op('mlp.down_proj.bias'), pol.act);
    const h3 = new Float64Array(T * d);
    for (let i = 0; i < h3.length; i++) h3[i] = pol.act(h2[i] + dn[i]);
    if (opts.keepActivations ?? true) layers.push({ hIn, xn1, rstd1, q, k, v, attnOut, lse, o, h2, xn2, rstd2, gate, up, act, m: mm });
    h = h3;
  }
  const { out: hn, rstd: rstdF } = be.rmsnorm(h, T, d, param(m, P.norm), eps, pol);
  const logits = be.linear(hn, T, d, param(m, P.lmHead), V, null, pol.act);
  return {
    logits,
    T,
    V,
    positions,
    qk: opts.captureQK ? qk : undefined,
    cache: { pol, attnOpts, backend: be, ids, docIds, variant, ropeCfg, cos, sin, layers, hFinal: h, hn, rstdF },
  };
}

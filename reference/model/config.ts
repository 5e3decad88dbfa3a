// A transformers-style config.json for the decoder-only LLaMA family:
// LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM. Both config spellings are read:
// transformers ≥ 5 (`rope_parameters: {rope_type, rope_theta, …}`) and older
// (`rope_theta` + `rope_scaling`).

import { usableMemory } from '../../io/memory.ts';
import { OpError } from '../../io/errors.ts';

export const ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** a transformers rope_scaling object (rope_type and its fields), or undefined for default RoPE */
  ropeScaling?: Record<string, unknown>;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** biases on q/k/v projections (Qwen2 always; Llama when attention_bias) */
  qkvBias: boolean;
  /** bias on o_proj (Llama attention_bias) */
  oBias: boolean;
  /** biases on the MLP projections (Llama mlp_bias) */
  mlpBias: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
  padTokenId: number | null;
}

const MODEL_TYPE: Record<Architecture, string> = { LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral', Qwen2ForCausalLM: 'qwen2' };

function bad(msg: string): OpError {
  return new OpError('BAD_ARGS', `config.json: ${msg}`);
}

/** parse and validate a config.json object */
export function parseConfig(raw: unknown): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('must be a JSON object');
  const c = raw as Record<string, unknown>;
  const archs = c.architectures;
  let architecture: Architecture | undefined;
  if (Array.isArray(archs) && typeof archs[0] === 'string') {
    if (!(ARCHITECTURES as readonly string[]).includes(archs[0])) throw bad(`unsupported architecture ${JSON.stringify(archs[0])} (supported: ${ARCHITECTURES.join(', ')})`);
    architecture = archs[0] as Architecture;
  } else {
    const mt = c.model_type;
    architecture = (Object.keys(MODEL_TYPE) as Architecture[]).find((a) => MODEL_TYPE[a] === mt);
    if (!architecture) throw bad(`no "architectures" and unknown model_type ${JSON.stringify(mt)}`);
  }
  const int = (k: string, dflt?: number): number => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw bad(`"${k}" must be a positive integer, got ${JSON.stringify(c[k])}`);
    return v;
  };
  const num = (k: string, dflt: number): number => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`"${k}" must be a number, got ${JSON.stringify(c[k])}`);
    return v;
  };
  const optId = (k: string): number | null => {
    const v = c[k];
    if (Array.isArray(v)) return typeof v[0] === 'number' ? v[0] : null;
    return typeof v === 'number' ? v : null;
  };
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads) throw bad(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  const headDim = c.head_dim == null ? hiddenSize / numHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2) throw bad(`head dim ${headDim} must be an even integer`);
  if (c.hidden_act !== undefined && c.hidden_act !== 'silu') throw bad(`hidden_act ${JSON.stringify(c.hidden_act)} is not supported (only silu)`);
  // rope: transformers 5 `rope_parameters`, or legacy `rope_theta` + `rope_scaling`
  let ropeTheta = 10000;
  let ropeScaling: Record<string, unknown> | undefined;
  const rp = c.rope_parameters;
  if (rp && typeof rp === 'object' && !Array.isArray(rp)) {
    const { rope_theta, ...rest } = rp as Record<string, unknown>;
    if (typeof rope_theta === 'number') ropeTheta = rope_theta;
    const type = rest.rope_type ?? rest.type;
    if (type !== undefined && type !== 'default') ropeScaling = rest;
  } else {
    ropeTheta = num('rope_theta', 10000);
    const rs = c.rope_scaling;
    if (rs && typeof rs === 'object' && !Array.isArray(rs)) {
      const type = (rs as Record<string, unknown>).rope_type ?? (rs as Record<string, unknown>).type;
      if (type !== undefined && type !== 'default') ropeScaling = { ...(rs as Record<string, unknown>) };
    }
  }
  if (!(ropeTheta > 0)) throw bad(`rope_theta must be positive, got ${ropeTheta}`);
  const isQwen = architecture === 'Qwen2ForCausalLM';
  const attentionBias = c.attention_bias === true;
  const cfg: ModelConfig = {
    architecture,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling,
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    tieWordEmbeddings: c.tie_word_embeddings === true,
    qkvBias: isQwen || attentionBias,
    oBias: !isQwen && attentionBias,
    mlpBias: !isQwen && c.mlp_bias === true,
    bosTokenId: optId('bos_token_id'),
    eosTokenId: optId('eos_token_id'),
    padTokenId: optId('pad_token_id'),
  };
  // before anything is allocated: the reference holds every parameter as a float64 (a config
  // with num_hidden_layers 1e9 would otherwise grow to gigabytes before failing)
  const n = parameterCount(cfg);
  if (8 * n > usableMemory())
    throw bad(`${n.toExponential(3)} parameters (${(8 * n / 2 ** 30).toFixed(1)} GiB as float64 values) do not fit in this machine's ${(usableMemory() / 2 ** 30).toFixed(1)} GiB; check hidden_size, intermediate_size, num_hidden_layers and vocab_size`);
  return cfg;
}

/** the number of parameters parameterShapes lists, in closed form (without listing them) */
export function parameterCount(cfg: ModelConfig): number {
  const d = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const f = cfg.intermediateSize;
  const perLayer =
    qDim * d + 2 * kvDim * d + d * qDim + 3 * f * d + 2 * d +
    (cfg.qkvBias ? qDim + 2 * kvDim : 0) + (cfg.oBias ? d : 0) + (cfg.mlpBias ? 2 * f + d : 0);
  return cfg.vocabSize * d * (cfg.tieWordEmbeddings ? 1 : 2) + cfg.numLayers * perLayer + d;
}

/** a config.json object transformers 5 reads back to the same model */
export function configToJson(cfg: ModelConfig, dtype: 'float32' | 'bfloat16' | 'float64' = 'float32'): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: [cfg.architecture],
    model_type: MODEL_TYPE[cfg.architecture],
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    hidden_act: 'silu',
    rms_norm_eps: cfg.rmsNormEps,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    rope_parameters: { rope_theta: cfg.ropeTheta, rope_type: 'default', ...(cfg.ropeScaling ?? {}) },
    tie_word_embeddings: cfg.tieWordEmbeddings,
    bos_token_id: cfg.bosTokenId,
    eos_token_id: cfg.eosTokenId,
    pad_token_id: cfg.padTokenId,
    dtype,
  };
  if (cfg.architecture !== 'Qwen2ForCausalLM') {
    out.attention_bias = cfg.qkvBias;
    out.mlp_bias = cfg.mlpBias;
  }
  return out;
}

/** parameter names and shapes, in transformers' named_parameters() order */
export function parameterShapes(cfg: ModelConfig): [string, number[]][] {
  const d = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [cfg.vocabSize, d]]];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    out.push([`${p}self_attn.q_proj.weight`, [qDim, d]]);
    if (cfg.qkvBias) out.push([`${p}self_attn.q_proj.bias`, [qDim]]);
    out.push([`${p}self_attn.k_proj.weight`, [kvDim, d]]);
    if (cfg.qkvBias) out.push([`${p}self_attn.k_proj.bias`, [kvDim]]);
    out.push([`${p}self_attn.v_proj.weight`, [kvDim, d]]);
    if (cfg.qkvBias) out.push([`${p}self_attn.v_proj.bias`, [kvDim]]);
    out.push([`${p}self_attn.o_proj.weight`, [d, qDim]]);
    if (cfg.oBias) out.push([`${p}self_attn.o_proj.bias`, [d]]);
    out.push([`${p}mlp.gate_proj.weight`, [cfg.intermediateSize, d]]);
    if (cfg.mlpBias) out.push([`${p}mlp.gate_proj.bias`, [cfg.intermediateSize]]);
    out.push([`${p}mlp.up_proj.weight`, [cfg.intermediateSize, d]]);
    if (cfg.mlpBias) out.push([`${p}mlp.up_proj.bias`, [cfg.intermediateSize]]);
    out.push([`${p}mlp.down_proj.weight`, [d, cfg.intermediateSize]]);
    if (cfg.mlpBias) out.push([`${p}mlp.down_proj.bias`, [d]]);
    out.push([`${p}input_layernorm.weight`, [d]]);
    out.push([`${p}post_attention_layernorm.weight`, [d]]);
  }
  out.push(['model.norm.weight', [d]]);
  if (!cfg.tieWordEmbeddings) out.push(['lm_head.weight', [cfg.vocabSize, d]]);
  return out;
}

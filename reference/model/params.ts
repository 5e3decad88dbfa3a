// A model = its config + its parameters (Float64Array values, named exactly as
// transformers saves them), built from named tensors, and seeded random initialisation.
// Reading and writing checkpoint folders is file I/O: train/model-files.ts.

import { OpError } from '../../io/errors.ts';
import { floatValues, type AnyDType, type Tensor } from '../../io/tensor.ts';
import { Rng } from '../rng.ts';
import { parameterShapes, type ModelConfig } from './config.ts';

export interface Model {
  config: ModelConfig;
  /** parameter values by transformers name; a tied lm_head has no entry (it is the embedding) */
  params: Map<string, Float64Array>;
}

export function numParams(m: Model): number {
  let n = 0;
  for (const p of m.params.values()) n += p.length;
  return n;
}

/** build a model from named tensors (any float dtype), checking names and shapes */
export function modelFromTensors(config: ModelConfig, tensors: Map<string, Tensor<AnyDType>>, where = 'checkpoint'): Model {
  const params = new Map<string, Float64Array>();
  const expected = parameterShapes(config);
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new OpError('BAD_TENSOR', `${where}: model.safetensors has no tensor "${name}"`);
    if (t.shape.join() !== shape.join()) throw new OpError('BAD_TENSOR', `${where}: "${name}" has shape [${t.shape}], config.json implies [${shape}]`);
    if (t.dtype.startsWith('I')) throw new OpError('BAD_TENSOR', `${where}: "${name}" has integer dtype ${t.dtype}`);
    params.set(name, floatValues(t));
  }
  const known = new Set(expected.map(([n]) => n));
  for (const name of tensors.keys()) {
    // a tied checkpoint may still carry lm_head.weight (equal to the embedding): ignore it
    if (!known.has(name) && !(config.tieWordEmbeddings && name === 'lm_head.weight'))
      throw new OpError('BAD_TENSOR', `${where}: unexpected tensor "${name}" for ${config.architecture}`);
  }
  return { config, params };
}

export type InitScheme = 'pytorch' | 'transformers';

/**
 * Seeded random parameters, float32-rounded.
 * - 'pytorch' (default): PyTorch's module defaults — nn.Linear weight and bias
 *   U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5), nn.Embedding N(0, 1),
 *   RMSNorm weight 1. This is the "random kaiming-uniform init" of the paper's Fig. 1.
 * - 'transformers': _init_weights — Linear and Embedding N(0, initializer_range = 0.02),
 *   biases 0, RMSNorm weight 1 (what trains well).
 * Each tensor draws from its own stream (seed, tensor index), so results do not depend on
 * which other tensors exist.
 */
export function randomInitModel(config: ModelConfig, seed: number, scheme: InitScheme = 'pytorch'): Model {
  const params = new Map<string, Float64Array>();
  parameterShapes(config).forEach(([name, shape], idx) => {
    const rng = new Rng((seed * 1000003 + idx * 7919) >>> 0);
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float64Array(n);
    const isNorm = name.endsWith('layernorm.weight') || name === 'model.norm.weight';
    const isEmbed = name === 'model.embed_tokens.weight';
    if (isNorm) a.fill(1);
    else if (scheme === 'transformers') {
      if (!name.endsWith('.bias')) for (let i = 0; i < n; i++) a[i] = Math.fround(0.02 * rng.normal());
    } else if (isEmbed) {
      for (let i = 0; i < n; i++) a[i] = Math.fround(rng.normal());
    } else {
      // fan_in: the weight's input dimension; a bias uses its weight's fan_in
      const fanIn = name.endsWith('.bias') ? biasFanIn(config, name) : shape[1];
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) a[i] = Math.fround((2 * rng.float() - 1) * bound);
    }
    params.set(name, a);
  });
  return { config, params };
}

function biasFanIn(cfg: ModelConfig, name: string): number {
  if (name.includes('o_proj')) return cfg.numHeads * cfg.headDim;
  if (name.includes('down_proj')) return cfg.intermediateSize;
  return cfg.hiddenSize;
}

/** a deep copy */
export function cloneModel(m: Model): Model {
  return { config: { ...m.config }, params: new Map([...m.params].map(([k, v]) => [k, v.slice()])) };
}

/** round every parameter to a policy's weight dtype (a new model) */
export function roundModel(m: Model, round: (x: number) => number): Model {
  const params = new Map<string, Float64Array>();
  for (const [k, v] of m.params) {
    const a = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) a[i] = round(v[i]);
    params.set(k, a);
  }
  return { config: m.config, params };
}

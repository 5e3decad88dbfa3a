// A model = its config + its parameters (values named exactly as transformers saves them,
// each held in its storage precision), built from named tensors, and seeded random
// initialisation. Reading and writing checkpoint folders is file I/O: train/model-files.ts.

import { OpError } from '../../io/errors.ts';
import { floatValues, type AnyDType, type Tensor } from '../../io/tensor.ts';
import { f16ToNumber } from '../../io/safetensors.ts';
import { bulkToF32 } from '../bf16.ts';
import { Rng } from '../rng.ts';
import { parameterShapes, type ModelConfig } from './config.ts';
import { policy, type Precision } from './precision.ts';

/**
 * A parameter's values in its storage precision: Float32Array for float32, bfloat16 and
 * float16 weights (each of their values is exact in float32, so nothing is rounded by the
 * container), Float64Array for float64 ones. Every reader sees the same numbers either way;
 * float32 storage halves the memory and is what the kernels take without a conversion.
 */
export type ParamValues = Float64Array | Float32Array;

export interface Model {
  config: ModelConfig;
  /** parameter values by transformers name; a tied lm_head has no entry (it is the embedding) */
  params: Map<string, ParamValues>;
}

/** the storage a weight dtype's values are held in: float32 for f32, bf16 and f16, float64 otherwise */
export const storageOf = (dtype: AnyDType): 'f32' | 'f64' => (dtype === 'f32' || dtype === 'bf16' || dtype === 'f16' ? 'f32' : 'f64');

/** a zeroed array of `n` values in the storage of `like` (a parameter) or of a storage name */
export function zerosLike(like: ParamValues | 'f32' | 'f64', n = typeof like === 'string' ? 0 : like.length): ParamValues {
  return (typeof like === 'string' ? like === 'f32' : like instanceof Float32Array) ? new Float32Array(n) : new Float64Array(n);
}

/** a tensor's values in its storage precision (bf16 and f16 widen exactly to float32) */
export function storedValues(t: Tensor<AnyDType>): ParamValues {
  if (t.dtype === 'f32') return (t.data as Float32Array).slice();
  if (t.dtype === 'bf16') return bulkToF32(t.data as Uint16Array);
  if (t.dtype === 'f16') return Float32Array.from(t.data as Uint16Array, f16ToNumber);
  return floatValues(t);
}

export function numParams(m: Model): number {
  let n = 0;
  for (const p of m.params.values()) n += p.length;
  return n;
}

/** build a model from named tensors (any float dtype), checking names and shapes */
export function modelFromTensors(config: ModelConfig, tensors: Map<string, Tensor<AnyDType>>, where = 'checkpoint'): Model {
  const params = new Map<string, ParamValues>();
  const expected = parameterShapes(config);
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new OpError('BAD_TENSOR', `${where}: model.safetensors has no tensor "${name}"`);
    if (t.shape.join() !== shape.join()) throw new OpError('BAD_TENSOR', `${where}: "${name}" has shape [${t.shape}], config.json implies [${shape}]`);
    if (t.dtype.startsWith('I')) throw new OpError('BAD_TENSOR', `${where}: "${name}" has integer dtype ${t.dtype}`);
    params.set(name, storedValues(t));
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
 * Seeded random parameters, float32 values, held in float32 storage (holdIn(m, 'f64') for
 * float64 storage, e.g. to perturb them by less than a float32 step).
 * - 'pytorch' (default): PyTorch's module defaults — nn.Linear weight and bias
 *   U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5), nn.Embedding N(0, 1),
 *   RMSNorm weight 1. This is the "random kaiming-uniform init" of the paper's Fig. 1.
 * - 'transformers': _init_weights — Linear and Embedding N(0, initializer_range = 0.02),
 *   biases 0, RMSNorm weight 1 (what trains well).
 * Each tensor draws from its own stream (seed, tensor index), so results do not depend on
 * which other tensors exist.
 */
export function randomInitModel(config: ModelConfig, seed: number, scheme: InitScheme = 'pytorch'): Model {
  const params = new Map<string, ParamValues>();
  parameterShapes(config).forEach(([name, shape], idx) => {
    const rng = new Rng((seed * 1000003 + idx * 7919) >>> 0);
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n); // every value below is Math.fround'ed: the container is exact
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

/**
 * Every parameter rounded to a precision policy's weight dtype (a new model), held in that
 * dtype's storage (storageOf): what modelForward expects for that policy.
 */
export function roundModel(m: Model, precision: Precision): Model {
  const pol = policy(precision);
  const storage = storageOf(pol.weightDtype);
  const params = new Map<string, ParamValues>();
  for (const [k, v] of m.params) {
    const a = zerosLike(storage, v.length);
    for (let i = 0; i < v.length; i++) a[i] = pol.act(v[i]);
    params.set(k, a);
  }
  return { config: m.config, params };
}

/**
 * The model with every parameter held in `storage` (arrays already held so are shared, not
 * copied). Moving to float32 storage requires values exact in float32 (a RangeError names the
 * first that is not): the container must never round.
 */
export function holdIn(m: Model, storage: 'f32' | 'f64'): Model {
  const params = new Map<string, ParamValues>();
  for (const [k, v] of m.params) {
    if ((storage === 'f32') === v instanceof Float32Array) {
      params.set(k, v);
      continue;
    }
    const a = zerosLike(storage, v.length);
    a.set(v);
    if (storage === 'f32') for (let i = 0; i < v.length; i++) if (!Object.is(a[i], v[i]) && !(Number.isNaN(a[i]) && Number.isNaN(v[i]))) throw new RangeError(`holdIn: ${k}[${i}] = ${v[i]} is not a float32 value`);
    params.set(k, a);
  }
  return { config: m.config, params };
}

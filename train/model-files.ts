// A model's transformers-style folder (config.json + model.safetensors): read and write. The
// reference builds the model from the tensors (reference/model/params.ts modelFromTensors);
// this file does the I/O.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpError, oneLine } from '../io/errors.ts';
import { statOrNull } from '../data/corpus.ts';
import { writeFileAtomic } from '../io/lines.ts';
import { numberToF16, readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.ts';
import { numel, type AnyDType, type Tensor } from '../io/tensor.ts';
import { bf16ValuesToBits } from '../io/bf16-codec.ts';
import { bf16Value } from '../reference/bf16.ts';
import { configToJson, parameterShapes, parseConfig, type ModelConfig } from '../reference/model/config.ts';
import { modelFromTensors, type Model } from '../reference/model/params.ts';

/**
 * A config.json read and parsed: the one reader of model configs (checkpoints, train --config,
 * drift --random). Each problem is one OpError line starting with `label` (e.g. "--config
 * c.json" or "checkpoint d: config.json"): no such file, not a file, too big, not JSON, or what
 * parseConfig says is wrong.
 */
export function readConfigFile(path: string, label: string): ModelConfig {
  const st = statOrNull(path);
  if (!st) throw new OpError('BAD_ARGS', `${label}: no such file`);
  if (!st.isFile()) throw new OpError('BAD_ARGS', `${label}: not a file`);
  if (st.size > 16 << 20) throw new OpError('BAD_ARGS', `${label}: ${st.size} bytes, too big for a config.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new OpError('BAD_ARGS', `${label}: not valid JSON (${oneLine(e)})`);
  }
  try {
    return parseConfig(raw);
  } catch (e) {
    if (e instanceof OpError) throw new OpError(e.code, `${label}: ${e.message.replace(/^config\.json: /, '')}`);
    throw e;
  }
}

/** read config.json + model.safetensors from a folder; every parameter is checked for name and shape */
export function loadModel(dir: string): Model {
  const config = readConfigFile(join(dir, 'config.json'), `checkpoint ${dir}: config.json`);
  const stPath = join(dir, 'model.safetensors');
  if (!existsSync(stPath)) throw new OpError('BAD_ARGS', `checkpoint ${dir}: no model.safetensors`);
  const file = readSafetensorsFile(stPath);
  return modelFromTensors(config, file.tensors, dir);
}

/** write config.json + model.safetensors (atomically); values are rounded to `dtype` */
export function saveModel(dir: string, m: Model, dtype: AnyDType = 'f32'): void {
  const list: [string, Tensor<AnyDType>][] = parameterShapes(m.config).map(([name, shape]) => [name, tensorFromValues(m.params.get(name)!, dtype, shape)]);
  writeSafetensorsFile(join(dir, 'model.safetensors'), list, { format: 'pt' });
  const tdt = dtype === 'bf16' ? 'bfloat16' : dtype === 'f64' ? 'float64' : 'float32';
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(configToJson(m.config, tdt), null, 2) + '\n');
}

/** a tensor of `dtype` from values, rounded to it by the reference's rules (f32: fround; bf16: RNE via f32; f16: one RNE; ints: must be integers, u8 in 0..255) */
export function tensorFromValues(values: ArrayLike<number>, dtype: AnyDType, shape: number[]): Tensor<AnyDType> {
  const n = values.length;
  if (numel(shape) !== n) throw new Error(`tensorFromValues: ${n} values for shape [${shape}]`);
  let data: Tensor<AnyDType>['data'];
  switch (dtype) {
    case 'f64':
      data = Float64Array.from(values);
      break;
    case 'f32':
      data = Float32Array.from(values);
      break;
    case 'bf16':
      data = bf16ValuesToBits(Float64Array.from(values, bf16Value));
      break;
    case 'f16': {
      const d = new Uint16Array(n);
      for (let i = 0; i < n; i++) d[i] = numberToF16(values[i]);
      data = d;
      break;
    }
    case 'i32':
      data = Int32Array.from(values);
      break;
    case 'i64':
      data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
      break;
    case 'u8':
      data = Uint8Array.from(values);
      break;
  }
  return { dtype, shape: [...shape], data };
}

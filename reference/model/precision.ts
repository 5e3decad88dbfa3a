// Precision policies of the model reference. Tensors are Float64Array VALUES; a policy
// says how each op's result is rounded:
//   f64:  nothing is rounded (a TRUE float64 path: norm statistics, softmax, RoPE angles
//         and the loss included — unlike transformers' model.double()).
//   f32:  every op result is rounded to float32 once (Math.fround).
//   bf16: weights and activations are bf16; each op computes in float32 from its bf16
//         inputs and rounds its result to bf16 once (PyTorch's opmath semantics);
//         RMSNorm statistics, softmax and the loss stay float32, as transformers does.

import { bf16Value } from '../bf16.ts';
import type { AnyDType } from '../../io/tensor.ts';

export type Precision = 'f64' | 'f32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['f64', 'f32', 'bf16'];

export interface Policy {
  name: Precision;
  /** round an activation / weight / gradient op result to the policy dtype */
  act: (x: number) => number;
  /** round a statistic (RMSNorm mean and rsqrt, softmax, loss): f32 for f32 and bf16 */
  stat: (x: number) => number;
  /** the dtype weights are held (and saved) in */
  weightDtype: AnyDType;
  /** the RoPE path (reference/rope.ts) and the attention precision (reference/attention.ts) */
  ropePath: 'f64' | 'f32' | 'hf';
  attention: 'f64' | 'f32' | 'bf16_eager' | 'bf16_flash';
}

const identity = (x: number) => x;

export function policy(p: Precision, opts: { bf16Attention?: 'bf16_eager' | 'bf16_flash' } = {}): Policy {
  switch (p) {
    case 'f64':
      return { name: p, act: identity, stat: identity, weightDtype: 'f64', ropePath: 'f64', attention: 'f64' };
    case 'f32':
      return { name: p, act: Math.fround, stat: Math.fround, weightDtype: 'f32', ropePath: 'f32', attention: 'f32' };
    case 'bf16':
      return { name: p, act: bf16Value, stat: Math.fround, weightDtype: 'bf16', ropePath: 'hf', attention: opts.bf16Attention ?? 'bf16_eager' };
  }
}

/** round every element in place (no-op for f64) */
export function roundAll(a: Float64Array, round: (x: number) => number): Float64Array {
  if (round === identity) return a;
  for (let i = 0; i < a.length; i++) a[i] = round(a[i]);
  return a;
}

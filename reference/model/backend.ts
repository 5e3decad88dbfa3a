// The compute interface of the model: every kernel the forward and backward passes call.
// The reference implementation (plain loops in reference/) is the default; a faster
// backend (e.g. generated gpu.js kernels) implements the same interface and must match
// the reference under each op's contract (SPEC.md). Swap it with setBackend or pass
// `backend` in the forward options.

import * as L from './layers.ts';
import type { Policy } from './precision.ts';
import type { ParamValues } from './params.ts';
import { ropeApply, ropeApplyBackward, ropeCosSin, type RopeConfig } from '../rope.ts';
import { attentionBackward, attentionForward } from '../attention.ts';
import type { Variant } from '../masks.ts';

export interface AttentionShape {
  Hq: number;
  Hkv: number;
  L: number;
  D: number;
}
export interface AttentionOpts {
  variant: Variant;
  precision: Policy['attention'];
  scale?: number;
  exactQK?: boolean;
}

export interface Backend {
  name: string;
  linear(x: Float64Array, T: number, nIn: number, W: ParamValues, nOut: number, b: ParamValues | null, round: L.Round): Float64Array;
  linearBackward(
    dy: Float64Array,
    x: Float64Array,
    T: number,
    nIn: number,
    W: ParamValues,
    nOut: number,
    hasBias: boolean,
    round: L.Round,
  ): { dx: Float64Array; dW: ParamValues; db: Float64Array | null };
  rmsnorm(x: Float64Array, T: number, d: number, w: ParamValues, eps: number, pol: Policy): { out: Float64Array; rstd: Float64Array };
  rmsnormBackward(dout: Float64Array, x: Float64Array, rstd: Float64Array, T: number, d: number, w: ParamValues, pol: Policy): { dx: Float64Array; dw: Float64Array };
  swiglu(gate: Float64Array, up: Float64Array, pol: Policy): { out: Float64Array; act: Float64Array };
  swigluBackward(dout: Float64Array, gate: Float64Array, up: Float64Array, act: Float64Array, pol: Policy): { dgate: Float64Array; dup: Float64Array };
  ropeCosSin(positions: ArrayLike<number>, cfg: RopeConfig): { cos: Float64Array; sin: Float64Array };
  ropeApply(x: Float64Array, H: number, T: number, D: number, cos: Float64Array, sin: Float64Array, cfg: RopeConfig): Float64Array;
  ropeApplyBackward(dy: Float64Array, H: number, T: number, D: number, cos: Float64Array, sin: Float64Array, cfg: RopeConfig): Float64Array;
  attention(q: Float64Array, k: Float64Array, v: Float64Array, shape: AttentionShape, docIds: ArrayLike<number>, opts: AttentionOpts): { out: Float64Array; lse: Float64Array };
  attentionBackward(
    q: Float64Array,
    k: Float64Array,
    v: Float64Array,
    out: Float64Array,
    lse: Float64Array,
    dOut: Float64Array,
    shape: AttentionShape,
    docIds: ArrayLike<number>,
    opts: AttentionOpts,
  ): { dq: Float64Array; dk: Float64Array; dv: Float64Array };
  crossEntropy(logits: Float64Array, T: number, V: number, labels: ArrayLike<number>, pol: Policy): { loss: number; dlogits: Float64Array; count: number; perToken: Float64Array };
}

export const referenceBackend: Backend = {
  name: 'reference',
  linear: L.linearForward,
  linearBackward: L.linearBackward,
  rmsnorm: L.rmsnormForward,
  rmsnormBackward: L.rmsnormBackward,
  swiglu: L.swigluForward,
  swigluBackward: L.swigluBackward,
  ropeCosSin: (positions, cfg) => ropeCosSin(positions, cfg),
  ropeApply: (x, H, T, D, cos, sin, cfg) => ropeApply(x, H, T, D, cos, sin, cfg),
  ropeApplyBackward: (dy, H, T, D, cos, sin, cfg) => ropeApplyBackward(dy, H, T, D, cos, sin, cfg),
  attention: (q, k, v, shape, docIds, opts) => attentionForward(q, k, v, shape, docIds, opts),
  attentionBackward: (q, k, v, out, lse, dOut, shape, docIds, opts) => attentionBackward(q, k, v, out, lse, dOut, shape, docIds, opts),
  crossEntropy: L.crossEntropy,
};

let current: Backend = referenceBackend;
/** the backend used when forward options name none */
export function getBackend(): Backend {
  return current;
}
export function setBackend(b: Backend): void {
  current = b;
}

// The library entry point: the reference, the op registry, and the wire format.
import './ops/index.ts';

export * as bf16 from './reference/bf16.ts';
export * as bf16Arith from './reference/bf16-arith.ts';
export * as slowfloat from './reference/slowfloat.ts';
export * as rope from './reference/rope.ts';
export * as masks from './reference/masks.ts';
export * as attention from './reference/attention.ts';
export * as packing from './reference/packing.ts';
export * as seqpar from './reference/seqpar.ts';
export * as model from './reference/model/index.ts';
export * as drift from './reference/drift.ts';
export { loadModel, saveModel } from './train/model-files.ts';
export * as safetensors from './io/safetensors.ts';
export { Rng, counterUint32, counterUniform16, hash32 } from './reference/rng.ts';
export { runOp, getOp, listOps, registerOp, type OpDef, type Tolerance } from './ops/registry.ts';
export { evalLine, generateLines, parseCaseLine } from './ops/cases.ts';
export { Verifier } from './ops/verify.ts';
export { decodeTensor, encodeTensor, alloc, tensor, type Tensor, type DType } from './io/tensor.ts';

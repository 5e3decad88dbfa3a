// The kernel subset of TypeScript: the kernel sources (kernels/src/), which codegen/ turns
// into gpu.js kernels for every backend (SPEC.md, "Kernels"). This file holds the subset's
// types and rounding helpers; it computes no kernel (validated through every kernel test).
//
// Rules of the subset (codegen rejects anything else):
// - A kernel is an exported function with a `@kernel` JSDoc tag and a `this: Thread`
//   parameter; it returns one number for the cell `this.thread.x/y/z`, or always the same
//   2, 3 or 4 numbers (`return [a, b, c, d]`: several outputs per cell, read cell-major).
// - Parameters are flat arrays (`Arr`, row-major, indexed with one int expression) or
//   scalars: `int` (integer-valued) or `number` (float).
// - Statements: `let`/`const`, assignment (`=`, `+=`, `-=`, `*=`), `if`/`else`,
//   `for (let i: int = a; i < b; i++)`, `return`. No closures, objects or strings.
// - Every float operation (+ − × ÷) is ONE float32 operation, rounded to nearest even,
//   no contraction. Integer-valued names are declared `: int`; int arithmetic stays exact.
// - f32(x) rounds a host value to float32; bf16(x) rounds a float32 value to bf16 (RNE).
// - Math.exp / Math.log / Math.sqrt / Math.max / Math.min / Math.abs are allowed; exp and
//   log carry no exactness guarantee (kernels using them have a tolerance contract).
// - A `// @unroll N` comment before a for loop asks codegen to unroll it N times (names
//   declared in the body are renamed per copy).
// - A function tagged `@inline` (kernels/src/shared.ts) is pasted by codegen at each call
//   site (codegen/inline.ts): statements, then one `return expr;`. A `@helper` stays a call.
// - `@reference <path> <name> (note)` names the reference function a kernel is checked
//   against; codegen fails unless <path> exports <name>.
//
// Run as plain TypeScript, these helpers give the subset's semantics for single values;
// the kernel functions themselves are specifications for codegen, checked on every
// backend against the reference functions named in each kernel's doc comment.

import { bf16Value } from '../../reference/bf16.ts';

/** an integer-valued number (codegen treats names declared `: int` as integers) */
export type int = number;
/** a flat input array (Float32Array on the host; a texture or wasm buffer in a kernel) */
export type Arr = ArrayLike<number>;
/** the cell a kernel invocation computes */
export interface Thread {
  thread: { x: int; y: int; z: int };
}

/**
 * The rounding code a kernel takes for its outputs (bf16io, act, outBf16): 0 = float32,
 * 1 = bf16. Kernels write ROUNDING.bf16 (codegen pastes the number); kernels/ops.ts passes it.
 */
export const ROUNDING = { f32: 0, bf16: 1 } as const;

/** round to float32 */
export const f32 = (x: number): number => Math.fround(x);
/** round a float32 value to bf16 (round to nearest, ties to even; NaN stays NaN) */
export const bf16 = (x: number): number => bf16Value(x);

/**
 * bf16 rounding with float operations only (no bit access): the lowering of bf16() on
 * backends without float bit casts. Veltkamp's split c − (c − x) with c = x·(2^16 + 1)
 * rounds to 8 significant bits, ties to even; |x| ≥ 2^100 is prescaled by 2^-40 so c
 * cannot overflow; below 2^-126 bf16 has the fixed quantum 2^-133, which (|x| + C) − C
 * with C = 1.5·2^-110 rounds to. Exact on IEEE float32 (webasm, cpu with per-op
 * rounding); FTZ backends flush subnormal inputs and results instead.
 * `one` is 1, passed as a kernel argument: on GL backends codegen multiplies every
 * subtrahend by it, so GLSL compilers cannot fold (a + C) − C.
 * @helper
 */
export function bf16Split(x: number, one: number): number {
  const a = Math.abs(x);
  if (a === 0 || a !== a || a > 3.4028234663852886e38) return x;
  let r = 0;
  if (a < 1.1754943508222875e-38) {
    r = a + 1.1555579666323415e-33 - 1.1555579666323415e-33;
  } else if (a >= 1.2676506002282294e30) {
    const w = a * 9.094947017729282e-13;
    const cw = w * 65537;
    r = (cw - (cw - w)) * 1099511627776;
  } else {
    const c = a * 65537;
    r = c - (c - a);
  }
  if (x < 0) return -r;
  return r;
}

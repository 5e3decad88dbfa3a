// How verify compares one output tensor with the oracle's, under the op's contract.

import { BYTES, elementBits, elementValue, type Tensor } from '../io/tensor.ts';
import type { CaseContext, Tolerance } from './registry.ts';

const FLOAT = new Set(['bf16', 'f32', 'f64']);

function isNaNBits(t: Tensor, i: number): boolean {
  return FLOAT.has(t.dtype) && Number.isNaN(elementValue(t, i));
}

/** the elements' bit patterns as integers (same buffer): a fast equality test */
function bitsView(t: Tensor): Uint8Array | Uint16Array | Uint32Array | BigUint64Array {
  const { buffer, byteOffset, length } = t.data;
  switch (BYTES[t.dtype]) {
    case 1:
      return new Uint8Array(buffer, byteOffset, length);
    case 2:
      return new Uint16Array(buffer, byteOffset, length);
    case 4:
      return new Uint32Array(buffer, byteOffset, length);
    default:
      return new BigUint64Array(buffer, byteOffset, length);
  }
}

/** position of a float's bit pattern on the number line (ordered integer), for ulp distances */
function orderedBits(t: Tensor, i: number): bigint {
  const bits = elementBits(t, i);
  const width = BigInt(BYTES[t.dtype] * 8);
  const signMask = 1n << (width - 1n);
  return bits & signMask ? -(bits & (signMask - 1n)) : bits;
}

/** distance in ulps (ordered bit patterns) between two float elements; ±0 are 0 apart */
export function ulpDistance(a: Tensor, i: number, b: Tensor, j: number): number {
  const d = orderedBits(a, i) - orderedBits(b, j);
  return Number(d < 0n ? -d : d);
}

export interface CompareOptions {
  strictNaN?: boolean;
}

/** one element outside its contract: the error and the bound it broke, where the rule has them */
export interface Offense {
  i: number;
  error?: number;
  bound?: number;
}

/** a custom check's answer: offending indices, or offenses with their error and bound */
export type CheckResult = (number | Offense)[];

const asOffense = (o: number | Offense): Offense => (typeof o === 'number' ? { i: o } : o);

/** elements where `got` breaks the tolerance against `want` (shapes/dtypes checked by the caller) */
export function offenses(got: Tensor, want: Tensor, tol: Tolerance, ctx: CaseContext, opts: CompareOptions = {}): Offense[] {
  if (tol.kind === 'custom') return tol.check(got, want, ctx).map(asOffense);
  const bad: Offense[] = [];
  const n = want.data.length;
  if (tol.kind === 'exact') {
    // bit for bit; differing bits still match when both are NaN (unless strict)
    const gb = bitsView(got);
    const wb = bitsView(want);
    for (let i = 0; i < n; i++)
      if (gb[i] !== wb[i] && (opts.strictNaN || !(isNaNBits(got, i) && isNaNBits(want, i)))) bad.push({ i });
    return bad;
  }
  for (let i = 0; i < n; i++) {
    const gn = isNaNBits(got, i);
    const wn = isNaNBits(want, i);
    if (gn || wn) {
      if (gn !== wn || (opts.strictNaN && elementBits(got, i) !== elementBits(want, i))) bad.push({ i });
      continue;
    }
    switch (tol.kind) {
      case 'ulp': {
        const d = ulpDistance(got, i, want, i);
        if (d > tol.max) bad.push({ i, error: d, bound: tol.max });
        break;
      }
      case 'abs_rel': {
        const g = elementValue(got, i);
        const w = elementValue(want, i);
        if (g === w) break; // same infinities
        const bound = tol.atol + tol.rtol * Math.abs(w);
        if (!(Math.abs(g - w) <= bound)) bad.push({ i, error: Math.abs(g - w), bound });
        break;
      }
    }
  }
  return bad;
}

/** indices where `got` breaks the tolerance against `want` */
export function offendingIndices(got: Tensor, want: Tensor, tol: Tolerance, ctx: CaseContext, opts: CompareOptions = {}): number[] {
  return offenses(got, want, tol, ctx, opts).map((o) => o.i);
}

export function describeTolerance(t: Tolerance): string {
  switch (t.kind) {
    case 'exact':
      return 'bit-exact';
    case 'ulp':
      return `≤ ${t.max} ulp (${t.why})`;
    case 'abs_rel':
      return `|Δ| ≤ ${t.atol} + ${t.rtol}·|want| (${t.why})`;
    case 'custom':
      return t.describe;
  }
}

// fast-check properties of attention for other people's suites: a forward held to the
// attention.forward op's own contract (the same check `verify` applies) on arbitrary small
// document layouts, every mask variant and precision path, grouped-query heads; and an LSE
// merge of attention over split key ranges held to that contract against the whole.
//   fc.assert(attentionForwardProperty((c) => myAttention(c)))

import fc from 'fast-check';
import '../ops/index.ts';
import { attentionForwardPartial, inputRounding, PRECISIONS, type AttnPrecision, type AttnResult } from '../reference/attention.ts';
import { fromF64 } from '../reference/bf16.ts';
import type { Variant } from '../reference/masks.ts';
import { alloc, tensor, type Tensor } from '../io/tensor.ts';
import { checkCase } from '../ops/verify.ts';
import { maskCaseArb } from './layouts.ts';

/** one attention problem: inputs as values already representable on the path */
export interface AttentionCase {
  /** [Hq, L, D] */
  q: Float64Array;
  /** [Hkv, L, D] */
  k: Float64Array;
  /** [Hkv, L, D] */
  v: Float64Array;
  shape: { Hq: number; Hkv: number; L: number; D: number };
  docIds: Int32Array;
  variant: Variant;
  precision: AttnPrecision;
}
/** out [Hq, L, D] and lse [Hq, L] (natural log of the softmax denominator of the scaled logits) */
export interface AttentionOutput {
  out: ArrayLike<number>;
  lse: ArrayLike<number>;
}

/** an attention problem: a mask case (≤ maxL tokens), Hkv 1–2 kv heads shared by 1–3 query heads each, D 1–16 */
export const attentionCaseArb = (precisions: readonly AttnPrecision[] = PRECISIONS, maxL = 24): fc.Arbitrary<AttentionCase> =>
  fc
    .record({ mc: maskCaseArb(maxL), Hkv: fc.integer({ min: 1, max: 2 }), group: fc.integer({ min: 1, max: 3 }), D: fc.integer({ min: 1, max: 16 }), precision: fc.constantFrom(...precisions) })
    .chain(({ mc, Hkv, group, D, precision }) => {
      const L = mc.docIds.length;
      const Hq = Hkv * group;
      const vals = (n: number) => fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }).map((xs) => Float64Array.from(xs, inputRounding(precision)));
      return fc.tuple(vals(Hq * L * D), vals(Hkv * L * D), vals(Hkv * L * D)).map(([q, k, v]) => ({ q, k, v, shape: { Hq, Hkv, L, D }, docIds: mc.docIds, variant: mc.variant, precision }));
    });

/** values in the dtype a path stores them in (bf16 rounded once, RNE) */
function stored(values: ArrayLike<number>, shape: number[], dtype: 'f64' | 'f32' | 'bf16'): Tensor {
  if (dtype === 'f64') return tensor('f64', shape, Float64Array.from(values));
  if (dtype === 'f32') return tensor('f32', shape, Float32Array.from(values));
  const t = alloc('bf16', shape);
  for (let i = 0; i < values.length; i++) t.data[i] = fromF64(values[i]);
  return t;
}
const pathDtype = (p: AttnPrecision) => (p === 'f64' ? 'f64' : p === 'f32' ? 'f32' : 'bf16');

/**
 * the failures of a result against the attention.forward contract for the case (empty: it
 * holds). The outputs are stored in the path's dtypes first: out f64 / f32 / bf16, lse f64 / f32.
 */
export function attentionContractFailures(c: AttentionCase, got: AttentionOutput): string[] {
  const { Hq, Hkv, L, D } = c.shape;
  const dt = pathDtype(c.precision);
  if (got.out.length !== Hq * L * D || got.lse.length !== Hq * L) return [`got out of ${got.out.length} and lse of ${got.lse.length} values, expected ${Hq * L * D} and ${Hq * L}`];
  const line = {
    id: 'property',
    op: 'attention.forward',
    args: { variant: c.variant, precision: c.precision },
    in: { q: stored(c.q, [Hq, L, D], dt), k: stored(c.k, [Hkv, L, D], dt), v: stored(c.v, [Hkv, L, D], dt), doc_ids: tensor('i32', [L], Int32Array.from(c.docIds)) },
  };
  const res = { id: 'property', out: { out: stored(got.out, [Hq, L, D], dt), lse: stored(got.lse, [Hq, L], c.precision === 'f64' ? 'f64' : 'f32') } };
  const outcome = checkCase(line, `attention.forward (${c.variant}, ${c.precision}, Hq ${Hq}, Hkv ${Hkv}, L ${L}, D ${D})`, res);
  return outcome.status === 'passed' ? [] : outcome.messages;
}

/** someone's attention forward is within the attention.forward contract (what verify checks) */
export const attentionForwardProperty = (impl: (c: AttentionCase) => AttentionOutput, precisions: readonly AttnPrecision[] = PRECISIONS) =>
  fc.property(attentionCaseArb(precisions), (c) => {
    const bad = attentionContractFailures(c, impl({ ...c, q: Float64Array.from(c.q), k: Float64Array.from(c.k), v: Float64Array.from(c.v), docIds: Int32Array.from(c.docIds) }));
    if (bad.length) throw new Error(bad.slice(0, 4).join('\n'));
    return true;
  });

/**
 * someone's merge of two partial results — attention of every query row over keys [0, s) and
 * over keys [s, L), each with out [Hq·L, D] and lse [Hq·L], lse = −∞ where a row sees no key of
 * that part — equals attention over all keys within the f64 attention.forward contract
 */
export const lseMergeProperty = (merge: (a: AttnResult, b: AttnResult, rows: number, D: number) => AttentionOutput) =>
  fc.property(
    attentionCaseArb(['f64']).filter((c) => c.shape.L >= 2),
    fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    (c, at) => {
      const { Hq, Hkv, L, D } = c.shape;
      const s = 1 + Math.floor(at * (L - 1)); // both parts non-empty
      const iota = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
      const keys = (x: Float64Array, a: number, b: number) => {
        const y = new Float64Array(Hkv * (b - a) * D);
        for (let g = 0; g < Hkv; g++) y.set(x.subarray((g * L + a) * D, (g * L + b) * D), g * (b - a) * D);
        return y;
      };
      const part = (a: number, b: number) =>
        attentionForwardPartial(c.q, keys(c.k, a, b), keys(c.v, a, b), { Hq, Hkv, Lq: L, Lk: b - a, D }, iota(0, L), iota(a, b), c.docIds, { variant: c.variant, precision: 'f64' });
      const bad = attentionContractFailures(c, merge(part(0, s), part(s, L), Hq * L, D));
      if (bad.length) throw new Error(`keys split at ${s}:\n${bad.slice(0, 4).join('\n')}`);
      return true;
    },
  );

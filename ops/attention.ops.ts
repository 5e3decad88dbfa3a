// Registration of the attention.* ops (SPEC.md, "Attention").

import { attentionForward, attentionForwardRows, inputRounding, PRECISIONS, type AttnPrecision } from '../reference/attention.ts';
import { f64ReferenceRows, flashRule, forwardBoundsRows, outsideRowBound } from '../reference/attention-bounds.ts';
import { fromF32 } from '../reference/bf16.ts';
import { blockKinds, denseMask, positionIds, VARIANTS, type Variant } from '../reference/masks.ts';
import { fmtBytes } from '../io/json-stream.ts';
import { Rng } from '../reference/rng.ts';
import { OpError } from '../io/errors.ts';
import { alloc, floatValues, intValues, tensor, type Tensor } from '../io/tensor.ts';
import { type ArgSpec, type CaseContext, type GenCase, type GenOptions, registerOp } from './registry.ts';
import { gatherAxis, rowIndices } from './rows.ts';

const variantArg: ArgSpec = { type: 'string', enum: VARIANTS, required: true, doc: 'full, intra_doc, intra_doc_reset, anchor (doc id 0 = the anchor)' };
const docIdsSpec = { name: 'doc_ids', dtypes: ['i32', 'i64'] as const, shape: ['L'], doc: 'document id per token; for anchor, id 0 marks the anchor' };
const exact = { kind: 'exact' as const };

function docIdsOf(t: Tensor, op: string): Int32Array {
  const ids = intValues(t, `${op}: doc_ids`);
  if (ids.length === 0) throw new OpError('BAD_TENSOR', `${op}: doc_ids is empty (L must be ≥ 1)`);
  for (const d of ids) if (d < -(2 ** 31) || d >= 2 ** 31) throw new OpError('BAD_TENSOR', `${op}: doc id ${d} does not fit in int32`);
  return Int32Array.from(ids);
}

// ------------------------------------------------------------------ random document layouts
/** doc ids for a window of L tokens: an anchor at 0 for `anchor`, random document lengths, sometimes interleaved */
export function randomDocIds(rng: Rng, L: number, variant: Variant, interleave = false): Int32Array {
  const ids = new Int32Array(L);
  let t = 0;
  if (variant === 'anchor') ids[t++] = 0;
  let doc = 1;
  while (t < L) {
    const n = Math.min(L - t, 1 + Math.floor(-Math.log(1 - rng.float()) * Math.max(1, L / 4)));
    ids.fill(doc++, t, t + n);
    t += n;
  }
  if (interleave) {
    // swap random runs of non-anchor tokens: documents become non-contiguous
    const start = variant === 'anchor' ? 1 : 0;
    for (let s = 0; s < 3 && L - start > 2; s++) {
      const a = rng.int(start, L - 1);
      const b = rng.int(start, L - 1);
      [ids[a], ids[b]] = [ids[b], ids[a]];
    }
  }
  return ids;
}

const i32 = (xs: ArrayLike<number>): Tensor => tensor('i32', [xs.length], Int32Array.from(xs));

function layoutCases(opts: GenOptions, extra: (rng: Rng, i: number) => Record<string, unknown>): GenCase[] {
  const rng = new Rng(opts.seed);
  const cases: GenCase[] = [];
  const fixed: [string, number[]][] = [
    ['single', [0]],
    ['paper_flex', [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3]],
    ['paper_flash', [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3]],
    ['interleaved', [0, 1, 2, 1, 1, 2, 3, 2, 3, 1]],
  ];
  for (const variant of VARIANTS) for (const [name, ids] of fixed) cases.push({ id: `${name}/${variant}`, args: { variant, ...extra(rng, cases.length) }, in: { doc_ids: i32(ids) } });
  const target = Math.max(opts.n, opts.level === 2 ? 2 * cases.length : cases.length);
  for (let i = 0; cases.length < target; i++) {
    const variant = rng.pick(VARIANTS);
    const L = rng.int(1, opts.level === 2 ? 300 : 64);
    cases.push({ id: `random${i}/${variant}`, args: { variant, ...extra(rng, i) }, in: { doc_ids: i32(randomDocIds(rng, L, variant, rng.float() < 0.3)) } });
  }
  return cases;
}

registerOp({
  name: 'attention.positions',
  summary: 'RoPE position ids of a variant (reset counts from 0 within each document)',
  args: { variant: variantArg },
  inputs: [docIdsSpec],
  outputs: [{ name: 'position_ids', dtypes: ['i32'], shape: ['L'], doc: 'position id per token' }],
  run(args, { doc_ids }) {
    return { position_ids: i32(positionIds(args.variant as Variant, docIdsOf(doc_ids, 'attention.positions'))) };
  },
  contract: () => ({ position_ids: exact }),
  generate: (opts) => layoutCases(opts, () => ({})),
});

registerOp({
  name: 'attention.mask',
  summary: 'dense [L, L] mask of a variant: 1 where the query row may attend the key column',
  args: { variant: variantArg },
  inputs: [docIdsSpec],
  outputs: [{ name: 'mask', dtypes: ['u8'], shape: ['L', 'L'], doc: '1 allowed, 0 masked' }],
  run(args, { doc_ids }) {
    const ids = docIdsOf(doc_ids, 'attention.mask');
    if (ids.length > 16384) throw new OpError('BAD_TENSOR', `attention.mask: L = ${ids.length} is too large for a dense mask (at most 16384)`);
    return { mask: tensor('u8', [ids.length, ids.length], denseMask(args.variant as Variant, ids)) };
  },
  contract: () => ({ mask: exact }),
  generate: (opts) => layoutCases(opts, () => ({})),
});

registerOp({
  name: 'attention.block_mask',
  summary: "FlexAttention's block classification: 0 empty, 1 partial, 2 full (padding counts as masked)",
  args: { variant: variantArg, block_size: { type: 'integer', default: 128, min: 1, max: 1 << 20, doc: 'block size B (square blocks)' } },
  inputs: [docIdsSpec],
  outputs: [{ name: 'kind', dtypes: ['u8'], doc: '[ceil(L/B), ceil(L/B)]' }],
  run(args, { doc_ids }) {
    const ids = docIdsOf(doc_ids, 'attention.block_mask');
    const B = args.block_size as number;
    const nb = Math.ceil(ids.length / B);
    if (nb * nb > 2 ** 31)
      throw new OpError('BAD_ARGS', `attention.block_mask: L = ${ids.length} in blocks of ${B} gives a ${nb}×${nb} kind tensor (${fmtBytes(nb * nb)}); use a larger block_size`);
    const { kind } = blockKinds(args.variant as Variant, ids, B); // equal to blockMask's, without its O(L²) pair count
    return { kind: tensor('u8', [nb, nb], kind) };
  },
  contract: () => ({ kind: exact }),
  generate: (opts) => layoutCases(opts, (rng) => ({ block_size: rng.pick([1, 2, 3, 4, 8, 16, 128]) })),
});

// ------------------------------------------------------------------ attention.forward
function encodeOut(values: Float64Array, shape: number[], p: AttnPrecision): Tensor {
  if (p === 'f64') return tensor('f64', shape, values);
  if (p === 'f32') return tensor('f32', shape, Float32Array.from(values));
  const t = alloc('bf16', shape);
  for (let i = 0; i < values.length; i++) t.data[i] = fromF32(values[i]); // exact: the values are bf16 already
  return t;
}

interface Decoded {
  /** queries of the computed rows: [Hq, L, D], or [Hq, R, D] when rows are given */
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  shape: { Hq: number; Hkv: number; L: number; D: number };
  /** the query rows computed (undefined: all L) */
  rows?: Int32Array;
  ids: Int32Array;
  opts: { variant: Variant; precision: AttnPrecision; scale?: number };
}


function rowsOf(inputs: Record<string, Tensor>, L: number): Int32Array | undefined {
  return inputs.rows ? rowIndices(inputs.rows, L, 'attention.forward: rows') : undefined;
}

// one decoding per input set: run and both contract checks of a case share it
const decodedOf = new WeakMap<object, Decoded>();
function decode(args: Record<string, unknown>, inputs: Record<string, Tensor>): Decoded {
  const hit = decodedOf.get(inputs);
  if (hit && hit.opts.precision === args.precision && hit.opts.variant === args.variant && hit.opts.scale === args.scale) return hit;
  const [Hq, L, D] = inputs.q.shape;
  const Hkv = inputs.k.shape[0];
  if (Hq % Hkv !== 0) throw new OpError('BAD_TENSOR', `attention.forward: q has ${Hq} heads, not a multiple of k's ${Hkv} (grouped-query needs Hq % Hkv = 0)`);
  if (L < 1 || D < 1 || Hkv < 1) throw new OpError('BAD_TENSOR', `attention.forward: empty tensors (Hq ${Hq}, Hkv ${Hkv}, L ${L}, D ${D})`);
  const rows = rowsOf(inputs, L);
  // f64 tensors are read in place (sharedKV hands worker threads k and v so)
  const values = (t: Tensor) => (t.dtype === 'f64' ? (t.data as Float64Array) : floatValues(t));
  const vals: Record<string, Float64Array> = {
    q: rows ? floatValues(gatherAxis(inputs.q, 1, rows)) : values(inputs.q),
    k: values(inputs.k),
    v: values(inputs.v),
  };
  for (const [n, xs] of Object.entries(vals))
    for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) throw new OpError('BAD_TENSOR', `attention.forward: ${n} holds a non-finite value (${xs[i]})`);
  const d: Decoded = {
    q: vals.q,
    k: vals.k,
    v: vals.v,
    shape: { Hq, Hkv, L, D },
    rows,
    ids: docIdsOf(inputs.doc_ids, 'attention.forward'),
    opts: { variant: args.variant as Variant, precision: args.precision as AttnPrecision, ...(args.scale !== undefined ? { scale: args.scale as number } : {}) },
  };
  decodedOf.set(inputs, d);
  return d;
}

const allRows = (L: number) => Int32Array.from({ length: L }, (_, i) => i);

/**
 * What the checks of attention.forward need besides the expected outputs, per computed row:
 * the bounds of attention-bounds.ts ([Hq, R]: lse, and out on the f64 / f32 paths) and, on the
 * bf16 paths, the f64 reference out [Hq, R, D] of flash-attn's rule.
 */
function evidence(args: Record<string, unknown>, inputs: Record<string, Tensor>, expected: Record<string, Tensor>): Record<string, Tensor> {
  const c = decode(args, inputs);
  const rows = c.rows ?? allRows(c.shape.L);
  const { Hq, D } = c.shape;
  const R = rows.length;
  const b = forwardBoundsRows(c.q, c.k, c.v, floatValues(expected.lse), c.shape, rows, c.ids, c.opts);
  const ev: Record<string, Tensor> = { bound_lse: tensor('f64', [Hq, R], b.lse) };
  if (c.opts.precision === 'f64' || c.opts.precision === 'f32') ev.bound_out = tensor('f64', [Hq, R], b.out);
  else ev.ref = tensor('f64', [Hq, R, D], f64ReferenceRows(c.q, c.k, c.v, c.shape, rows, c.ids, c.opts));
  return ev;
}
const evidenceOf = (ctx: CaseContext) => ctx.evidence ?? evidence(ctx.args, ctx.inputs, ctx.expected);

/** the f64 / f32 contract: the derived per-row bound of attention-bounds.ts */
function boundCheck(which: 'out' | 'lse') {
  return (got: Tensor, want: Tensor, ctx: CaseContext) => {
    const bound = evidenceOf(ctx)[`bound_${which}`].data as Float64Array;
    return outsideRowBound(floatValues(got), floatValues(want), bound, which === 'out' ? want.shape[2] : 1);
  };
}

function flashRuleCheck(got: Tensor, want: Tensor, ctx: CaseContext) {
  return flashRule(floatValues(got), floatValues(want), evidenceOf(ctx).ref.data as Float64Array).bad;
}

/** k and v as f64 values in shared memory: the form every row part reads (no copy per thread) */
function sharedKV(inputs: Record<string, Tensor>): Record<string, Tensor> {
  const out = { ...inputs };
  for (const n of ['k', 'v']) {
    const t = inputs[n];
    const data = new Float64Array(new SharedArrayBuffer(8 * t.data.length));
    data.set(floatValues(t));
    out[n] = tensor('f64', t.shape, data);
  }
  return out;
}

/** the rows verify --sample-rows always checks: the first and last, each document's first (the anchor's among them) */
function requiredRows(inputs: Record<string, Tensor>): number[] {
  const ids = docIdsOf(inputs.doc_ids, 'attention.forward');
  const seen = new Set<number>();
  const rows = [0, ids.length - 1];
  ids.forEach((d, t) => {
    if (!seen.has(d)) {
      seen.add(d);
      rows.push(t);
    }
  });
  return rows;
}

registerOp({
  name: 'attention.forward',
  summary: 'masked grouped-query attention: out and LSE on the f64 / f32 / bf16_flash / bf16_eager path',
  args: {
    variant: variantArg,
    precision: { type: 'string', enum: PRECISIONS, required: true, doc: 'f64, f32, bf16_flash (FlashAttention-2), bf16_eager (transformers eager)' },
    scale: { type: 'number', doc: 'softmax scale (default 1/sqrt(D))' },
  },
  inputs: [
    { name: 'q', dtypes: ['f64', 'f32', 'bf16'], shape: ['Hq', 'L', 'D'], doc: 'queries; rounded to the path precision (bf16 via f32, RNE)' },
    { name: 'k', dtypes: ['f64', 'f32', 'bf16'], shape: ['Hkv', 'L', 'D'], doc: 'keys' },
    { name: 'v', dtypes: ['f64', 'f32', 'bf16'], shape: ['Hkv', 'L', 'D'], doc: 'values' },
    docIdsSpec,
    { name: 'rows', dtypes: ['i32', 'i64'], shape: ['R'], optional: true, doc: 'optional query rows to compute (indices into L, any order); out and lse then hold only those rows' },
  ],
  outputs: [
    { name: 'out', dtypes: ['f64', 'f32', 'bf16'], shape: ['Hq', 'L|R', 'D'], doc: 'f64 / f32 / bf16 by path; [Hq, R, D] with rows' },
    { name: 'lse', dtypes: ['f64', 'f32'], shape: ['Hq', 'L|R'], doc: 'natural-log softmax denominator of the scaled logits; f64 on the f64 path, else f32; [Hq, R] with rows' },
  ],
  rowSampling: {
    input: 'rows',
    dim: 'L',
    axes: { out: 1, lse: 1 },
    count: (inputs) => inputs.q.shape[1],
    required: (_args, inputs) => requiredRows(inputs),
    evidence,
    shared: sharedKV,
  },
  run(args, inputs) {
    const c = decode(args, inputs);
    const r = c.rows ? attentionForwardRows(c.q, c.k, c.v, c.shape, c.rows, c.ids, c.opts) : attentionForward(c.q, c.k, c.v, c.shape, c.ids, c.opts);
    const { Hq, D } = c.shape;
    const R = c.rows ? c.rows.length : c.shape.L;
    return { out: encodeOut(r.out, [Hq, R, D], c.opts.precision), lse: encodeOut(r.lse, [Hq, R], c.opts.precision === 'f64' ? 'f64' : 'f32') };
  },
  contract(args) {
    const p = args.precision as AttnPrecision;
    const bound = (w: string) => ({
      kind: 'custom' as const,
      describe: `per-row bound derived in SPEC.md ("attention.forward tolerances"), ${w}`,
      check: boundCheck(w as 'out' | 'lse'),
    });
    if (p === 'f64' || p === 'f32') return { out: bound('out'), lse: bound('lse') };
    return {
      out: { kind: 'custom' as const, describe: "flash-attn's rule: max|out − f64 ref| ≤ 2 × the oracle's own max error", check: flashRuleCheck },
      lse: bound('lse'),
    };
  },
  generate(opts) {
    const rng = new Rng(opts.seed);
    const cases: GenCase[] = [];
    const shapes: [number, number, number, number][] = [
      [1, 1, 1, 4],
      [1, 1, 16, 8],
      [2, 1, 10, 8],
      [4, 2, 24, 16],
    ];
    const make = (Hq: number, Hkv: number, L: number, D: number, variant: Variant, precision: AttnPrecision, id: string, ids?: Int32Array): GenCase => {
      const rand = (n: number, shape: number[]): Tensor => {
        const vals = Float64Array.from({ length: n }, () => rng.normal() * 1.5);
        return encodeOut(Float64Array.from(vals, inputRounding(precision)), shape, precision);
      };
      return {
        id,
        args: { variant, precision },
        in: { q: rand(Hq * L * D, [Hq, L, D]), k: rand(Hkv * L * D, [Hkv, L, D]), v: rand(Hkv * L * D, [Hkv, L, D]), doc_ids: i32(ids ?? randomDocIds(rng, L, variant)) },
      };
    };
    for (const variant of VARIANTS)
      for (const precision of PRECISIONS) for (const [Hq, Hkv, L, D] of shapes) cases.push(make(Hq, Hkv, L, D, variant, precision, `${variant}/${precision}/${Hq}x${Hkv}x${L}x${D}`));
    const target = Math.max(opts.n, opts.level === 2 ? 2 * cases.length : cases.length);
    for (let i = 0; cases.length < target; i++) {
      const Hkv = rng.int(1, 2);
      const Hq = Hkv * rng.int(1, 3);
      const L = rng.int(1, opts.level === 2 ? 128 : 40);
      const variant = rng.pick(VARIANTS);
      cases.push(make(Hq, Hkv, L, rng.pick([4, 8, 16, 32]), variant, rng.pick(PRECISIONS), `random${i}/${variant}`, randomDocIds(rng, L, variant, rng.float() < 0.3)));
    }
    return cases;
  },
});

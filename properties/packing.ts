// fast-check properties of packing for other people's suites: a packer that equals the
// oracle's windows, and an attention that gives every document token the same output in the
// flex layout (one shared anchor, document mask) and the flash layout (a BOS copy per
// document, varlen) — the equivalence that lets a varlen kernel train AnchorAttention.
//   fc.assert(flexFlashProperty((c) => myAttention(c)))

import fc from 'fast-check';
import { inputRounding, PRECISIONS, type AttnPrecision } from '../reference/attention.ts';
import { forwardBounds } from '../reference/attention-bounds.ts';
import { packDocuments, PACK_VARIANTS, type PackOptions, type Window } from '../reference/packing.ts';
import { hash32 } from '../reference/rng.ts';
import type { AttentionCase, AttentionOutput } from './attention.ts';

/** documents of token ids 2…500, some opening with BOS (id 1) */
export const documentsArb = (): fc.Arbitrary<number[][]> =>
  fc.array(fc.tuple(fc.boolean(), fc.array(fc.integer({ min: 2, max: 500 }), { minLength: 1, maxLength: 14 })).map(([bos, d]) => (bos ? [1, ...d] : d)), { minLength: 1, maxLength: 6 });

/** packing options: every variant, both layouts where the variant has them, BOS 1, tag 9 */
export const packOptionsArb = (): fc.Arbitrary<PackOptions> =>
  fc
    .record({ L: fc.integer({ min: 2, max: 40 }), variant: fc.constantFrom(...PACK_VARIANTS), layout: fc.constantFrom<'flex' | 'flash'>('flex', 'flash'), seed: fc.nat() })
    .map((o) => ({ ...o, layout: o.variant === 'interleaved' ? 'flex' : o.layout, bos: 1, tag: 9 }));

const same = (a: ArrayLike<number> | undefined, b: ArrayLike<number>) => !!a && a.length === b.length && Array.from(b).every((x, i) => a[i] === x);
const FIELDS = ['inputIds', 'targets', 'lossMask', 'docIds', 'positionIds', 'cuSeqlens'] as const;

/** someone's packer gives the oracle's windows: the same count, and per window the same inputs, targets, loss mask, doc ids, position ids and cu_seqlens */
export const packingProperty = (impl: (docs: number[][], opts: PackOptions) => Pick<Window, (typeof FIELDS)[number]>[]) =>
  fc.property(documentsArb(), packOptionsArb(), (docs, opts) => {
    const want = packDocuments(docs, opts);
    const got = impl(docs.map((d) => [...d]), { ...opts });
    if (got.length !== want.length) throw new Error(`${got.length} windows, the oracle packs ${want.length} (${JSON.stringify(opts)})`);
    want.forEach((w, i) => {
      for (const f of FIELDS) if (!same(got[i][f], w[f])) throw new Error(`window ${i}: ${f} is [${Array.from(got[i][f] ?? [])}], the oracle's [${Array.from(w[f])}] (${JSON.stringify(opts)})`);
    });
    return true;
  });

/**
 * q/k/v of a window's tokens as a deterministic function of (token id, rotary position), what a
 * model's per-token layers give: BOS copies at position 0 carry exactly the anchor's vectors
 */
export function tokenQKV(win: Window, positions: ArrayLike<number>, H: number, D: number, precision: AttnPrecision = 'f64') {
  const L = win.inputIds.length;
  const round = inputRounding(precision);
  const make = (salt: number) => {
    const x = new Float64Array(H * L * D);
    for (let h = 0; h < H; h++)
      for (let t = 0; t < L; t++)
        for (let d = 0; d < D; d++) {
          const u = hash32(hash32(hash32(win.inputIds[t] * 7919 + salt) ^ positions[t]) + h * 131 + d);
          x[(h * L + t) * D + d] = round((u / 2 ** 32 - 0.5) * 3);
        }
    return x;
  };
  return { q: make(1), k: make(2), v: make(3) };
}

/**
 * The flash window's positions aligned to the flex window: a document token gets the index its
 * token has in the flex window (the flash layout is shifted by the BOS copies of the earlier
 * documents); prefix copies keep 0 (and 1). `flexIndex[t]` is that flex index, −1 for tokens
 * with no counterpart (prefix copies, documents cut at other places).
 */
export function alignFlash(flex: Window, flash: Window): { positions: Int32Array; flexIndex: Int32Array } {
  const L = flash.inputIds.length;
  const positions = Int32Array.from(flash.positionIds);
  const flexIndex = new Int32Array(L).fill(-1);
  for (const s of flash.segments) {
    const f = flex.segments.find((g) => g.doc === s.doc && g.from === s.from);
    if (!f) continue;
    for (let b = 0; b < s.to - s.from && b < f.to - f.from; b++) {
      const tFlash = s.start + s.prefix + b;
      const tFlex = f.start + b;
      if (tFlash < L && tFlex < L) positions[tFlash] = flexIndex[tFlash] = tFlex;
    }
  }
  return { positions, flexIndex };
}

/**
 * someone's attention gives each document token (and each BOS copy, which sees only itself,
 * like the anchor) the same output in the flex and the flash layout of the same documents
 * (anchor and anchor_tag, positions aligned): within the attention.forward per-row bound (both
 * are computations of one exact row), plus one bf16 rounding of each side on the bf16 paths.
 * The oracle's own outputs are bit-identical (same keys, same vectors, same order).
 */
export const flexFlashProperty = (impl: (c: AttentionCase) => AttentionOutput, precisions: readonly AttnPrecision[] = PRECISIONS) =>
  fc.property(documentsArb(), fc.constantFrom(...precisions), fc.boolean(), (docs, precision, tagged) => {
    const L = 24;
    const H = 2;
    const D = 4;
    const common = { L, bos: 1, variant: tagged ? ('anchor_tag' as const) : ('anchor' as const), tag: 9 };
    const fx = packDocuments(docs, { ...common, layout: 'flex' })[0];
    const fl = packDocuments(docs, { ...common, layout: 'flash' })[0];
    if (!fx || !fl) return true;
    const { positions, flexIndex } = alignFlash(fx, fl);
    const shape = { Hq: H, Hkv: H, L, D };
    const run = (w: Window, pos: ArrayLike<number>) => {
      const c: AttentionCase = { ...tokenQKV(w, pos, H, D, precision), shape, docIds: Int32Array.from(w.docIds), variant: w.maskVariant, precision };
      const r = impl({ ...c, q: Float64Array.from(c.q), k: Float64Array.from(c.k), v: Float64Array.from(c.v) });
      if (r.out.length !== H * L * D) throw new Error(`out has ${r.out.length} values, expected ${H * L * D}`);
      return { c, out: r.out, bound: forwardBounds(c.q, c.k, c.v, Array.from(r.lse), shape, c.docIds, { variant: c.variant, precision }).out };
    };
    const a = run(fx, fx.positionIds);
    const b = run(fl, positions);
    const bf16 = precision.startsWith('bf16');
    const check = (t: number, u: number, what: string) => {
      for (let h = 0; h < H; h++)
        for (let d = 0; d < D; d++) {
          const x = b.out[(h * L + t) * D + d];
          const y = a.out[(h * L + u) * D + d];
          const bound = Math.max(b.bound[h * L + t], a.bound[h * L + u]) + (bf16 ? 2 ** -8 * Math.max(Math.abs(x), Math.abs(y)) : 0);
          if (!(Math.abs(x - y) <= bound)) throw new Error(`${what}: flash row ${t} vs flex row ${u}, head ${h}, d ${d}: ${x} vs ${y} (bound ${bound.toExponential(3)}; ${precision}, docs ${JSON.stringify(docs)})`);
        }
    };
    for (let t = 0; t < L; t++) if (flexIndex[t] >= 0) check(t, flexIndex[t], 'document token');
    for (const s of fl.segments) if (s.start < L) check(s.start, 0, 'BOS copy vs the anchor');
    return true;
  });

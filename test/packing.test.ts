import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { packDocuments, type Window } from '../reference/packing.ts';
import { attentionForward, PRECISIONS, type AttnPrecision } from '../reference/attention.ts';
import { alignFlash, tokenQKV } from '../properties/packing.ts';
import { OpError } from '../io/errors.ts';

const BOS = 1;
const A = [101, 102, 103, 104, 105]; // a continuation, no BOS
const B = [BOS, 201, 202, 203, 204, 205, 206];
const C = [BOS, ...Array.from({ length: 11 }, (_, i) => 301 + i)];
const arr = (x: ArrayLike<number>) => Array.from(x);

test("the paper's worked example, flash layout", () => {
  const w = packDocuments([A, B, C], { L: 16, variant: 'anchor', layout: 'flash', bos: BOS });
  assert.is(w.length, 1);
  assert.equal(arr(w[0].inputIds), [1, 101, 102, 103, 104, 105, 1, 201, 202, 203, 204, 205, 206, 1, 301, 302]);
  assert.equal(arr(w[0].targets), [101, 102, 103, 104, 105, 1, 201, 202, 203, 204, 205, 206, 1, 301, 302, 303]);
  assert.equal(arr(w[0].positionIds), [0, 1, 2, 3, 4, 5, 0, 7, 8, 9, 10, 11, 12, 0, 14, 15]);
  assert.equal(arr(w[0].cuSeqlens), [0, 6, 13, 16]);
  assert.is(w[0].maskVariant, 'intra_doc'); // rows 6..12 see keys 6..q; rows 13..15 see 13..q
  assert.equal(arr(w[0].docIds), [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3]);
  assert.ok(w[0].lossMask.every((x) => x === 1)); // the repo masks no label
});

test("the paper's worked example, flex layout", () => {
  const w = packDocuments([A, B, C], { L: 16, variant: 'anchor', layout: 'flex', bos: BOS });
  assert.is(w.length, 1);
  assert.equal(arr(w[0].inputIds), [1, 101, 102, 103, 104, 105, 201, 202, 203, 204, 205, 206, 301, 302, 303, 304]);
  assert.equal(arr(w[0].targets), [101, 102, 103, 104, 105, 201, 202, 203, 204, 205, 206, 301, 302, 303, 304, 305]);
  assert.equal(arr(w[0].positionIds), [...Array(16).keys()]);
  assert.equal(arr(w[0].docIds), [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3]);
  assert.equal(arr(w[0].cuSeqlens), [0, 1, 6, 12, 16]); // = the repo's source_eos [1,6,12,17] cut at L
  assert.is(w[0].maskVariant, 'anchor');
});

test('repo rules: short documents dropped; overflow carries over; the incomplete last window is dropped', () => {
  const docs = [[BOS, 7], [8, 9], A, [BOS, 50], B, C, [BOS, 1000, 1001, 1002]];
  const w = packDocuments(docs, { L: 8, variant: 'intra_doc', layout: 'flex', bos: BOS });
  const stream = w.flatMap((x) => [...arr(x.inputIds), x.targets[7]]);
  assert.not.ok(stream.includes(7) || stream.includes(9) || stream.includes(50));
  // every kept body token appears exactly once, in order, across the windows (no row tails discarded)
  const body = stream.filter((t) => t !== BOS);
  assert.equal(body, [101, 102, 103, 104, 105, 201, 202, 203, 204, 205, 206, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 1000, 1001, 1002].slice(0, body.length));
  assert.ok(body.length >= 20);
  // continuations restart with BOS (baselines, like the flash layout)
  for (const x of w) assert.is(x.inputIds[0], BOS);
  assert.is(packDocuments([A], { L: 8, variant: 'anchor', layout: 'flex', bos: BOS }).length, 0);
});

test('intra_doc_reset positions count from 0 per segment; full gets cu_seqlens [0, L]', () => {
  const [w] = packDocuments([A, B, C], { L: 16, variant: 'intra_doc_reset', layout: 'flash', bos: BOS });
  assert.equal(arr(w.positionIds), [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2]); // the repo's global position ids
  const [f] = packDocuments([A, B, C], { L: 16, variant: 'full', layout: 'flash', bos: BOS });
  assert.equal(arr(f.cuSeqlens), [0, 16]);
  assert.is(f.maskVariant, 'full');
});

test('anchor_tag: [anchor, tag] shared prefix (flex) or per segment (flash); the tag prediction is masked', () => {
  const [x] = packDocuments([A, B, C], { L: 16, variant: 'anchor_tag', layout: 'flex', bos: BOS, tag: 9 });
  assert.equal(arr(x.inputIds.slice(0, 4)), [1, 9, 101, 102]);
  assert.equal(arr(x.docIds.slice(0, 3)), [0, 0, 1]);
  assert.equal(arr(x.lossMask), [0, ...Array(15).fill(1)]);
  const [y] = packDocuments([A, B, C], { L: 16, variant: 'anchor_tag', layout: 'flash', bos: BOS, tag: 9 });
  assert.equal(arr(y.inputIds), [1, 9, 101, 102, 103, 104, 105, 1, 9, 201, 202, 203, 204, 205, 206, 1]);
  assert.equal(arr(y.positionIds), [0, 1, 2, 3, 4, 5, 6, 0, 1, 9, 10, 11, 12, 13, 14, 0]);
  assert.equal(arr(y.lossMask), [0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0]);
  assert.throws(() => packDocuments([A], { L: 8, variant: 'anchor_tag', layout: 'flex', bos: BOS }), (e: unknown) => e instanceof OpError && /tag/.test(e.message));
});

test('maskDocBoundaries masks predictions that cross into another document', () => {
  const [x] = packDocuments([A, B, C], { L: 16, variant: 'anchor', layout: 'flex', bos: BOS, maskDocBoundaries: true });
  assert.equal(arr(x.lossMask), [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1]);
});

test('property: interleaved keeps each document’s order, keeps the anchor first, and is seeded', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 3, max: 15 }), { minLength: 2, maxLength: 6 }), fc.nat(), fc.constantFrom<'intra_doc' | 'anchor'>('intra_doc', 'anchor'), (lens, seed, base) => {
      const docs = lens.map((n, d) => Array.from({ length: n }, (_, i) => 1000 * (d + 1) + i));
      const opts = { L: 12, variant: 'interleaved' as const, layout: 'flex' as const, bos: BOS, seed, interleaveBase: base };
      const w = packDocuments(docs, opts);
      const again = packDocuments(docs, opts);
      for (let i = 0; i < w.length; i++) {
        if (arr(w[i].inputIds).join() !== arr(again[i].inputIds).join()) return false;
        if (w[i].maskVariant !== base) return false;
        if (base === 'anchor' && (w[i].inputIds[0] !== BOS || w[i].docIds[0] !== 0)) return false;
        // tokens of one doc id appear in increasing order
        const last = new Map<number, number>();
        for (let t = 0; t < 12; t++) {
          const tok = w[i].inputIds[t];
          if (tok === BOS) continue;
          const prev = last.get(w[i].docIds[t]) ?? -1;
          if (tok <= prev || Math.floor(tok / 1000) !== Math.floor((prev < 0 ? tok : prev) / 1000)) return false;
          last.set(w[i].docIds[t], tok);
        }
      }
      return true;
    }),
    { numRuns: 100, seed: 31 },
  );
  assert.throws(() => packDocuments([A], { L: 8, variant: 'interleaved', layout: 'flash', bos: BOS }), (e: unknown) => e instanceof OpError && /flex/.test(e.message));
});

// ------------------------------------------------------------------ flex ≡ flash
// q/k/v per (token id, rotary position) and the flash → flex alignment live with the exported
// property (properties/packing.ts); here the oracle's own outputs must agree bit for bit.
const qkv = (win: Window, positions: ArrayLike<number>, H: number, D: number) => tokenQKV(win, positions, H, D);

test('property: flex ≡ flash — each document token’s output is bit-identical once positions are aligned', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.integer({ min: 2, max: 500 }), { minLength: 3, maxLength: 14 }), { minLength: 1, maxLength: 6 }),
      fc.constantFrom<AttnPrecision>(...PRECISIONS),
      fc.boolean(),
      (docs, precision, tagged) => {
        const L = 24;
        const H = 2;
        const D = 4;
        const common = { L, bos: BOS, variant: tagged ? ('anchor_tag' as const) : ('anchor' as const), tag: 9 };
        const flex = packDocuments(docs, { ...common, layout: 'flex' });
        const flash = packDocuments(docs, { ...common, layout: 'flash' });
        if (!flex.length || !flash.length) return true;
        const fx = flex[0];
        const fl = flash[0];
        const { positions: aligned, flexIndex } = alignFlash(fx, fl);
        const a = qkv(fx, fx.positionIds, H, D);
        const b = qkv(fl, aligned, H, D);
        const shape = { Hq: H, Hkv: H, L, D };
        const oFlex = attentionForward(a.q, a.k, a.v, shape, fx.docIds, { variant: fx.maskVariant, precision });
        const oFlash = attentionForward(b.q, b.k, b.v, shape, fl.docIds, { variant: fl.maskVariant, precision });
        let compared = 0;
        for (let t = 0; t < L; t++) {
          const u = flexIndex[t];
          if (u < 0) continue;
          compared++;
          for (let h = 0; h < H; h++)
            for (let d = 0; d < D; d++) if (oFlash.out[(h * L + t) * D + d] !== oFlex.out[(h * L + u) * D + d]) return false;
        }
        // BOS copies reproduce the anchor's own output (it sees only itself)
        for (const s of fl.segments) if (s.start < L) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) if (oFlash.out[(h * L + s.start) * D + d] !== oFlex.out[h * L * D + d]) return false;
        return compared > 0;
      },
    ),
    { numRuns: 120, seed: 32 },
  );
});

test('without the position alignment, only the first document matches (the flash layout shifts positions)', () => {
  const docs = [[5, 6, 7, 8], [15, 16, 17, 18, 19], [25, 26, 27, 28, 29, 30, 31]];
  const flex = packDocuments(docs, { L: 12, variant: 'anchor', layout: 'flex', bos: BOS })[0];
  const flash = packDocuments(docs, { L: 12, variant: 'anchor', layout: 'flash', bos: BOS })[0];
  const a = qkv(flex, flex.positionIds, 1, 4);
  const b = qkv(flash, flash.positionIds, 1, 4);
  const shape = { Hq: 1, Hkv: 1, L: 12, D: 4 };
  const o1 = attentionForward(a.q, a.k, a.v, shape, flex.docIds, { variant: 'anchor', precision: 'f64' }).out;
  const o2 = attentionForward(b.q, b.k, b.v, shape, flash.docIds, { variant: 'intra_doc', precision: 'f64' }).out;
  // doc 1: flex indices 1..4, flash indices 1..4 (same positions)
  assert.equal(arr(o1.slice(4, 20)), arr(o2.slice(4, 20)));
  // doc 2, first token: flex index 5 (position 5), flash index 6 (position 6): different
  assert.not.equal(arr(o1.slice(20, 24)), arr(o2.slice(24, 28)));
});

test.run();

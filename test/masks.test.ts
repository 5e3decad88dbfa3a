import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { blockMask, denseMask, docIdsFromLengths, isAllowed, pairCount, positionIds, theoreticalSpeedup, VARIANTS, type Variant } from '../reference/masks.ts';
import { loadAttentionFixtures } from './fixtures/attention/fixtures.ts';

const fx = loadAttentionFixtures();

/** random window: an anchor at 0 (doc 0), documents 1..n of random lengths, optionally shuffled tokens */
const layout = fc
  .record({
    lengths: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 6 }),
    swaps: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 3 }),
  })
  .map(({ lengths, swaps }) => {
    const ids = docIdsFromLengths(lengths, true);
    for (const [a, b] of swaps) {
      const i = 1 + (a % (ids.length - 1 || 1));
      const j = 1 + (b % (ids.length - 1 || 1));
      if (i < ids.length && j < ids.length) [ids[i], ids[j]] = [ids[j], ids[i]];
    }
    return ids;
  });

test('torch create_mask with the repo mask_mod equals denseMask (every fixture layout and variant)', () => {
  let n = 0;
  for (const m of fx.masks) {
    if (!m.mask) continue;
    assert.equal([...denseMask(m.variant, m.doc_ids)], [...m.mask], `${m.name}/${m.variant}`);
    n++;
  }
  assert.ok(n >= 12);
});

test('pair counts equal torch mask sums; positions equal the fixture (reset: per-document index)', () => {
  for (const m of fx.masks) {
    const want = m.mask ? m.mask.reduce((a, b) => a + b, 0) : m.pairs!;
    assert.is(pairCount(m.variant, m.doc_ids), want, `${m.name}/${m.variant}`);
    assert.equal([...positionIds(m.variant, m.doc_ids)], m.positions, `${m.name}/${m.variant}`);
  }
});

test('block masks equal torch create_block_mask (empty / partial / full, incl. padded last block)', () => {
  let n = 0;
  for (const m of fx.masks)
    for (const [B, kinds] of Object.entries(m.block_kinds)) {
      const got = blockMask(m.variant, m.doc_ids, Number(B));
      assert.equal([...got.kind], [...kinds], `${m.name}/${m.variant}/B=${B}`);
      n++;
    }
  assert.ok(n >= 30);
  // the fixtures include full blocks and overhanging blocks
  assert.ok(fx.masks.some((m) => Object.values(m.block_kinds).some((k) => k.includes(2))));
  assert.ok(fx.masks.some((m) => m.doc_ids.length % 16 !== 0 && '16' in m.block_kinds));
});

test('paper worked example (flex): row 6 sees {0,6}; row 15 sees {0,12,13,14,15}', () => {
  const doc = [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3];
  const sees = (q: number) => [...Array(16).keys()].filter((k) => isAllowed('anchor', doc, q, k));
  assert.equal(sees(6), [0, 6]);
  assert.equal(sees(15), [0, 12, 13, 14, 15]);
  assert.equal(sees(0), [0]);
});

test('property: anchor ⊂ causal; a token sees exactly its own document’s past plus the anchor', () => {
  fc.assert(
    fc.property(layout, (ids) => {
      const L = ids.length;
      const anchor = denseMask('anchor', ids);
      const full = denseMask('full', ids);
      const intra = denseMask('intra_doc', ids);
      for (let q = 0; q < L; q++)
        for (let k = 0; k < L; k++) {
          const a = anchor[q * L + k];
          if (a && !full[q * L + k]) return false;
          const expected = k <= q && (ids[k] === ids[q] || ids[k] === 0) ? 1 : 0;
          if (a !== expected) return false;
          if (intra[q * L + k] && !a) return false; // intra_doc ⊂ anchor
        }
      // paper §2 invariants: every non-anchor row sees the anchor; the anchor row sees only itself
      for (let q = 1; q < L; q++) if (ids[q] !== 0 && !anchor[q * L]) return false;
      for (let k = 1; k < L; k++) if (anchor[k]) return false;
      return true;
    }),
    { numRuns: 200, seed: 11 },
  );
});

test('property: pairCount = dense sum = the closed formula for contiguous documents', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), (lengths) => {
      const ids = docIdsFromLengths(lengths, true);
      const doc = lengths.reduce((a, l) => a + (l * (l + 1)) / 2, 0);
      const L = ids.length;
      for (const v of VARIANTS) if (pairCount(v, ids) !== denseMask(v, ids).reduce((a, b) => a + b, 0)) return false;
      return pairCount('anchor', ids) === 1 + doc + (L - 1) && pairCount('intra_doc', ids) === 1 + doc && pairCount('full', ids) === (L * (L + 1)) / 2;
    }),
    { numRuns: 100, seed: 12 },
  );
});

test('property: block kinds agree with the dense mask for any block size', () => {
  fc.assert(
    fc.property(layout, fc.integer({ min: 1, max: 9 }), fc.constantFrom(...VARIANTS), (ids, B, v: Variant) => {
      const L = ids.length;
      const dense = denseMask(v, ids);
      const { nb, kind } = blockMask(v, ids, B);
      for (let qb = 0; qb < nb; qb++)
        for (let kb = 0; kb < nb; kb++) {
          let c = 0;
          for (let q = qb * B; q < (qb + 1) * B; q++) for (let k = kb * B; k < (kb + 1) * B; k++) if (q < L && k < L) c += dense[q * L + k];
          const want = c === 0 ? 0 : c === B * B ? 2 : 1;
          if (kind[qb * nb + kb] !== want) return false;
        }
      return true;
    }),
    { numRuns: 150, seed: 13 },
  );
});

test('reset positions count from 0 per document, also across split documents', () => {
  assert.equal([...positionIds('intra_doc_reset', [1, 1, 1, 2, 2, 3])], [0, 1, 2, 0, 1, 0]);
  assert.equal([...positionIds('intra_doc_reset', [1, 2, 1, 2, 1])], [0, 0, 1, 1, 2]);
  assert.equal([...positionIds('anchor', [0, 1, 1, 2])], [0, 1, 2, 3]);
});

test('theoretical speed-up: 4 equal documents → pairs ratio ≈ 4; more documents → more', () => {
  const ids = docIdsFromLengths([2048, 2048, 2048, 2047], true);
  const s = theoreticalSpeedup('anchor', ids, 128);
  // (L(L+1)/2) / (1 + 4·n(n+1)/2 + L-1) with n ≈ 2048
  assert.ok(Math.abs(s.pairs - 3.996) < 0.01, String(s.pairs));
  assert.ok(s.blocks > 3 && s.blocks < s.pairs, String(s.blocks)); // block granularity and the anchor column cost tiles
  const many = theoreticalSpeedup('anchor', docIdsFromLengths(Array(16).fill(512).map((n, i) => (i === 15 ? n - 1 : n)), true), 128);
  assert.ok(many.pairs > 15 && many.blocks > 6, JSON.stringify(many));
});

test.run();

// Tile kinds (empty / partial / full) of a mask, as reference/masks.ts blockMask defines them,
// without visiting every pair: the reference counts allowed pairs one by one (O(L²): 90 ms at
// L = 4096, 1.3 s at 16384, paid on every attention call without a prebuilt table). Here a
// tile below the diagonal counts its allowed pairs from document histograms: rows of document d
// each see the key block's tokens of d, plus (anchor, d ≠ 0) its tokens of document 0; a query
// block's rows and a key block's tokens fall into few documents, so this is O(nb²·docs per
// block + L·B). Diagonal tiles (keys up to each row) are counted pair by pair, by the
// reference's own tilePairCount.

import { ANCHOR_DOC, tileKind, tilePairCount, type Variant } from '../reference/masks.ts';

/** kind[qb·nb + kb] for kb ≤ qb (BLOCK_EMPTY above the diagonal), equal to blockMask's */
export function blockKinds(variant: Variant, docIds: ArrayLike<number>, B: number): { nb: number; kind: Uint8Array } {
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`blockKinds: block size must be a positive integer, got ${B}`);
  const L = docIds.length;
  const nb = Math.ceil(L / B);
  const kind = new Uint8Array(nb * nb);
  // the document a pair test compares: one class for `full` (every earlier key is allowed)
  const docOf = (i: number): number => (variant === 'full' ? 0 : docIds[i]);
  const histogram = (b: number): Map<number, number> => {
    const h = new Map<number, number>();
    for (let i = b * B; i < Math.min(L, (b + 1) * B); i++) {
      const d = docOf(i);
      h.set(d, (h.get(d) ?? 0) + 1);
    }
    return h;
  };
  const blocks = Array.from({ length: nb }, (_, b) => histogram(b));
  for (let qb = 0; qb < nb; qb++) {
    const rows = blocks[qb];
    for (let kb = 0; kb < qb; kb++) {
      const keys = blocks[kb];
      const anchorKeys = variant === 'anchor' ? (keys.get(ANCHOR_DOC) ?? 0) : 0;
      let count = 0;
      for (const [d, n] of rows) count += n * ((keys.get(d) ?? 0) + (d !== ANCHOR_DOC ? anchorKeys : 0));
      kind[qb * nb + kb] = tileKind(count, B);
    }
    kind[qb * nb + qb] = tileKind(tilePairCount(variant, docIds, B, qb, qb), B);
  }
  return { nb, kind };
}

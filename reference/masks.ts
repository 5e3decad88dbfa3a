// Attention masks for the paper's variants (SPEC.md, "Attention"): the per-pair predicate,
// position ids, dense and block masks, and the pair / FLOP counts behind the
// "less than half the training time" claim.
//
// A window has L tokens t = 0..L-1 with document ids d(t). For the `anchor` variant,
// doc id 0 marks the shared anchor (the repo's flex layout: anchor at index 0, documents
// 1..n). Every variant is causal (k <= q):
//   full             k <= q
//   intra_doc        k <= q and d(q) = d(k)
//   intra_doc_reset  as intra_doc (only the positions differ)
//   anchor           k <= q and (d(q) = d(k) or d(k) = 0)   -- the repo's mask_mod, train.py:382-391
// Documents need not be contiguous: a token sees every earlier token of its own document
// id, which is what the interleaved-chunk variants rely on.

export type Variant = 'full' | 'intra_doc' | 'intra_doc_reset' | 'anchor';
export const VARIANTS: readonly Variant[] = ['full', 'intra_doc', 'intra_doc_reset', 'anchor'];

/** the anchor's document id in the `anchor` variant */
export const ANCHOR_DOC = 0;

export function isAllowed(variant: Variant, docIds: ArrayLike<number>, q: number, k: number): boolean {
  if (k > q) return false;
  switch (variant) {
    case 'full':
      return true;
    case 'intra_doc':
    case 'intra_doc_reset':
      return docIds[q] === docIds[k];
    case 'anchor':
      return docIds[q] === docIds[k] || docIds[k] === ANCHOR_DOC;
  }
}

/**
 * RoPE position ids. `intra_doc_reset` counts each document from 0: the position of a token
 * is the number of earlier tokens with its document id (t - s_d for a contiguous document;
 * for split documents it keeps counting across the chunks). Every other variant uses t:
 * for `anchor` the anchor sits at index 0 and so has position 0 (train.py: arange(L)).
 */
export function positionIds(variant: Variant, docIds: ArrayLike<number>): Int32Array {
  const L = docIds.length;
  const pos = new Int32Array(L);
  if (variant !== 'intra_doc_reset') {
    for (let t = 0; t < L; t++) pos[t] = t;
    return pos;
  }
  const seen = new Map<number, number>();
  for (let t = 0; t < L; t++) {
    const n = seen.get(docIds[t]) ?? 0;
    pos[t] = n;
    seen.set(docIds[t], n + 1);
  }
  return pos;
}

/** [L*L] row-major, 1 where query row q may attend key column k */
export function denseMask(variant: Variant, docIds: ArrayLike<number>): Uint8Array {
  const L = docIds.length;
  const m = new Uint8Array(L * L);
  for (let q = 0; q < L; q++) for (let k = 0; k <= q; k++) if (isAllowed(variant, docIds, q, k)) m[q * L + k] = 1;
  return m;
}

export const BLOCK_EMPTY = 0;
export const BLOCK_PARTIAL = 1;
export const BLOCK_FULL = 2;

/**
 * FlexAttention's block classification (torch create_block_mask, default block 128): the mask
 * is padded with "not allowed" up to a multiple of B, cut into B×B tiles, and a tile is
 * empty (no allowed pair), full (all B² pairs allowed) or partial. So a tile that overhangs
 * the end of the window is never full. kind is [nb*nb] row-major (query block, key block).
 */
export function blockMask(variant: Variant, docIds: ArrayLike<number>, blockSize = 128): { nb: number; kind: Uint8Array } {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockMask: block size must be a positive integer, got ${blockSize}`);
  const L = docIds.length;
  const B = blockSize;
  const nb = Math.ceil(L / B);
  const kind = new Uint8Array(nb * nb);
  for (let qb = 0; qb < nb; qb++) for (let kb = 0; kb <= qb; kb++) kind[qb * nb + kb] = tileKind(tilePairCount(variant, docIds, B, qb, kb), B);
  return { nb, kind };
}

/** allowed (q, k) pairs in tile (query block qb, key block kb) of size B, counted one by one */
export function tilePairCount(variant: Variant, docIds: ArrayLike<number>, B: number, qb: number, kb: number): number {
  const L = docIds.length;
  let count = 0;
  for (let q = qb * B; q < Math.min(L, (qb + 1) * B); q++)
    for (let k = kb * B; k < Math.min(L, (kb + 1) * B, q + 1); k++) if (isAllowed(variant, docIds, q, k)) count++;
  return count;
}

/** a B×B tile's kind from its count of allowed pairs */
export function tileKind(count: number, B: number): number {
  return count === 0 ? BLOCK_EMPTY : count === B * B ? BLOCK_FULL : BLOCK_PARTIAL;
}

/**
 * blockMask's tile kinds without visiting every pair (property-tested equal to blockMask for
 * every variant, split documents and ragged last blocks): a tile below the diagonal counts its
 * allowed pairs from document histograms — rows of document d each see the key block's tokens
 * of d, plus (anchor, d ≠ 0) its tokens of document 0 — and a query block's rows and a key
 * block's tokens fall into few documents, so this is O(nb²·docs per block + L·B) instead of
 * O(L²) (2 ms instead of ~100 ms at L = 4096; what attention.block_mask and the kernels' block
 * tables use). Diagonal tiles (keys up to each row) are counted pair by pair by tilePairCount.
 */
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

/** number of allowed (q, k) pairs, in O(L) */
export function pairCount(variant: Variant, docIds: ArrayLike<number>): number {
  const L = docIds.length;
  if (variant === 'full') return (L * (L + 1)) / 2;
  const seen = new Map<number, number>(); // tokens so far per document id
  let anchors = 0; // doc-0 tokens so far
  let pairs = 0;
  for (let t = 0; t < L; t++) {
    const d = docIds[t];
    const own = (seen.get(d) ?? 0) + 1; // includes the diagonal
    seen.set(d, own);
    if (variant === 'anchor' && d === ANCHOR_DOC) anchors++;
    pairs += own + (variant === 'anchor' && d !== ANCHOR_DOC ? anchors : 0);
  }
  return pairs;
}

/** tiles FlexAttention would compute: partial and full tiles */
export function nonEmptyBlocks(variant: Variant, docIds: ArrayLike<number>, blockSize = 128): { partial: number; full: number } {
  const { kind } = blockKinds(variant, docIds, blockSize); // = blockMask's table, without its O(L²) pair walk
  let partial = 0;
  let full = 0;
  for (const k of kind) {
    if (k === BLOCK_PARTIAL) partial++;
    else if (k === BLOCK_FULL) full++;
  }
  return { partial, full };
}

/**
 * Attention matmul FLOPs for H query heads of dimension D: forward 4·pairs·D·H (QKᵀ and P·V,
 * a multiply and an add each); backward 2.5× the forward (five matmuls instead of two: the
 * recomputed QKᵀ, dV, dP, dQ, dK). Softmax and masking are not counted.
 */
export function attentionFlops(variant: Variant, docIds: ArrayLike<number>, D: number, H: number): { forward: number; backward: number } {
  return attentionFlopsOfPairs(pairCount(variant, docIds), D, H);
}
/** attentionFlops for a given number of allowed pairs (any count: per window, per token, per tile set) */
export function attentionFlopsOfPairs(pairs: number, D: number, H: number): { forward: number; backward: number } {
  const forward = 4 * pairs * D * H;
  return { forward, backward: 2.5 * forward };
}

/**
 * The theoretical speed-up of `variant` over full causal attention on the same window:
 * by allowed pairs (an ideal element-sparse kernel), and by computed B×B tiles (a block-sparse
 * kernel such as FlexAttention; partial and full tiles cost the same here).
 */
export function theoreticalSpeedup(variant: Variant, docIds: ArrayLike<number>, blockSize = 128): { pairs: number; blocks: number } {
  const full = nonEmptyBlocks('full', docIds, blockSize);
  const v = nonEmptyBlocks(variant, docIds, blockSize);
  return {
    pairs: pairCount('full', docIds) / pairCount(variant, docIds),
    blocks: (full.partial + full.full) / (v.partial + v.full),
  };
}

/** doc ids from document lengths: ids 1..n in order, with an anchor (id 0) first when asked */
export function docIdsFromLengths(lengths: readonly number[], withAnchor = false): Int32Array {
  const L = lengths.reduce((a, b) => a + b, 0) + (withAnchor ? 1 : 0);
  const ids = new Int32Array(L);
  let t = withAnchor ? 1 : 0;
  lengths.forEach((n, i) => {
    ids.fill(i + 1, t, t + n);
    t += n;
  });
  return ids;
}

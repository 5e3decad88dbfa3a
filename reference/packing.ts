// Packing documents into training windows (SPEC.md, "Attention / packing"), following the
// reference repo's rules (train.py:98-246) with its known bugs avoided.
//
// A window is a stream of L+1 tokens: inputs = stream[0:L], targets = stream[1:L+1].
// Documents are consumed in order; each contributes one or more SEGMENTS:
//   - a document of 2 tokens or fewer (counting a leading BOS) is dropped (repo rule);
//   - a leading BOS is stripped from the document's body; the layout decides what goes in
//     front of each segment (below);
//   - a document that overflows the window is truncated there and CONTINUES in the next
//     window as a new segment (the repo's tokenized path discards the rest of the row);
//   - a final window that cannot be filled is dropped (the repo keeps only full rows).
//
// Layouts (the paper's §4–§6):
//   flex  anchor / anchor_tag: one shared prefix at index 0, doc id 0: [bos] or [bos, tag];
//         the documents follow with no separator, doc ids 1..n, positions t (continuous).
//   flash anchor / anchor_tag: no shared prefix; EVERY segment starts with its own copy of
//         it, [bos] or [bos, tag], at rotary positions 0 (and 1); every other token keeps its
//         index t as position; doc ids 1..n per segment; cu_seqlens at the segment starts.
//   full / intra_doc / intra_doc_reset (both layouts): every segment starts with BOS (the
//         tokenized data's per-document BOS); doc ids 1..n; positions t, or the index within
//         the document for intra_doc_reset.
//   interleaved (flex only): the window's segments (base mask `interleaveBase`, default
//         intra_doc) are cut at seeded random points and the chunks shuffled across
//         documents, keeping order within each document; doc ids stay those of the
//         original segments, positions are continuous.

import { OpError } from '../io/errors.ts';
import { Rng } from './rng.ts';
import { positionIds, type Variant } from './masks.ts';

export type PackVariant = Variant | 'anchor_tag' | 'interleaved';
export type Layout = 'flex' | 'flash';
export const PACK_VARIANTS: readonly PackVariant[] = ['full', 'intra_doc', 'intra_doc_reset', 'anchor', 'anchor_tag', 'interleaved'];

export interface PackOptions {
  /** window length (tokens fed to the model) */
  L: number;
  variant: PackVariant;
  layout: Layout;
  /** BOS id: the anchor and the per-document start token (Qwen: pass EOS) */
  bos: number;
  /** domain tag id (anchor_tag) */
  tag?: number;
  /** interleaved: seed of the chunk cuts and shuffle */
  seed?: number;
  /** interleaved: the base mask, intra_doc (default, the paper's "+Interleaved") or anchor */
  interleaveBase?: 'intra_doc' | 'anchor';
  /** interleaved: at most this many chunks per segment (default 4) */
  maxChunks?: number;
  /** also mask predictions that cross into another document (off by default, like the repo) */
  maskDocBoundaries?: boolean;
}

/** where a segment's body came from: document `doc` (index into the input), tokens [from, to) of its body */
export interface Segment {
  doc: number;
  from: number;
  to: number;
  /** doc id of the segment in the window */
  docId: number;
  /** index in the L+1 stream of the segment's first token (its prefix copy, if any) */
  start: number;
  /** prefix copies in front of the body ([bos] or [bos, tag]) */
  prefix: number;
}

export interface Window {
  inputIds: Int32Array;
  targets: Int32Array;
  /** 1 where the prediction of targets[t] counts in the loss */
  lossMask: Uint8Array;
  docIds: Int32Array;
  positionIds: Int32Array;
  /** start of every run of equal doc ids in the inputs, plus L ([0, L] for full) */
  cuSeqlens: Int32Array;
  /** the mask predicate that reproduces this window's attention */
  maskVariant: Variant;
  segments: Segment[];
}

interface Piece {
  tokens: number[];
  docId: number;
  prefix: number; // how many leading tokens are prefix copies
  seg?: Omit<Segment, 'start' | 'docId' | 'prefix'>;
}

function validate(opts: PackOptions): void {
  const bad = (m: string) => new OpError('BAD_ARGS', `packDocuments: ${m}`);
  if (!Number.isInteger(opts.L) || opts.L < 2) throw bad(`L must be an integer ≥ 2, got ${opts.L}`);
  if (!PACK_VARIANTS.includes(opts.variant)) throw bad(`variant must be one of ${PACK_VARIANTS.join(', ')}, got ${JSON.stringify(opts.variant)}`);
  if (opts.layout !== 'flex' && opts.layout !== 'flash') throw bad(`layout must be flex or flash, got ${JSON.stringify(opts.layout)}`);
  if (!Number.isInteger(opts.bos)) throw bad(`bos must be an integer token id, got ${opts.bos}`);
  if (opts.variant === 'anchor_tag' && !Number.isInteger(opts.tag)) throw bad('anchor_tag needs an integer tag token id');
  if (opts.variant === 'interleaved' && opts.layout === 'flash')
    throw bad('interleaved chunks need the flex layout (a varlen kernel needs contiguous documents)');
  if (opts.interleaveBase !== undefined && opts.interleaveBase !== 'intra_doc' && opts.interleaveBase !== 'anchor')
    throw bad(`interleaveBase must be intra_doc or anchor, got ${JSON.stringify(opts.interleaveBase)}`);
  if (opts.maxChunks !== undefined && (!Number.isInteger(opts.maxChunks) || opts.maxChunks < 1)) throw bad(`maxChunks must be a positive integer, got ${opts.maxChunks}`);
}

export function packDocuments(docs: number[][], opts: PackOptions): Window[] {
  validate(opts);
  const { L, bos, layout } = opts;
  const variant = opts.variant;
  const base = variant === 'interleaved' ? (opts.interleaveBase ?? 'intra_doc') : variant;
  const anchorLike = base === 'anchor' || base === 'anchor_tag';
  const shared = base === 'anchor_tag' ? [bos, opts.tag as number] : [bos];
  // what goes in front of the window, and in front of every segment
  const windowPrefix = anchorLike && layout === 'flex' ? shared : [];
  const segPrefix = anchorLike ? (layout === 'flash' ? shared : []) : [bos];
  const maskVariant: Variant = anchorLike ? (layout === 'flex' ? 'anchor' : 'intra_doc') : (base as Variant);
  const rng = new Rng(opts.seed ?? 0);

  // document bodies: drop short documents, strip a leading BOS
  const bodies: { doc: number; body: number[] }[] = [];
  docs.forEach((d, i) => {
    if (!Array.isArray(d)) throw new OpError('BAD_ARGS', `packDocuments: document ${i} is not an array of token ids`);
    if (d.length <= 2) return;
    bodies.push({ doc: i, body: d[0] === bos ? d.slice(1) : d.slice() });
  });

  const windows: Window[] = [];
  let di = 0;
  let offset = 0;
  for (;;) {
    const pieces: Piece[] = [];
    let filled = windowPrefix.length;
    if (windowPrefix.length) pieces.push({ tokens: windowPrefix.slice(), docId: 0, prefix: windowPrefix.length });
    let nextId = 1;
    while (filled < L + 1 && di < bodies.length) {
      const { doc, body } = bodies[di];
      const room = L + 1 - filled;
      const want = segPrefix.length + body.length - offset;
      const take = Math.min(room, want);
      const bodyTaken = Math.max(0, take - segPrefix.length);
      const tokens = [...segPrefix, ...body.slice(offset, offset + bodyTaken)].slice(0, take);
      pieces.push({ tokens, docId: nextId++, prefix: Math.min(take, segPrefix.length), seg: { doc, from: offset, to: offset + bodyTaken } });
      filled += take;
      if (take === want) {
        di++;
        offset = 0;
      } else offset += bodyTaken;
    }
    if (filled < L + 1) break; // the last, incomplete window is dropped

    const stream: number[] = [];
    const ids: number[] = [];
    const isPrefix: boolean[] = [];
    const segments: Segment[] = [];
    const emit = (p: Piece, tokens: number[], prefixCount: number) => {
      for (let i = 0; i < tokens.length; i++) {
        stream.push(tokens[i]);
        ids.push(p.docId);
        isPrefix.push(i < prefixCount);
      }
    };
    if (variant === 'interleaved') {
      // the window prefix stays in front; every segment is cut into chunks and the chunks shuffled
      const head = pieces[0].docId === 0 ? pieces.shift()! : undefined;
      if (head) emit(head, head.tokens, head.prefix);
      const chunks = pieces.map((p) => cutChunks(p.tokens.length, Math.min(p.tokens.length, rng.int(1, opts.maxChunks ?? 4)), rng));
      const order: number[] = [];
      chunks.forEach((c, i) => c.forEach(() => order.push(i)));
      rng.shuffle(order);
      const next = pieces.map(() => 0);
      for (const pi of order) {
        const [a, b] = chunks[pi][next[pi]++];
        const p = pieces[pi];
        if (a === 0) segments.push({ ...p.seg!, docId: p.docId, start: stream.length, prefix: p.prefix });
        emit(p, p.tokens.slice(a, b), Math.max(0, p.prefix - a));
      }
    } else {
      for (const p of pieces) {
        if (p.seg) segments.push({ ...p.seg, docId: p.docId, start: stream.length, prefix: p.prefix });
        emit(p, p.tokens, p.prefix);
      }
    }

    const inputIds = Int32Array.from(stream.slice(0, L));
    const targets = Int32Array.from(stream.slice(1, L + 1));
    const docIds = Int32Array.from(ids.slice(0, L));
    const lossMask = new Uint8Array(L).fill(1);
    for (let t = 0; t < L; t++) {
      // the tag is context, not text: its prediction is not trained (paper, Sec. 5.1)
      if (base === 'anchor_tag' && isPrefix[t + 1] && stream[t + 1] === opts.tag) lossMask[t] = 0;
      if (opts.maskDocBoundaries && ids[t] !== 0 && ids[t + 1] !== ids[t]) lossMask[t] = 0;
    }
    let pos: Int32Array;
    if (anchorLike && layout === 'flash') {
      pos = Int32Array.from({ length: L }, (_, t) => t);
      for (const s of segments) for (let c = 0; c < s.prefix; c++) if (s.start + c < L) pos[s.start + c] = c;
    } else pos = positionIds(maskVariant, docIds);
    windows.push({ inputIds, targets, lossMask, docIds, positionIds: pos, cuSeqlens: runStarts(docIds, maskVariant === 'full'), maskVariant, segments });
  }
  return windows;
}

/** k chunks [a, b) covering [0, n), cut at k-1 distinct random points */
function cutChunks(n: number, k: number, rng: Rng): [number, number][] {
  const cuts = new Set<number>();
  while (cuts.size < k - 1) cuts.add(rng.int(1, n - 1));
  const pts = [0, ...[...cuts].sort((a, b) => a - b), n];
  return pts.slice(1).map((b, i) => [pts[i], b]);
}

/** cu_seqlens: the start of every run of equal ids, plus the length */
export function runStarts(docIds: ArrayLike<number>, single = false): Int32Array {
  const L = docIds.length;
  if (single) return Int32Array.from([0, L]);
  const out = [0];
  for (let t = 1; t < L; t++) if (docIds[t] !== docIds[t - 1]) out.push(t);
  out.push(L);
  return Int32Array.from(out);
}

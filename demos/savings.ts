// What AnchorAttention saves: allowed (q, k) pairs and attention FLOPs of each mask variant
// on packed windows of 8K … 128K tokens, for the paper's three training mixes, and the
// end-to-end forward speed-up that implies for LLaMA-2-7B (FLOPs per token: 2·params for the weights plus 4·d_model·layers per allowed pair).
//
// The source token shares are the paper's (Table 1). The paper gives no
// document-length distributions, so each source's lengths are MODELLED here as log-normal
// with the stated medians and spreads: these are assumptions (flagged in the output), chosen
// to be typical of the sources (web pages and C4 short, code and Wikipedia medium, arXiv
// papers and books long); the length-upsampled mix upweights long documents per source.

import { attentionFlopsOfPairs, nonEmptyBlocks, pairCount, docIdsFromLengths, type Variant } from '../reference/masks.ts';
import { packDocuments } from '../reference/packing.ts';
import { Rng } from '../reference/rng.ts';

export interface SourceModel {
  name: string;
  /** median document length in tokens (assumption) */
  median: number;
  /** log-normal sigma (assumption) */
  sigma: number;
}
export const SOURCES: SourceModel[] = [
  { name: 'CommonCrawl', median: 700, sigma: 1.1 },
  { name: 'C4', median: 400, sigma: 0.9 },
  { name: 'GitHub', median: 1200, sigma: 1.4 },
  { name: 'ArXiv', median: 9000, sigma: 0.7 },
  { name: 'Books', median: 90000, sigma: 0.8 },
  { name: 'Wikipedia', median: 500, sigma: 1.2 },
  { name: 'StackExchange', median: 500, sigma: 0.9 },
];

/** token shares CC/C4/GitHub/ArXiv/Books/Wiki/SE (paper Table 1), and whether lengths are upsampled */
export const MIXES: { name: string; shares: number[]; upsampled: boolean }[] = [
  { name: 'SlimPajama-64K', shares: [54, 25, 5, 5, 4, 3, 3], upsampled: false },
  { name: 'SlimPajama-128K', shares: [53, 27, 5, 5, 4, 3, 3], upsampled: false },
  { name: 'UpSampledMix-128K', shares: [58, 20, 7, 6, 5, 4, 2], upsampled: true },
];

const LLAMA2_7B = { params: 6.74e9, dModel: 4096, layers: 32 };

/** draw documents until the window (L tokens, anchor first) is full; the last one is cut */
export function sampleWindowLengths(rng: Rng, L: number, shares: number[], upsampled: boolean): number[] {
  // a source is picked with probability ∝ its token share / its mean length (so token shares hold)
  const means = SOURCES.map((s) => s.median * Math.exp(((s.sigma * (upsampled ? 1.25 : 1)) ** 2) / 2) * (upsampled ? 2 : 1));
  const w = shares.map((s, i) => s / means[i]);
  const total = w.reduce((a, b) => a + b, 0);
  const lengths: number[] = [];
  let room = L - 1;
  while (room > 0) {
    let r = rng.float() * total;
    let k = 0;
    while (k < w.length - 1 && r >= w[k]) r -= w[k++];
    const s = SOURCES[k];
    const len = Math.max(3, Math.round(s.median * (upsampled ? 2 : 1) * Math.exp(s.sigma * (upsampled ? 1.25 : 1) * rng.normal())));
    lengths.push(Math.min(len, room));
    room -= Math.min(len, room);
  }
  return lengths;
}

export interface SavingsRow {
  mix: string;
  L: number;
  docsPerWindow: number;
  /** allowed pairs relative to full causal */
  ratio: Record<Variant, number>;
  /** estimated LLaMA-2-7B forward speed-up of anchor over full causal */
  endToEnd: number;
}

export function savingsTable(lengthsL = [8192, 16384, 32768, 65536, 131072], windows = 16, seed = 1): SavingsRow[] {
  const rows: SavingsRow[] = [];
  for (const mix of MIXES)
    for (const L of lengthsL) {
      const rng = new Rng(seed + L);
      const sums = { full: 0, intra_doc: 0, intra_doc_reset: 0, anchor: 0 } as Record<Variant, number>;
      let docs = 0;
      for (let w = 0; w < windows; w++) {
        const lengths = sampleWindowLengths(rng, L, mix.shares, mix.upsampled);
        docs += lengths.length;
        const ids = docIdsFromLengths(lengths, true);
        for (const v of Object.keys(sums) as Variant[]) sums[v] += pairCount(v, ids);
      }
      const ratio = Object.fromEntries(Object.entries(sums).map(([v, s]) => [v, s / sums.full])) as Record<Variant, number>;
      const perToken = (pairs: number) => 2 * LLAMA2_7B.params + LLAMA2_7B.layers * attentionFlopsOfPairs(pairs / (windows * L), LLAMA2_7B.dModel, 1).forward;
      rows.push({ mix: mix.name, L, docsPerWindow: docs / windows, ratio, endToEnd: perToken(sums.full) / perToken(sums.anchor) });
    }
  return rows;
}

export function savingsLines(rows: SavingsRow[]): string[] {
  const out = [
    'Attention pairs of each mask relative to full causal, and the LLaMA-2-7B forward speed-up of anchor attention',
    '(document lengths: log-normal per source with ASSUMED medians — see demos/savings.ts; token shares from the paper)',
    '',
    '| mix | L | docs/window | intra_doc | anchor | anchor speed-up (7B fwd) |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows)
    out.push(`| ${r.mix} | ${r.L} | ${r.docsPerWindow.toFixed(1)} | ${r.ratio.intra_doc.toFixed(4)} | ${r.ratio.anchor.toFixed(4)} | ${r.endToEnd.toFixed(2)}× |`);
  return out;
}

// ------------------------------------------------------------------ measured document lengths
// The same estimate on a real corpus: the shipped demo corpus's documents (its measured lengths,
// in the tokenizer the caller used), packed by the reference packer into anchor windows, as many
// windows per length as `tokens` asks for (the corpus repeated in seeded shuffles).


export interface MeasuredSavingsRow {
  L: number;
  windows: number;
  docsPerWindow: number;
  /** allowed pairs relative to full causal */
  pairs: { intra_doc: number; anchor: number };
  /** LLaMA-2-7B training time of anchor attention as a share of full attention's, by FLOPs: an element-sparse kernel (pairs) and a 128×128 block-sparse one (tiles) */
  timeShare: { pairs: number; blocks: number };
}

/**
 * Training FLOPs per token of LLaMA-2-7B: 6·params for the weights (forward 2, backward 4) plus
 * attention: forward 4·d_model·layers per allowed pair, backward 2.5× that (reference/masks.ts
 * attentionFlops); `pairsPerToken` is allowed pairs / L.
 */
const trainFlopsPerToken = (pairsPerToken: number): number => {
  const a = attentionFlopsOfPairs(pairsPerToken, LLAMA2_7B.dModel, 1);
  return 6 * LLAMA2_7B.params + LLAMA2_7B.layers * (a.forward + a.backward);
};

export function measuredSavings(docs: number[][], o: { lengths?: number[]; tokens?: number; seed?: number; bos: number; onStep?: (what: string) => void }): MeasuredSavingsRow[] {
  const lengths = o.lengths ?? [8192, 16384, 32768, 65536, 131072];
  const tokens = o.tokens ?? 2 ** 21;
  const rows: MeasuredSavingsRow[] = [];
  for (const L of lengths) {
    const rng = new Rng((o.seed ?? 1) * 7919 + L);
    const stream: number[][] = [];
    let n = 0;
    // enough copies of the corpus, each in its own seeded order, for `tokens` tokens plus a window
    while (n < tokens + L) {
      const order = rng.shuffle(docs.map((_, i) => i));
      for (const i of order) {
        stream.push(docs[i]);
        n += docs[i].length;
      }
    }
    const windows = packDocuments(stream, { L, variant: 'anchor', layout: 'flex', bos: o.bos }).slice(0, Math.max(1, Math.floor(tokens / L)));
    let full = 0, intra = 0, anchor = 0, docsSeen = 0, tilesFull = 0, tilesAnchor = 0;
    for (const w of windows) {
      full += pairCount('full', w.docIds);
      intra += pairCount('intra_doc', w.docIds);
      anchor += pairCount('anchor', w.docIds);
      docsSeen += w.segments.length;
      // full causal computes every tile on or below the diagonal: nb(nb + 1)/2, no need to count
      const nb = Math.ceil(L / 128);
      const a = nonEmptyBlocks('anchor', w.docIds, 128);
      tilesFull += (nb * (nb + 1)) / 2;
      tilesAnchor += a.partial + a.full;
    }
    const per = (pairs: number) => pairs / (windows.length * L);
    const tilePairs = (tiles: number) => (tiles * 128 * 128) / (windows.length * L);
    rows.push({
      L,
      windows: windows.length,
      docsPerWindow: docsSeen / windows.length,
      pairs: { intra_doc: intra / full, anchor: anchor / full },
      timeShare: { pairs: trainFlopsPerToken(per(anchor)) / trainFlopsPerToken(per(full)), blocks: trainFlopsPerToken(tilePairs(tilesAnchor)) / trainFlopsPerToken(tilePairs(tilesFull)) },
    });
    o.onStep?.(`savings at L = ${L}`);
  }
  return rows;
}

/** true when each row's anchor time share is at most the previous row's (longer windows save more) */
export const monotoneSavings = (rows: MeasuredSavingsRow[]): boolean => rows.every((r, i) => i === 0 || (r.timeShare.pairs <= rows[i - 1].timeShare.pairs && r.timeShare.blocks <= rows[i - 1].timeShare.blocks));

export function measuredSavingsLines(rows: MeasuredSavingsRow[], corpus: string): string[] {
  const out = [
    `Anchor attention on packed windows of ${corpus}: allowed pairs relative to full causal, and LLaMA-2-7B training time (FLOPs: weights 6·params per token, attention forward + backward) as a share of full attention's.`,
    '',
    '| L | windows | docs/window | intra_doc pairs | anchor pairs | anchor time share (element-sparse) | anchor time share (128² block-sparse) |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows)
    out.push(`| ${r.L} | ${r.windows} | ${r.docsPerWindow.toFixed(1)} | ${r.pairs.intra_doc.toFixed(4)} | ${r.pairs.anchor.toFixed(4)} | ${(100 * r.timeShare.pairs).toFixed(1)}% | ${(100 * r.timeShare.blocks).toFixed(1)}% |`);
  out.push('', `Monotone in L (longer windows save more): ${monotoneSavings(rows) ? 'yes' : 'NO'}.`);
  return out;
}

// Sequence-parallel semantics (SPEC.md, "Attention / sequence parallel"): an oracle for people
// who shard attention, not a distributed runtime. N ranks are simulated in one process; each
// rank only ever touches the slices it would hold, and every exchange is an explicit copy.
//
// Ulysses (DeepSpeed-Ulysses, the repo's ulysses_attn): rank r holds the contiguous token
// slice r of every head; an all-to-all gives it ALL tokens of heads slice r; it runs whole-head
// attention; the inverse all-to-all returns its token slice of every head. Heads are never
// split, so the result equals the unsharded computation bit for bit, on every path.
//
// Zigzag ring attention (EasyContext zigzag_ring_attn, the paper's baseline): the window is cut
// into 2N chunks; rank r holds chunks r and 2N-1-r of q, k and v. In N steps the KV blocks
// travel round the ring (at step s rank r holds the KV of rank (r - s) mod N); each step gives
// a partial (out, lse) of the rank's queries against the visiting keys under the mask (by
// window index), and the partials are merged by their LSEs. Equal to the unsharded result up
// to rounding (f64: ≤ 1e-12). The real kernels skip tiles that the causal mask empties; here
// an empty partial row has lse = -Infinity and contributes nothing, which is the same maths.

import { attentionForward, attentionForwardPartial, mergeTwo, type AttnOptions, type AttnResult, type AttnShape } from './attention.ts';

/** rows [t0, t1) of every head of a [H, L, D] tensor → [H, t1-t0, D] */
function sliceTokens(x: Float64Array, H: number, L: number, D: number, rows: readonly number[]): Float64Array {
  const out = new Float64Array(H * rows.length * D);
  for (let h = 0; h < H; h++)
    rows.forEach((t, i) => {
      out.set(x.subarray((h * L + t) * D, (h * L + t + 1) * D), (h * rows.length + i) * D);
    });
  return out;
}
/** write a [H, n, D] local tensor into rows `rows` of a [H, L, D] global one */
function scatterTokens(dst: Float64Array, src: Float64Array, H: number, L: number, D: number, rows: readonly number[]): void {
  for (let h = 0; h < H; h++)
    rows.forEach((t, i) => {
      dst.set(src.subarray((h * rows.length + i) * D, (h * rows.length + i + 1) * D), (h * L + t) * D);
    });
}
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

export interface ShardedResult extends AttnResult {
  /** what each rank ends with: its token rows (window indices) and their out / lse ([H, rows, D], [H, rows]) */
  ranks: { rows: number[]; out: Float64Array; lse: Float64Array }[];
}

export function ulyssesAttention(q: Float64Array, k: Float64Array, v: Float64Array, shape: AttnShape, docIds: ArrayLike<number>, opts: AttnOptions, N: number): ShardedResult {
  const { Hq, Hkv, L, D } = shape;
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`ulysses: N must be a positive integer, got ${N}`);
  if (L % N) throw new RangeError(`ulysses: L (${L}) must be divisible by N (${N})`);
  if (Hkv % N) throw new RangeError(`ulysses: Hkv (${Hkv}) must be divisible by N (${N}) (the repo's num_kv_heads % W == 0)`);
  const Lr = L / N;
  const hq = Hq / N;
  const hkv = Hkv / N;
  // what each rank holds before: its token slice of every head
  const held = range(0, N).map((r) => {
    const rows = range(r * Lr, (r + 1) * Lr);
    return { rows, q: sliceTokens(q, Hq, L, D, rows), k: sliceTokens(k, Hkv, L, D, rows), v: sliceTokens(v, Hkv, L, D, rows) };
  });
  // all-to-all: rank r gathers heads slice r of every token from every rank
  const gatherHeads = (part: 'q' | 'k' | 'v', H: number, hs: number, r: number): Float64Array => {
    const out = new Float64Array(hs * L * D);
    for (let src = 0; src < N; src++) {
      const local = held[src][part];
      for (let h = 0; h < hs; h++)
        out.set(local.subarray(((r * hs + h) * Lr) * D, ((r * hs + h + 1) * Lr) * D), (h * L + src * Lr) * D);
    }
    return out;
  };
  const headResults = range(0, N).map((r) =>
    attentionForward(gatherHeads('q', Hq, hq, r), gatherHeads('k', Hkv, hkv, r), gatherHeads('v', Hkv, hkv, r), { Hq: hq, Hkv: hkv, L, D }, docIds, opts),
  );
  // inverse all-to-all: rank r gets its token slice of every head back
  const ranks = range(0, N).map((r) => {
    const out = new Float64Array(Hq * Lr * D);
    const lse = new Float64Array(Hq * Lr);
    for (let src = 0; src < N; src++)
      for (let h = 0; h < hq; h++) {
        const H = src * hq + h;
        out.set(headResults[src].out.subarray((h * L + r * Lr) * D, (h * L + (r + 1) * Lr) * D), H * Lr * D);
        lse.set(headResults[src].lse.subarray(h * L + r * Lr, h * L + (r + 1) * Lr), H * Lr);
      }
    return { rows: held[r].rows, out, lse };
  });
  return { ...gather(ranks, Hq, L, D), ranks };
}

/** chunk r and chunk 2N-1-r of a window cut into 2N chunks */
export function zigzagRows(L: number, N: number, r: number): number[] {
  const c = L / (2 * N);
  return [...range(r * c, (r + 1) * c), ...range((2 * N - 1 - r) * c, (2 * N - r) * c)];
}

export function zigzagRingAttention(q: Float64Array, k: Float64Array, v: Float64Array, shape: AttnShape, docIds: ArrayLike<number>, opts: AttnOptions, N: number): ShardedResult {
  const { Hq, Hkv, L, D } = shape;
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`zigzag ring: N must be a positive integer, got ${N}`);
  if (L % (2 * N)) throw new RangeError(`zigzag ring: L (${L}) must be divisible by 2N (${2 * N})`);
  const held = range(0, N).map((r) => {
    const rows = zigzagRows(L, N, r);
    return { rows, q: sliceTokens(q, Hq, L, D, rows), k: sliceTokens(k, Hkv, L, D, rows), v: sliceTokens(v, Hkv, L, D, rows) };
  });
  const n = 2 * (L / (2 * N));
  const pshape = { Hq, Hkv, Lq: n, Lk: n, D };
  // kv[r] = the KV block rank r holds at the current step, with the rows it came from
  let kv = held.map((h) => ({ rows: h.rows, k: h.k, v: h.v }));
  const acc: (AttnResult | undefined)[] = range(0, N).map(() => undefined);
  for (let step = 0; step < N; step++) {
    for (let r = 0; r < N; r++) {
      const part = attentionForwardPartial(held[r].q, kv[r].k, kv[r].v, pshape, held[r].rows, kv[r].rows, docIds, opts);
      acc[r] = acc[r] ? mergeTwo(acc[r]!, part, Hq * n, D) : part;
    }
    kv = range(0, N).map((r) => kv[(r - 1 + N) % N]); // send to the next rank, receive from the previous
  }
  const ranks = range(0, N).map((r) => ({ rows: held[r].rows, out: acc[r]!.out, lse: acc[r]!.lse }));
  return { ...gather(ranks, Hq, L, D), ranks };
}

/** assemble the ranks' rows into the window's [Hq, L, D] out and [Hq, L] lse */
function gather(ranks: { rows: number[]; out: Float64Array; lse: Float64Array }[], Hq: number, L: number, D: number): AttnResult {
  const out = new Float64Array(Hq * L * D);
  const lse = new Float64Array(Hq * L);
  for (const r of ranks) {
    scatterTokens(out, r.out, Hq, L, D, r.rows);
    scatterTokens(lse, r.lse, Hq, L, 1, r.rows);
  }
  return { out, lse };
}

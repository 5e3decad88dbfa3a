// The paper's shift metrics (arXiv 2411.13476 §3, App. B) on a LLaMA-family
// model, and their decomposition by rounding stage.
//
// RoPE promises A_(i+Δ)(j+Δ) = A_ij (Eq. 3). Running the same tokens at positions [Δ, Δ+L)
// for two offsets and comparing the attention of every layer and head measures how far a
// precision path breaks that promise:
//   Eq. 4  D(X, Δ1, Δ2) = Σ_{l,h} Σ_j n_j Σ_i |ATTN_ij(Δ1) − ATTN_ij(Δ2)|,  n_j = 1/(L−j+1)
//          (1-based key column j: column j has L−j+1 causal rows), averaged over sequences;
//          the per-key-token curve keeps j (Fig. 1 middle: the first token dominates).
//   Eq. 5  D_logit = (1/T) Σ_i Σ_{l,h} |A_{i,1}(Δ1) − A_{i,1}(Δ2)|: every query's logit
//          against the FIRST key (logits, since softmax makes lengths incomparable).
// ATTN is the softmax the attention path computes; A the logits as the path computes them
// (scaled by 1/√d, which the paper drops from its notation).

import { attentionLogitColumn, attentionScores, type AttnOptions } from './attention.ts';
import type { Variant } from './masks.ts';
import { modelForward, type ForwardOptions } from './model/forward.ts';
import type { Model } from './model/params.ts';
import { policy } from './model/precision.ts';
import type { RopeStage } from './rope.ts';

/** every rounding stage the decomposition can switch to exact */
export type DriftStage = RopeStage | 'qk';
export const DRIFT_STAGES: readonly DriftStage[] = ['inv_freq', 'angle', 'cos_sin', 'cos_sin_cast', 'mul', 'add', 'qk'];

export interface DriftRun {
  /** the model's precision policy (f64 / f32 / bf16) */
  precision: ForwardOptions['precision'];
  variant?: Variant;
  docIds?: ArrayLike<number>;
  /** RoPE path override (default: the policy's: f64 / f32 / hf) */
  ropePath?: 'f64' | 'f32' | 'hf' | 'paper';
  invFreqDtype?: 'f32' | 'bf16';
  bf16Attention?: 'bf16_eager' | 'bf16_flash';
  /** stages computed exactly (the decomposition switches these) */
  exact?: ReadonlySet<DriftStage>;
}

/** per layer, the attention logits and softmax of every query head ([Hq*L*L] each) */
export interface LayerScores {
  logits: Float64Array;
  probs: Float64Array;
}

/** run the model at positions base + Δ; per layer, q and k after RoPE and the attention options */
function runAt(m: Model, ids: ArrayLike<number>, delta: number, run: DriftRun) {
  const exact = run.exact ?? new Set<DriftStage>();
  const ropeExact = new Set([...exact].filter((s): s is RopeStage => s !== 'qk'));
  const res = modelForward(m, ids, {
    precision: run.precision,
    variant: run.variant,
    docIds: run.docIds,
    positionOffset: delta,
    captureQK: true,
    invFreqDtype: run.invFreqDtype,
    bf16Attention: run.bf16Attention,
    rope: { path: run.ropePath, exactStages: ropeExact },
    exactQK: exact.has('qk'),
    keepActivations: false,
  });
  const cfg = m.config;
  const pol = policy(run.precision, { bf16Attention: run.bf16Attention });
  const opts: AttnOptions = { variant: run.variant ?? 'full', precision: pol.attention, exactQK: exact.has('qk') };
  const shape = { Hq: cfg.numHeads, Hkv: cfg.numKvHeads, L: ids.length, D: cfg.headDim };
  const docIds = run.docIds ?? new Int32Array(ids.length);
  return { qk: res.qk!, opts, shape, docIds };
}

/** every layer's score matrices at positions base + Δ */
export function scoresAt(m: Model, ids: ArrayLike<number>, delta: number, run: DriftRun): LayerScores[] {
  const r = runAt(m, ids, delta, run);
  return r.qk.map(({ q, k }) => attentionScores(q, k, r.shape, r.docIds, r.opts));
}

/** every layer's first-key logits [Hq*L] at positions base + Δ (all Eq. 5 needs) */
export function firstKeyLogitsAt(m: Model, ids: ArrayLike<number>, delta: number, run: DriftRun): Float64Array[] {
  const r = runAt(m, ids, delta, run);
  return r.qk.map(({ q, k }) => attentionLogitColumn(q, k, r.shape, r.docIds, r.opts, 0));
}

export interface ShiftResult {
  /** Eq. 4, averaged over the sequences */
  D: number;
  /** the per-key-token curve: n_j Σ_i |ΔATTN_ij| summed over layers and heads, averaged over sequences [L] */
  perToken: Float64Array;
}

/** Eq. 4 between two sets of score matrices of one sequence (L rows) */
export function shiftDeviationOf(a: LayerScores[], b: LayerScores[], L: number): ShiftResult {
  const perToken = new Float64Array(L);
  for (let l = 0; l < a.length; l++) {
    const pa = a[l].probs;
    const pb = b[l].probs;
    const heads = pa.length / (L * L);
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < L; i++) {
        const row = (h * L + i) * L;
        for (let j = 0; j <= i; j++) perToken[j] += Math.abs(pa[row + j] - pb[row + j]);
      }
  }
  let D = 0;
  for (let j = 0; j < L; j++) {
    perToken[j] /= L - j; // n_j = 1/(L − j + 1) with 1-based j
    D += perToken[j];
  }
  return { D, perToken };
}

/** Eq. 4 averaged over sequences: D(X, Δ1, Δ2) and its per-key-token curve */
export function shiftDeviation(m: Model, seqs: ArrayLike<number>[], delta1: number, delta2: number, run: DriftRun): ShiftResult {
  const L = seqs[0].length;
  const perToken = new Float64Array(L);
  let D = 0;
  for (const ids of seqs) {
    if (ids.length !== L) throw new RangeError(`shiftDeviation: sequences must share one length (${ids.length} ≠ ${L})`);
    const r = shiftDeviationOf(scoresAt(m, ids, delta1, run), scoresAt(m, ids, delta2, run), L);
    D += r.D / seqs.length;
    for (let j = 0; j < L; j++) perToken[j] += r.perToken[j] / seqs.length;
  }
  return { D, perToken };
}

export interface LogitResult {
  /** Eq. 5, averaged over sequences */
  D_logit: number;
  /** (1/T) Σ_i |ΔA_{i,1}| per layer and head [layers*heads], averaged over sequences */
  perLayerHead: Float64Array;
}

/** Eq. 5 between the first-key logits ([Hq*T] per layer) of one sequence at the two offsets */
export function logitDeviationOf(a: Float64Array[], b: Float64Array[], T: number): LogitResult {
  const heads = a[0].length / T;
  const perLayerHead = new Float64Array(a.length * heads);
  let D = 0;
  for (let l = 0; l < a.length; l++)
    for (let h = 0; h < heads; h++) {
      let s = 0;
      for (let i = 0; i < T; i++) {
        const x = a[l][h * T + i];
        const y = b[l][h * T + i];
        if (x === -Infinity && y === -Infinity) continue; // the first key is masked for this row in both
        s += Math.abs(x - y);
      }
      perLayerHead[l * heads + h] = s / T;
      D += s / T;
    }
  return { D_logit: D, perLayerHead };
}

export function logitDeviation(m: Model, seqs: ArrayLike<number>[], delta1: number, delta2: number, run: DriftRun): LogitResult {
  const T = seqs[0].length;
  let D = 0;
  let per: Float64Array | undefined;
  for (const ids of seqs) {
    if (ids.length !== T) throw new RangeError(`logitDeviation: sequences must share one length (${ids.length} ≠ ${T})`);
    const r = logitDeviationOf(firstKeyLogitsAt(m, ids, delta1, run), firstKeyLogitsAt(m, ids, delta2, run), T);
    D += r.D_logit / seqs.length;
    per ??= new Float64Array(r.perLayerHead.length);
    for (let k = 0; k < per.length; k++) per[k] += r.perLayerHead[k] / seqs.length;
  }
  return { D_logit: D, perLayerHead: per! };
}

export interface StageShare {
  stage: DriftStage;
  /** the metric with only this stage exact */
  withoutStage: number;
  /** the metric with every other stage exact (this stage alone rounds) */
  aloneValue: number;
  /** (base − withoutStage) / base: the share this stage removes when made exact */
  share: number;
}
export interface Decomposition {
  metric: 'shift' | 'logit';
  base: number;
  allExact: number;
  stages: StageShare[];
}

/**
 * Each rounding stage's share of the deviation: re-run the metric with the stage switched to
 * exact (and, separately, with it as the only rounded stage). Shares need not add to 1: the
 * stages interact; `allExact` is what remains with every listed stage exact.
 */
export function decompose(
  metric: 'shift' | 'logit',
  m: Model,
  seqs: ArrayLike<number>[],
  delta1: number,
  delta2: number,
  run: DriftRun,
  stages: readonly DriftStage[] = DRIFT_STAGES,
): Decomposition {
  const value = (exact: ReadonlySet<DriftStage>) => {
    const r = { ...run, exact };
    return metric === 'shift' ? shiftDeviation(m, seqs, delta1, delta2, r).D : logitDeviation(m, seqs, delta1, delta2, r).D_logit;
  };
  const base = value(new Set());
  const allExact = value(new Set(stages));
  return {
    metric,
    base,
    allExact,
    stages: stages.map((stage) => {
      const withoutStage = value(new Set([stage]));
      const aloneValue = value(new Set(stages.filter((s) => s !== stage)));
      return { stage, withoutStage, aloneValue, share: base > 0 ? (base - withoutStage) / base : 0 };
    }),
  };
}

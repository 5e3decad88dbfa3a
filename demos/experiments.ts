// Three experiments behind the paper's claims, at toy scale, for the report
// (arXiv 2411.13476). Each returns plain data and Markdown-table lines, is seeded and
// deterministic, and reports progress through onStep(what):
//
//   sinkCurve        does an attention sink form on the first (BOS) token as the tiny model
//                    trains, and does the first token's share of Eq. 4's deviation rise with it?
//                    Snapshots come from ONE training run (train() hooks + its checkpoints).
//   eq5VsT           Eq. 5 D_logit against T for any models, a log-log slope per model with a
//                    computed verdict, and the measured reasons: each RoPE rounding stage's
//                    error against position, and the logit error against the first key by
//                    query position (layer 0 vs later layers, and against |logit|).
//   variantTraining  full / intra_doc / intra_doc_reset / anchor trained in bf16 on the same
//                    packed multi-document data and steps, several seeds; long-context tasks,
//                    losses and Eq. 4 D compared with a stated spread test.
//
// Sizes: EXPERIMENT_SIZES.tiny (tests), .small (the default report), .large (a bigger,
// documented preset). Verdicts are computed (demos/stats.ts), never typed.
//
// Measured (2 shared cores, others busy; CPU seconds ≈ wall on an idle machine):
//   small  sink measurement 3 s (9 snapshots of the report's own 200-step run; the 8
//          extra checkpoints cost ~55 ms each), eq5VsT 6–7 s (3 models, T ≤ 1024),
//          variantTraining 26 s CPU (12 runs of 40 bf16 steps at L = 64, ~2.2 s each):
//          ~36 s CPU for the three, 42 s wall at load 3.
//   large  sink 1000 f32 steps 145 s + measurement 7 s, eq5VsT 92 s (T ≤ 2048, 4 windows),
//          variantTraining 603 s (16 runs of 300 bf16 steps at L = 128): 847 s CPU
//          (~14 min; 23 min wall at load 7).
//   Training the tiny model costs ~100 ms per f32 step at L = 128 and ~40–60 ms per bf16 step
//   at L = 64 (steady state; packing the whole corpus adds ~1–2 s per train() call).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCorpus } from '../data/corpus.ts';
import { makeSample, scoreSample, TASKS, type Task } from '../data/long-context.ts';
import { ByteTokenizer } from '../data/tokenizer.ts';
import { bf16Value } from '../reference/bf16.ts';
import { logitDeviationOf, scoresAt, shiftDeviationOf, type DriftRun, type LayerScores } from '../reference/drift.ts';
import { VARIANTS, type Variant } from '../reference/masks.ts';
import { modelForward } from '../reference/model/forward.ts';
import { policy } from '../reference/model/precision.ts';
import { attentionLogitColumn, attentionScores } from '../reference/attention.ts';
import { randomInitModel, roundModel, type Model } from '../reference/model/params.ts';
import { loadModel } from '../train/model-files.ts';
import { Rng } from '../reference/rng.ts';
import { ropeCosSin, ropeInvFreq, ropeRotate, type RopeConfig } from '../reference/rope.ts';
import { checkpointDir } from '../train/checkpoint.ts';
import { packWindows, train, type TrainHooks, type TrainOptions } from '../train/trainer.ts';
import { tinyPreset } from '../train/presets.ts';
import { driftSequences, RUNS } from './drift.ts';
import { compareSpread, logLogFit, mean, spearman, spread, std, type Spread, type SpreadVerdict } from './stats.ts';
import { packageRoot } from '../io/package-root.ts';
import { fmtSig } from './format.ts';

const BF16_HF: DriftRun = RUNS['bf16 hf'];
type OnStep = (what: string) => void;
const noop: OnStep = () => {};

// ------------------------------------------------------------------ sizes
export interface SinkSize {
  /** training steps and the snapshot interval */
  steps: number;
  every: number;
  /** training window (tinyPreset: 128) */
  L: number;
  /** measurement: nSeqs BOS-first corpus windows of T tokens */
  T: number;
  nSeqs: number;
}
export interface Eq5Size {
  maxT: number;
  nSeqs: number;
}
export interface VariantSize {
  seeds: number;
  steps: number;
  L: number;
  evalLengths: number[];
  tasks: Task[];
  samples: number;
  /** held-out windows for the loss (2L tokens) and for Eq. 4 D (L tokens) */
  evalSeqs: number;
}
export interface ExperimentSize {
  sink: SinkSize;
  eq5: Eq5Size;
  variants: VariantSize;
}

/**
 * tiny: the test's (seconds). small: the default report (the sink curve reuses the report's
 * own 200-step training, so its `steps`/`every` only apply when sinkCurve trains by itself).
 * large: a longer, documented preset (the times measured are in the header of this file).
 */
export const EXPERIMENT_SIZES: Record<'tiny' | 'small' | 'large', ExperimentSize> = {
  tiny: {
    sink: { steps: 4, every: 2, L: 32, T: 32, nSeqs: 2 },
    eq5: { maxT: 128, nSeqs: 1 },
    variants: { seeds: 2, steps: 2, L: 32, evalLengths: [128], tasks: ['passkey'], samples: 1, evalSeqs: 1 },
  },
  small: {
    sink: { steps: 200, every: 25, L: 128, T: 128, nSeqs: 4 },
    eq5: { maxT: 1024, nSeqs: 1 },
    variants: { seeds: 3, steps: 40, L: 64, evalLengths: [128], tasks: ['passkey', 'vartrack'], samples: 2, evalSeqs: 2 },
  },
  large: {
    sink: { steps: 1000, every: 100, L: 128, T: 128, nSeqs: 8 },
    eq5: { maxT: 2048, nSeqs: 4 },
    variants: { seeds: 4, steps: 300, L: 128, evalLengths: [256, 512], tasks: [...TASKS], samples: 6, evalSeqs: 4 },
  },
};

// ------------------------------------------------------------------ shared pieces
const fmt = (x: number) => fmtSig(x);
const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) + '%' : '—');
const pm = (s: Spread, f: (x: number) => string = fmt) => `${f(s.mean)} ± ${f(s.std)}`;

/** the default corpus as training documents (BOS + bytes), as loadDocuments(undefined, 'raw_json', byte tokenizer) gives */
export function corpusDocuments(): number[][] {
  const tok = new ByteTokenizer();
  return defaultCorpus(packageRoot).map((r) => [tok.bos, ...tok.encode(r.text)]);
}

/** a scratch folder for a training run the caller did not give one for; removed by `done` */
function scratch(out: string | undefined): { dir: string; done: () => void } {
  if (out) return { dir: out, done: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-exp-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The first key's attention mass: the mean attention probability on key 0 over query rows
 * 1..L−1 (row 0 has only key 0), heads and layers; the largest head's mean; and the value
 * uniform causal attention would give (mean over the same rows of 1/(i+1)).
 */
export function sinkMass(scores: LayerScores[], L: number): { mass: number; maxHead: number; uniform: number } {
  let total = 0;
  let n = 0;
  let maxHead = 0;
  for (const s of scores) {
    const heads = s.probs.length / (L * L);
    for (let h = 0; h < heads; h++) {
      let hs = 0;
      for (let i = 1; i < L; i++) hs += s.probs[(h * L + i) * L];
      total += hs;
      n += L - 1;
      maxHead = Math.max(maxHead, hs / (L - 1));
    }
  }
  return { mass: n ? total / n : NaN, maxHead, uniform: uniformSinkMass(L) };
}
export function uniformSinkMass(L: number): number {
  let u = 0;
  for (let i = 1; i < L; i++) u += 1 / (i + 1);
  return L > 1 ? u / (L - 1) : NaN;
}

/** column 0 of every layer's logits ([Hq*L] each): what Eq. 5 reads, cut from the full score matrices */
function firstKeyColumns(scores: LayerScores[], L: number): Float64Array[] {
  return scores.map((s) => {
    const heads = s.logits.length / (L * L);
    const col = new Float64Array(heads * L);
    for (let h = 0; h < heads; h++) for (let i = 0; i < L; i++) col[h * L + i] = s.logits[(h * L + i) * L];
    return col;
  });
}

export interface DriftMeasure {
  /** Eq. 4 D (bf16 hf, Δ1 = 0 vs Δ2), mean over sequences */
  D: number;
  /** the first key token's share of Eq. 4's per-token curve (of the mean curve), and its standard error over sequences */
  share: number;
  shareSE: number;
  /** Eq. 5 D_logit at the same offsets and length */
  D_logit: number;
  /** sinkMass at Δ1 (bf16 hf), mean over sequences */
  mass: number;
  maxHeadMass: number;
  uniform: number;
}

/**
 * Eq. 4, the first token's share, Eq. 5 and the sink mass of a model (base weights; run in
 * bf16 on transformers' RoPE path) from ONE pair of score computations per sequence:
 * Eq. 5's first-key logits are column 0 of the same logits (attentionLogitColumn ≡ column 0
 * of attentionScores, test/drift.test.ts).
 */
export function measureDrift(base: Model, seqs: Int32Array[], delta2 = 16, delta1 = 0): DriftMeasure {
  const m = roundModel(base, 'bf16');
  const L = seqs[0].length;
  const per = new Float64Array(L);
  let D = 0;
  let DL = 0;
  let mass = 0;
  let maxHeadMass = 0;
  const shares: number[] = [];
  for (const ids of seqs) {
    const a = scoresAt(m, ids, delta1, BF16_HF);
    const b = scoresAt(m, ids, delta2, BF16_HF);
    const sd = shiftDeviationOf(a, b, L);
    D += sd.D / seqs.length;
    for (let j = 0; j < L; j++) per[j] += sd.perToken[j] / seqs.length;
    const tot = sd.perToken.reduce((x, y) => x + y, 0);
    shares.push(tot > 0 ? sd.perToken[0] / tot : 0);
    DL += logitDeviationOf(firstKeyColumns(a, L), firstKeyColumns(b, L), L).D_logit / seqs.length;
    const sm = sinkMass(a, L);
    mass += sm.mass / seqs.length;
    maxHeadMass += sm.maxHead / seqs.length;
  }
  const total = per.reduce((x, y) => x + y, 0);
  return { D, share: total > 0 ? per[0] / total : 0, shareSE: std(shares) / Math.sqrt(shares.length), D_logit: DL, mass, maxHeadMass, uniform: uniformSinkMass(L) };
}

// ------------------------------------------------------------------ 1. the sink curve
export interface Snapshot {
  step: number;
  model: Model;
}
export interface SnapshotRecorder {
  /** the caller's options with checkpointEvery set to the snapshot interval (nothing else changes: the run's weights are the same) */
  options: TrainOptions;
  /** pass to train() (spread them into the caller's own hooks: onStep is used) */
  hooks: Pick<TrainHooks, 'onStep'>;
  /** step 0 (the run's initialisation) and every `every` steps and the last, filled as train() runs */
  snapshots: Snapshot[];
}

/**
 * Snapshots of ONE training run, no retraining per point: train() calls onStep after each
 * step's checkpoint, and the checkpoint of a snapshot step is read back (f32 masters are
 * stored exactly). Step 0 is the run's own initialisation (randomInitModel with the run's
 * seed, 'transformers' scheme, as train() makes it; a resumed run has no step 0).
 */
export function snapshotRecorder(o: TrainOptions, every: number): SnapshotRecorder {
  if (!Number.isInteger(every) || every < 1) throw new RangeError(`snapshotRecorder: every must be a positive integer, got ${every}`);
  const snapshots: Snapshot[] = [{ step: 0, model: randomInitModel(o.model, o.seed, 'transformers') }];
  return {
    options: { ...o, checkpointEvery: every },
    snapshots,
    hooks: {
      onStep: (step) => {
        if (step % every === 0 || step === o.steps) snapshots.push({ step, model: loadModel(checkpointDir(o.out, step)) });
      },
    },
  };
}

export interface SinkRow extends DriftMeasure {
  step: number;
  /** mean training loss over the steps since the previous snapshot (NaN at step 0) */
  loss: number;
}
export interface SinkResult {
  rows: SinkRow[];
  T: number;
  nSeqs: number;
  /** last snapshot's mass / uniform, and whether it is ≥ SINK_FACTOR */
  massRatio: number;
  sinkForms: boolean;
  /** Spearman ρ of (mass, share) over the snapshots */
  rho: number;
  /** last − first share, and the noise floor 2·√(SE_first² + SE_last²) */
  shareRise: number;
  noise: number;
  shareRises: boolean;
  verdict: string[];
  lines: string[];
}
/** "well above uniform": the last snapshot's first-key mass at least this many times uniform attention's */
export const SINK_FACTOR = 2;
/** the share "rises with the mass": Spearman ρ(mass, share) at least this, and last − first share above the noise floor */
export const SINK_RHO = 0.5;

export interface SinkMeasureOptions {
  seed: number;
  T: number;
  nSeqs: number;
  /** a token stream the windows are cut from (the training corpus), and the first token (BOS) */
  stream?: ArrayLike<number>;
  first?: number;
  delta2?: number;
  onStep?: OnStep;
}

/** measure each snapshot (see measureDrift) and decide, from the numbers, whether a sink forms and the share rises with it */
export function sinkCurveFromSnapshots(snapshots: readonly Snapshot[], losses: readonly number[] | undefined, o: SinkMeasureOptions): SinkResult {
  const onStep = o.onStep ?? noop;
  if (!snapshots.length) throw new RangeError('sinkCurveFromSnapshots: no snapshot');
  const V = snapshots[0].model.config.vocabSize;
  const seqs = driftSequences(V, o.nSeqs, o.T, o.seed, o.stream, o.first);
  const delta2 = o.delta2 ?? 16;
  const rows: SinkRow[] = [];
  let prev = 0;
  for (const s of snapshots) {
    const seg = losses ? losses.slice(prev, s.step) : [];
    rows.push({ step: s.step, loss: seg.length ? mean(seg) : NaN, ...measureDrift(s.model, seqs, delta2) });
    prev = s.step;
    onStep(`sink curve: step ${s.step}`);
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  const massRatio = last.mass / last.uniform;
  const sinkForms = massRatio >= SINK_FACTOR;
  const rho = spearman(rows.map((r) => r.mass), rows.map((r) => r.share));
  const shareRise = last.share - first.share;
  const noise = 2 * Math.hypot(first.shareSE, last.shareSE);
  const shareRises = rho >= SINK_RHO && shareRise > noise;
  const verdict = [
    `Sink: the first key's mean attention mass goes ${fmt(first.mass)} → ${fmt(last.mass)} (uniform causal attention: ${fmt(last.uniform)}; ${massRatio.toFixed(2)}× uniform at step ${last.step}; largest head ${fmt(last.maxHeadMass)}) — ${sinkForms ? `a sink forms (≥ ${SINK_FACTOR}× uniform)` : `no sink by this test (< ${SINK_FACTOR}× uniform)`}.`,
    `Share: the first token's share of Eq. 4 goes ${pct(first.share)} → ${pct(last.share)} (change ${(100 * shareRise).toFixed(1)} points; noise floor ${(100 * noise).toFixed(1)} points = 2·√(SE_first² + SE_last²) over ${o.nSeqs} windows: ${shareRise > noise ? 'a rise' : shareRise < -noise ? 'a fall' : 'no change'} beyond it); Spearman ρ(mass, share) over ${rows.length} snapshots = ${Number.isFinite(rho) ? rho.toFixed(2) : 'n/a'} (${rho >= SINK_RHO ? 'the share moves with the mass' : 'the share does not move with the mass'}) — ${shareRises ? 'the share rises with the sink' : `the share does not rise with the sink by this test (needs ρ ≥ ${SINK_RHO} and a rise above the noise floor)`}.`,
  ];
  const lines = [
    `Attention sink and the first token's share as training proceeds: ${o.nSeqs} BOS-first corpus windows of ${o.T} tokens, bf16 (transformers' RoPE path), Eq. 4 and Eq. 5 at Δ1 = 0 vs Δ2 = ${delta2}`,
    '',
    '| step | train loss | first-key mass | × uniform | largest head | first-token share of Eq. 4 (± SE) | Eq. 4 D | Eq. 5 D_logit |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.step} | ${Number.isFinite(r.loss) ? r.loss.toFixed(3) : '—'} | ${fmt(r.mass)} | ${(r.mass / r.uniform).toFixed(2)} | ${fmt(r.maxHeadMass)} | ${pct(r.share)} ± ${(100 * r.shareSE).toFixed(1)} | ${fmt(r.D)} | ${fmt(r.D_logit)} |`),
    '',
    ...verdict,
  ];
  return { rows, T: o.T, nSeqs: o.nSeqs, massRatio, sinkForms, rho, shareRise, noise, shareRises, verdict, lines };
}

export interface SinkCurveOptions extends Partial<SinkSize> {
  seed: number;
  /** training documents (default: the default corpus) */
  docs?: number[][];
  /** the run folder (default: a scratch folder, removed after) */
  out?: string;
  onStep?: OnStep;
}

/** train the tiny model (anchor/flex, f32, BOS-first windows) with snapshots every `every` steps, and measure them */
export function sinkCurve(o: SinkCurveOptions): SinkResult & { trainSeconds: number } {
  const size = { ...EXPERIMENT_SIZES.small.sink, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k in EXPERIMENT_SIZES.small.sink)) } as SinkSize;
  const onStep = o.onStep ?? noop;
  const docs = o.docs ?? corpusDocuments();
  const dir = scratch(o.out);
  try {
    const base = tinyPreset(dir.dir);
    const rec = snapshotRecorder({ ...base, L: size.L, steps: size.steps, seed: o.seed, warmup: Math.min(base.warmup, Math.max(1, Math.floor(size.steps / 10))) }, size.every);
    const t0 = Date.now();
    const r = train(docs, rec.options, false, { quiet: true, log: () => {}, onStep: (step, loss) => rec.hooks.onStep!(step, loss) });
    const trainSeconds = (Date.now() - t0) / 1000;
    onStep(`sink curve: trained ${size.steps} steps`);
    const res = sinkCurveFromSnapshots(rec.snapshots, r.losses, { seed: o.seed, T: size.T, nSeqs: size.nSeqs, stream: docs.slice(0, 400).flat(), first: base.bos, onStep });
    return { ...res, trainSeconds };
  } finally {
    dir.done();
  }
}

// ------------------------------------------------------------------ 2. Eq. 5 against T
export interface Eq5Model {
  label: string;
  /** base weights (rounded to bf16 here) */
  model: Model;
  /** windows are cut from this stream (else uniform random tokens), token 0 replaced by `first` */
  stream?: ArrayLike<number>;
  first?: number;
}
export interface Eq5Bin {
  from: number;
  to: number;
  /** mean over the bin's query rows of Σ_{l,h} |ΔA_{i,1}|: all layers, layer 0 only, later layers */
  err: number;
  errLayer0: number;
  errLater: number;
  /** mean |A_{i,1}| over layers and heads (at Δ1) */
  absLogit: number;
  /** layer 0's attention-row change Σ_j |P_ij(Δ1) − P_ij(Δ2)|, mean over heads: what layer 1's queries inherit */
  layer0RowChange: number;
}
export interface Eq5Fit {
  label: string;
  T: number[];
  D_logit: number[];
  slope: number;
  se: number;
  verdict: 'grows' | 'flat' | 'shrinks';
  /** per query row i: Σ_{l,h} |ΔA_{i,1}| and mean_{l,h} |A_{i,1}|, mean over sequences [maxT] */
  rowErr: Float64Array;
  rowAbs: Float64Array;
  bins: Eq5Bin[];
  /** Spearman ρ between rowErr and rowAbs over rows 1.. */
  rhoErrAbs: number;
}
export interface RopeStageRow {
  pos: number;
  /** mean over frequencies: |angle_f32 − ω·p| (f32 inv_freq, f32 product) */
  angle: number;
  /** |cos/sin on the f32 path − exact| (mean of the two) */
  trigF32: number;
  /** |bf16(cos/sin) − f32 cos/sin|: the cast transformers' RoPE makes */
  cast: number;
  /** |hf path cos/sin − exact| */
  trigHf: number;
  /** mean |rope_hf(q, p) − rope_exact(q, p)| / mean |q| over random bf16 q */
  qRel: number;
}
export interface Eq5Result {
  models: Eq5Fit[];
  rope: RopeStageRow[];
  threshold: number;
  lines: string[];
}

/** |slope| above this (and above 2 standard errors) is "grows" / "shrinks"; below, "flat". 0.05: ×1.035 per doubling of T */
export const EQ5_SLOPE_THRESHOLD = 0.05;

export function slopeVerdict(slope: number, se: number, threshold = EQ5_SLOPE_THRESHOLD): 'grows' | 'flat' | 'shrinks' {
  const clear = !(Number.isFinite(se) && Math.abs(slope) <= 2 * se);
  if (slope > threshold && clear) return 'grows';
  if (slope < -threshold && clear) return 'shrinks';
  return 'flat';
}

export interface Eq5Options extends Partial<Eq5Size> {
  seed: number;
  minT?: number;
  delta1?: number;
  delta2?: number;
  threshold?: number;
  /** positions of the RoPE stage table (default: 0, 16, 64, … up to 4·maxT) */
  positions?: number[];
  onStep?: OnStep;
}

/**
 * Eq. 5 D_logit at T = minT, 2·minT, … ≤ maxT for each model (bf16, transformers' RoPE path).
 * Causal attention makes the first-key logits of rows i < T the same in a window and in its
 * T-prefix, so ONE pair of forwards at maxT per sequence gives every T:
 * D_logit(T) = (1/T) Σ_{i<T} Σ_{l,h} |A_{i,1}(Δ1) − A_{i,1}(Δ2)| (the test checks it equals
 * logitDeviation on the prefixes). Windows: nSeqs per model, seeded.
 */
export function eq5VsT(models: readonly Eq5Model[], o: Eq5Options): Eq5Result {
  const onStep = o.onStep ?? noop;
  const maxT = o.maxT ?? EXPERIMENT_SIZES.small.eq5.maxT;
  const nSeqs = o.nSeqs ?? EXPERIMENT_SIZES.small.eq5.nSeqs;
  const minT = o.minT ?? 64;
  const d1 = o.delta1 ?? 0;
  const d2 = o.delta2 ?? 16;
  const threshold = o.threshold ?? EQ5_SLOPE_THRESHOLD;
  const lengths: number[] = [];
  for (let t = minT; t <= maxT; t *= 2) lengths.push(t);
  if (lengths.length < 2) throw new RangeError(`eq5VsT: maxT ${maxT} gives fewer than 2 lengths from ${minT}`);
  const fits = models.map((spec) => {
    const m = roundModel(spec.model, 'bf16');
    const seqs = driftSequences(m.config.vocabSize, nSeqs, maxT, o.seed, spec.stream, spec.first);
    const rowErr = new Float64Array(maxT);
    const rowErr0 = new Float64Array(maxT);
    const rowAbs = new Float64Array(maxT);
    const rowTV0 = new Float64Array(maxT);
    for (const ids of seqs) {
      const { a, b, rowChange0 } = firstKeyAndRowChange(m, ids, d1, d2);
      for (let i = 0; i < maxT; i++) rowTV0[i] += rowChange0[i] / seqs.length;
      const heads = a[0].length / maxT;
      for (let l = 0; l < a.length; l++)
        for (let h = 0; h < heads; h++)
          for (let i = 0; i < maxT; i++) {
            const x = a[l][h * maxT + i];
            const y = b[l][h * maxT + i];
            if (x === -Infinity && y === -Infinity) continue;
            const e = Math.abs(x - y) / seqs.length;
            rowErr[i] += e;
            if (l === 0) rowErr0[i] += e;
            rowAbs[i] += Math.abs(x) / (a.length * heads * seqs.length);
          }
    }
    const D_logit = lengths.map((T) => {
      let s = 0;
      for (let i = 0; i < T; i++) s += rowErr[i];
      return s / T;
    });
    const fit = logLogFit(lengths, D_logit);
    const edges = [0, ...lengths];
    const bins: Eq5Bin[] = edges.slice(1).map((to, k) => {
      const from = edges[k];
      let err = 0;
      let err0 = 0;
      let abs = 0;
      let tv = 0;
      for (let i = from; i < to; i++) {
        err += rowErr[i];
        err0 += rowErr0[i];
        abs += rowAbs[i];
        tv += rowTV0[i];
      }
      const n = to - from;
      return { from, to, err: err / n, errLayer0: err0 / n, errLater: (err - err0) / n, absLogit: abs / n, layer0RowChange: tv / n };
    });
    const rhoErrAbs = spearman(Array.from(rowErr.subarray(1)), Array.from(rowAbs.subarray(1)));
    onStep(`Eq. 5 against T: ${spec.label}`);
    return { label: spec.label, T: lengths, D_logit, slope: fit.slope, se: fit.se, verdict: slopeVerdict(fit.slope, fit.se, threshold), rowErr, rowAbs, bins, rhoErrAbs } satisfies Eq5Fit;
  });
  const cfg = models[0].model.config;
  const positions = o.positions ?? [0, 16, 64, 256, 1024, 4096, 16384, 65536].filter((p) => p <= Math.max(4 * maxT, 64));
  const rope = ropeStageErrors(cfg.headDim, cfg.ropeTheta, positions, 64, o.seed);
  onStep('Eq. 5 against T: RoPE stage errors');
  return { models: fits, rope, threshold, lines: eq5Lines(fits, rope, cfg.headDim, cfg.ropeTheta, d1, d2, nSeqs, threshold) };
}

/**
 * One bf16 forward per offset (transformers' RoPE path, eager attention, as scoresAt runs
 * it): every layer's first-key logits [Hq*T] (Eq. 5's column, = firstKeyLogitsAt) and layer
 * 0's per-row change Σ_j |P_ij(Δ1) − P_ij(Δ2)| averaged over heads [T]. Layer 0's score
 * matrices are built one head at a time (T² values each), so long T stays within memory.
 */
export function firstKeyAndRowChange(m: Model, ids: ArrayLike<number>, delta1: number, delta2: number): { a: Float64Array[]; b: Float64Array[]; rowChange0: Float64Array } {
  const cfg = m.config;
  const T = ids.length;
  const D = cfg.headDim;
  const docIds = new Int32Array(T);
  const opts = { variant: 'full' as const, precision: policy('bf16').attention, exactQK: false };
  const shape = { Hq: cfg.numHeads, Hkv: cfg.numKvHeads, L: T, D };
  const run = (delta: number) => modelForward(m, ids, { precision: 'bf16', positionOffset: delta, captureQK: true, rope: { path: BF16_HF.ropePath }, keepActivations: false }).qk!;
  const qa = run(delta1);
  const qb = run(delta2);
  const cols = (qk: typeof qa) => qk.map(({ q, k }) => attentionLogitColumn(q, k, shape, docIds, opts, 0));
  const rowChange0 = new Float64Array(T);
  const group = cfg.numHeads / cfg.numKvHeads;
  const one = { Hq: 1, Hkv: 1, L: T, D };
  const head = (x: Float64Array, h: number) => x.slice(h * T * D, (h + 1) * T * D);
  for (let h = 0; h < cfg.numHeads; h++) {
    const g = Math.floor(h / group);
    const pa = attentionScores(head(qa[0].q, h), head(qa[0].k, g), one, docIds, opts).probs;
    const pb = attentionScores(head(qb[0].q, h), head(qb[0].k, g), one, docIds, opts).probs;
    for (let i = 0; i < T; i++) {
      let tv = 0;
      for (let j = 0; j <= i; j++) tv += Math.abs(pa[i * T + j] - pb[i * T + j]);
      rowChange0[i] += tv / cfg.numHeads;
    }
  }
  return { a: cols(qa), b: cols(qb), rowChange0 };
}

/** each RoPE rounding stage's error at each position (mean over the dim/2 frequencies), and the rotated-q error on the hf path */
export function ropeStageErrors(dim: number, base: number, positions: readonly number[], samples: number, seed: number): RopeStageRow[] {
  const cfg = (path: RopeConfig['path']): RopeConfig => ({ dim, base, path, layout: 'half' });
  const half = dim / 2;
  const invF32 = ropeInvFreq(cfg('f32')).invFreq;
  const invExact = ropeInvFreq(cfg('f64')).invFreq;
  const rng = new Rng(seed);
  const qs = Array.from({ length: samples }, () => Float64Array.from({ length: dim }, () => bf16Value(rng.normal())));
  const qAbs = mean(qs.map((q) => mean(Array.from(q, Math.abs))));
  return positions.map((pos) => {
    const ex = ropeCosSin([pos], cfg('f64'));
    const f32 = ropeCosSin([pos], cfg('f32'));
    const hf = ropeCosSin([pos], cfg('hf'));
    let angle = 0;
    let trigF32 = 0;
    let cast = 0;
    let trigHf = 0;
    for (let i = 0; i < half; i++) {
      angle += Math.abs(Math.fround(invF32[i] * Math.fround(pos)) - invExact[i] * pos) / half;
      trigF32 += (Math.abs(f32.cos[i] - ex.cos[i]) + Math.abs(f32.sin[i] - ex.sin[i])) / (2 * half);
      cast += (Math.abs(hf.cos[i] - f32.cos[i]) + Math.abs(hf.sin[i] - f32.sin[i])) / (2 * half);
      trigHf += (Math.abs(hf.cos[i] - ex.cos[i]) + Math.abs(hf.sin[i] - ex.sin[i])) / (2 * half);
    }
    let qErr = 0;
    for (const q of qs) {
      const a = ropeRotate(q, 1, 1, dim, [pos], cfg('hf'));
      const b = ropeRotate(q, 1, 1, dim, [pos], cfg('f64'));
      for (let j = 0; j < dim; j++) qErr += Math.abs(a[j] - b[j]) / (dim * qs.length);
    }
    return { pos, angle, trigF32, cast, trigHf, qRel: qErr / qAbs };
  });
}

function eq5Lines(fits: Eq5Fit[], rope: RopeStageRow[], dim: number, base: number, d1: number, d2: number, nSeqs: number, threshold: number): string[] {
  const out = [
    `Eq. 5 D_logit against T (bf16, transformers' RoPE path; Δ1 = ${d1} vs Δ2 = ${d2}; ${nSeqs} window${nSeqs === 1 ? '' : 's'} of ${fits[0].T[fits[0].T.length - 1]} tokens per model, each T read from their T-prefixes)`,
    '',
    `| T | ${fits.map((f) => f.label).join(' | ')} |`,
    `|---:|${fits.map(() => '---:').join('|')}|`,
    ...fits[0].T.map((t, i) => `| ${t} | ${fits.map((f) => fmt(f.D_logit[i])).join(' | ')} |`),
    `| log-log slope ± SE | ${fits.map((f) => `${f.slope.toFixed(3)} ± ${Number.isFinite(f.se) ? f.se.toFixed(3) : '—'}`).join(' | ')} |`,
    `| verdict | ${fits.map((f) => f.verdict).join(' | ')} |`,
    '',
    `Verdict rule: "grows" when the slope of ln D_logit on ln T is above ${threshold} (×${(2 ** threshold).toFixed(3)} per doubling of T) and above 2 standard errors; "shrinks" likewise below −${threshold}; otherwise "flat".`,
    '',
    `Each RoPE rounding stage's error against position (head dim ${dim}, base ${base}; mean over the ${dim / 2} frequencies): the f32 angle, f32 cos/sin, the bf16 cast of cos/sin, the hf path's total, and a rotated bf16 q (hf path vs exact, relative to mean |q|)`,
    '',
    '| position | angle error (f32) | cos/sin error, f32 path | bf16 cast of cos/sin | cos/sin error, hf path | rotated q error / mean abs q |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rope.map((r) => `| ${r.pos} | ${fmt(r.angle)} | ${fmt(r.trigF32)} | ${fmt(r.cast)} | ${fmt(r.trigHf)} | ${fmt(r.qRel)} |`),
    '',
    'The logit error against the first key by query position (Σ over layers and heads of |A_i1(Δ1) − A_i1(Δ2)|, mean over the rows of each bin): layer 0 sees only RoPE and logit rounding; later layers add the differences carried in from earlier layers. D_logit(T) is the running mean of this per-row error, so it grows with T exactly when later rows err more.',
    '',
    `| model | query rows | error, all layers | layer 0 | later layers | mean abs A_i1 | layer-0 row change Σ_j abs ΔP_ij |`,
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const f of fits) for (const b of f.bins) out.push(`| ${f.label} | ${b.from}–${b.to - 1} | ${fmt(b.err)} | ${fmt(b.errLayer0)} | ${fmt(b.errLater)} | ${fmt(b.absLogit)} | ${fmt(b.layer0RowChange)} |`);
  out.push('');
  const r0 = rope.find((r) => r.pos > 0) ?? rope[0];
  const rN = rope[rope.length - 1];
  const zero = rope.find((r) => r.pos === 0);
  out.push(
    `RoPE: from position ${r0.pos} to ${rN.pos} the f32 angle error goes ${fmt(r0.angle)} → ${fmt(rN.angle)} (×${(rN.angle / r0.angle).toFixed(0)}), but the hf path's cos/sin error ${fmt(r0.trigHf)} → ${fmt(rN.trigHf)} (×${(rN.trigHf / r0.trigHf).toFixed(2)}; the bf16 cast, ${fmt(r0.cast)} → ${fmt(rN.cast)}, ${rope.every((r) => r.pos === 0 || r.cast >= 0.5 * r.trigHf) ? 'is most of it at every position > 0' : 'is not most of it at every position'}) and the rotated q's relative error ${fmt(r0.qRel)} → ${fmt(rN.qRel)} (×${(rN.qRel / r0.qRel).toFixed(2)}).${zero ? ` At position 0 every error is ${zero.trigHf === 0 && zero.qRel === 0 ? 'exactly 0' : fmt(zero.qRel)} (the anchor's position).` : ''}`,
  );
  for (const f of fits) {
    const b0 = f.bins[0];
    const bN = f.bins[f.bins.length - 1];
    out.push(
      `${f.label}: D_logit ${fmt(f.D_logit[0])} → ${fmt(f.D_logit[f.D_logit.length - 1])} (${f.verdict}); per-row error, rows ${b0.from}–${b0.to - 1} → ${bN.from}–${bN.to - 1}: ${fmt(b0.err)} → ${fmt(bN.err)} (×${(bN.err / b0.err).toFixed(2)}; layer 0 ×${(bN.errLayer0 / b0.errLayer0).toFixed(2)}, later layers ×${(bN.errLater / b0.errLater).toFixed(2)}); mean abs A_i1 ×${(bN.absLogit / b0.absLogit).toFixed(2)}; layer-0 row change ×${(bN.layer0RowChange / b0.layer0RowChange).toFixed(2)}; Spearman ρ(per-row error, abs A_i1) = ${Number.isFinite(f.rhoErrAbs) ? f.rhoErrAbs.toFixed(2) : 'n/a'}.`,
    );
  }
  return out;
}

/** the shipped drift checkpoint (checkpoints/drift_peaked: peaked-attention tiny Llama, vocab 64), or null when it is not there */
export function driftFixtureModel(): Model | null {
  try {
    return loadModel(join(packageRoot, 'checkpoints', 'drift_peaked'));
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ 3. variants trained
export interface VariantDataOptions {
  seed: number;
  /** tokens the short documents must hold in all */
  tokens: number;
  /** short-document body lengths, uniform in [min, max] */
  minLen: number;
  maxLen: number;
  /** documents held out (whole) for evaluation */
  heldOutFraction?: number;
  bos?: number;
}

/**
 * The packed multi-document data: corpus documents (seeded order) cut into short documents
 * of [minLen, maxLen] tokens, BOS first, until `tokens` are gathered; a held-out share of the
 * corpus documents stays whole for evaluation. The corpus' own documents average ~7k bytes,
 * far longer than a toy window, so without cutting a window would hold one document and the
 * variants would hardly differ.
 */
export function shortDocuments(docs: number[][], o: VariantDataOptions): { train: number[][]; heldOut: number[][] } {
  const bos = o.bos ?? new ByteTokenizer().bos;
  const rng = new Rng(o.seed * 31 + 17);
  const order = rng.shuffle(docs.map((_, i) => i));
  const nHeld = Math.max(1, Math.round((o.heldOutFraction ?? 0.1) * docs.length));
  const heldOut = order.slice(0, nHeld).map((i) => docs[i]);
  const train: number[][] = [];
  let have = 0;
  for (const i of order.slice(nHeld)) {
    const body = docs[i][0] === bos ? docs[i].slice(1) : docs[i];
    for (let at = 0; at < body.length && have < o.tokens; ) {
      const n = rng.int(o.minLen, o.maxLen);
      const chunk = body.slice(at, at + n);
      at += n;
      if (chunk.length < 2) continue;
      train.push([bos, ...chunk]);
      have += chunk.length + 1;
    }
    if (have >= o.tokens) break;
  }
  return { train, heldOut };
}

export interface TaskScore {
  task: Task;
  length: number;
  /** mean actual sample length (a prompt longer than `length` is not cut) */
  actualLength: number;
  /** exact match (every answer token the argmax), fraction of samples */
  accuracy: number;
  /** fraction of answer tokens that are the argmax, over all samples */
  tokenAccuracy: number;
}

/** the long-context tasks on one model (bf16 forward, single document, full causal), greedy teacher-forced */
export function scoreTasks(base: Model, tasks: readonly Task[], lengths: readonly number[], samples: number, seed: number): TaskScore[] {
  const m = roundModel(base, 'bf16');
  const tok = new ByteTokenizer();
  const out: TaskScore[] = [];
  for (const task of tasks)
    for (const length of lengths) {
      let right = 0;
      let tokRight = 0;
      let tokAll = 0;
      let len = 0;
      for (let i = 0; i < samples; i++) {
        const s = makeSample(task, length, seed * 1000 + i, tok);
        const f = modelForward(m, s.ids, { precision: 'bf16', keepActivations: false });
        if (scoreSample(s, f.logits, f.V)) right++;
        for (let t = s.answerStart; t < s.ids.length; t++) {
          const o = (t - 1) * f.V;
          let best = 0;
          for (let v = 1; v < f.V; v++) if (f.logits[o + v] > f.logits[o + best]) best = v;
          if (best === s.ids[t]) tokRight++;
          tokAll++;
        }
        len += s.ids.length / samples;
      }
      out.push({ task, length, actualLength: len, accuracy: right / samples, tokenAccuracy: tokRight / tokAll });
    }
  return out;
}

/** mean next-token cross-entropy (nats; bf16 forward, full causal, logits in f64) over positions [0, split) and [split, T−1) */
export function heldOutLoss(base: Model, seqs: Int32Array[], split: number): { inside: number; beyond: number } {
  const m = roundModel(base, 'bf16');
  let a = 0;
  let na = 0;
  let b = 0;
  let nb = 0;
  for (const ids of seqs) {
    const f = modelForward(m, ids, { precision: 'bf16', keepActivations: false });
    for (let t = 0; t + 1 < ids.length; t++) {
      const o = t * f.V;
      let mx = -Infinity;
      for (let v = 0; v < f.V; v++) mx = Math.max(mx, f.logits[o + v]);
      let z = 0;
      for (let v = 0; v < f.V; v++) z += Math.exp(f.logits[o + v] - mx);
      const nll = mx + Math.log(z) - f.logits[o + ids[t + 1]];
      if (t < split) {
        a += nll;
        na++;
      } else {
        b += nll;
        nb++;
      }
    }
  }
  return { inside: na ? a / na : NaN, beyond: nb ? b / nb : NaN };
}

export interface VariantRun {
  variant: Variant;
  seed: number;
  /** mean training loss over the last 10% of steps (each variant under its own mask) */
  trainLoss: number;
  /** held-out documents' first 2L tokens (BOS + text), full causal: loss at positions < L and ≥ L */
  heldLossIn: number;
  heldLossBeyond: number;
  /** Eq. 4 D (bf16 hf, Δ1 = 0 vs 16) and the first token's share, on the same documents' first L tokens */
  D: number;
  share: number;
  tasks: TaskScore[];
  /** the tasks pooled: mean exact-match accuracy and mean answer-token accuracy */
  taskAccuracy: number;
  tokenAccuracy: number;
  seconds: number;
}
export const VARIANT_METRICS = [
  { key: 'trainLoss', label: 'train loss (last 10%)', better: 'lower' },
  { key: 'heldLossIn', label: 'held-out loss, positions < L', better: 'lower' },
  { key: 'heldLossBeyond', label: 'held-out loss, positions L..2L', better: 'lower' },
  { key: 'D', label: 'Eq. 4 D (bf16)', better: 'lower' },
  { key: 'taskAccuracy', label: 'task accuracy (exact match)', better: 'higher' },
  { key: 'tokenAccuracy', label: 'answer-token accuracy', better: 'higher' },
] as const;
export type VariantMetric = (typeof VARIANT_METRICS)[number]['key'];

export interface PairVerdict {
  a: Variant;
  b: Variant;
  metric: VariantMetric;
  a_: Spread;
  b_: Spread;
  v: SpreadVerdict;
}
export interface VariantResult {
  runs: VariantRun[];
  summary: Record<string, Record<VariantMetric, Spread>>;
  pairs: PairVerdict[];
  /** every task accuracy of every run is 0 */
  allTasksZero: boolean;
  size: VariantSize;
  lines: string[];
}

export interface VariantOptions extends Partial<VariantSize> {
  seed: number;
  variants?: readonly Variant[];
  /** comparisons: [a, b] pairs (default anchor vs full, anchor vs intra_doc) */
  pairs?: readonly [Variant, Variant][];
  /** short-document lengths (default [L/8, L/2]) */
  docLen?: [number, number];
  docs?: number[][];
  out?: string;
  onStep?: OnStep;
}

/**
 * The paper's claim at toy scale: the tiny model trained in bf16 with each attention variant
 * (flex layout: anchor = one shared BOS at index 0, position 0; the others a BOS per
 * document) on the SAME short documents, steps, learning rate and model seeds; compared on the
 * long-context tasks, losses and Eq. 4 D. Seeds seed·1000 + s, s = 1..seeds (init and window order).
 */
export function variantTraining(o: VariantOptions): VariantResult {
  const size: VariantSize = { ...EXPERIMENT_SIZES.small.variants, ...(Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k in EXPERIMENT_SIZES.small.variants)) as Partial<VariantSize>) };
  const onStep = o.onStep ?? noop;
  const variants = o.variants ?? VARIANTS;
  const { L, steps } = size;
  const [minLen, maxLen] = o.docLen ?? [Math.max(2, Math.floor(L / 8)), Math.max(3, Math.floor(L / 2))];
  const tok = new ByteTokenizer();
  const corpus = o.docs ?? corpusDocuments();
  // enough short documents for every window of the run, once (+ slack for the BOS copies)
  const data = shortDocuments(corpus, { seed: o.seed, tokens: Math.ceil(steps * (L + 1) * 1.25) + 4 * L, minLen, maxLen, bos: tok.bos });
  // held-out evaluation: the first 2L tokens (BOS + text) of whole held-out documents, as a
  // long single document starts (the long-context tasks' format too); Eq. 4 on their first L
  const long = data.heldOut.filter((d) => d.length >= 2 * L && d[0] === tok.bos).slice(0, size.evalSeqs);
  if (long.length < size.evalSeqs) throw new RangeError(`variantTraining: only ${long.length} held-out documents of ≥ ${2 * L} tokens for evalSeqs ${size.evalSeqs}`);
  const heldLoss = long.map((d) => Int32Array.from(d.slice(0, 2 * L)));
  const heldD = long.map((d) => Int32Array.from(d.slice(0, L)));
  const bosShare = Object.fromEntries(
    variants.map((variant) => {
      const ws = packWindows(data.train, { L, variant, layout: 'flex', bos: tok.bos, seed: o.seed });
      let n = 0;
      for (const w of ws) for (const t of w.inputIds) if (t === tok.bos) n++;
      return [variant, ws.length ? n / (ws.length * L) : NaN];
    }),
  );
  const dir = scratch(o.out);
  const runs: VariantRun[] = [];
  try {
    for (const variant of variants)
      for (let s = 1; s <= size.seeds; s++) {
        const t0 = Date.now();
        const base = tinyPreset(join(dir.dir, `${variant}-${s}`));
        const r = train(data.train, { ...base, precision: 'bf16', L, variant, layout: 'flex', steps, warmup: Math.min(base.warmup, Math.max(1, Math.floor(steps / 10))), checkpointEvery: steps, seed: o.seed * 1000 + s }, false, { quiet: true, log: () => {} });
        const last = r.losses.slice(-Math.max(1, Math.floor(steps / 10)));
        const hl = heldOutLoss(r.model, heldLoss, L);
        const d = measureDrift(r.model, heldD);
        const tasks = scoreTasks(r.model, size.tasks, size.evalLengths, size.samples, o.seed);
        runs.push({
          variant,
          seed: o.seed * 1000 + s,
          trainLoss: mean(last),
          heldLossIn: hl.inside,
          heldLossBeyond: hl.beyond,
          D: d.D,
          share: d.share,
          tasks,
          taskAccuracy: mean(tasks.map((t) => t.accuracy)),
          tokenAccuracy: mean(tasks.map((t) => t.tokenAccuracy)),
          seconds: (Date.now() - t0) / 1000,
        });
        onStep(`variants: ${variant} seed ${s}/${size.seeds}`);
      }
  } finally {
    dir.done();
  }
  return summarizeVariants(runs, size, o.pairs ?? [['anchor', 'full'], ['anchor', 'intra_doc']], { minLen, maxLen, docs: data.train.length, bosShare });
}

/** per-variant spreads, pair verdicts and the tables, from per-seed runs (exported so the verdict logic can be tested on constructed runs) */
export function summarizeVariants(
  runs: readonly VariantRun[],
  size: VariantSize,
  pairs: readonly (readonly [Variant, Variant])[],
  data?: { minLen: number; maxLen: number; docs: number; bosShare?: Record<string, number> },
): VariantResult {
  const variants = [...new Set(runs.map((r) => r.variant))];
  const summary: Record<string, Record<VariantMetric, Spread>> = {};
  for (const v of variants) {
    const rs = runs.filter((r) => r.variant === v);
    summary[v] = Object.fromEntries(VARIANT_METRICS.map((m) => [m.key, spread(rs.map((r) => r[m.key]))])) as Record<VariantMetric, Spread>;
  }
  const pairVerdicts: PairVerdict[] = [];
  for (const [a, b] of pairs) {
    if (!summary[a] || !summary[b]) continue;
    for (const m of VARIANT_METRICS) {
      const va = runs.filter((r) => r.variant === a).map((r) => r[m.key]);
      const vb = runs.filter((r) => r.variant === b).map((r) => r[m.key]);
      pairVerdicts.push({ a, b, metric: m.key, a_: summary[a][m.key], b_: summary[b][m.key], v: compareSpread(va, vb) });
    }
  }
  const allTasksZero = runs.every((r) => r.tasks.every((t) => t.accuracy === 0));
  const taskCols = runs[0]?.tasks.map((t) => `${t.task} @${t.length} (actual ${Math.round(t.actualLength)})`) ?? [];
  const lines = [
    `Attention variants trained in bf16 on the same packed short documents${data ? ` (${data.docs} documents of ${data.minLen}–${data.maxLen} tokens + BOS)` : ''}: tiny LLaMA, L = ${size.L}, ${size.steps} steps, ${size.seeds} seeds each; mean ± std over seeds`,
    '',
    `| variant | ${VARIANT_METRICS.map((m) => m.label).join(' | ')} | ${taskCols.join(' | ')} |`,
    `|---|${VARIANT_METRICS.map(() => '---:').join('|')}|${taskCols.map(() => '---:').join('|')}|`,
  ];
  for (const v of variants) {
    const rs = runs.filter((r) => r.variant === v);
    const taskCells = taskCols.map((_, k) => pm(spread(rs.map((r) => r.tasks[k].accuracy)), (x) => x.toFixed(2)));
    lines.push(`| ${v} | ${VARIANT_METRICS.map((m) => pm(summary[v][m.key])).join(' | ')} | ${taskCells.join(' | ')} |`);
  }
  lines.push(
    '',
    `Pairwise: "larger than seed spread" only when |mean difference| > 2 × pooled std (√((s_a² + s_b²)/2), sample std over seeds) AND the seeds' min–max ranges do not overlap; otherwise "within seed spread".`,
    '',
    '| comparison | metric | first: mean (min–max) | second: mean (min–max) | difference | 2 × pooled std | verdict |',
    '|---|---|---:|---:|---:|---:|---|',
  );
  for (const p of pairVerdicts) {
    const label = VARIANT_METRICS.find((m) => m.key === p.metric)!;
    const better = p.v.larger ? ` (${p.a} ${(label.better === 'lower') === p.v.diff < 0 ? 'better' : 'worse'})` : '';
    lines.push(`| ${p.a} vs ${p.b} | ${label.label} | ${fmt(p.a_.mean)} (${fmt(p.a_.min)}–${fmt(p.a_.max)}) | ${fmt(p.b_.mean)} (${fmt(p.b_.min)}–${fmt(p.b_.max)}) | ${fmt(p.v.diff)} | ${fmt(2 * p.v.pooledStd)} | ${p.v.text}${better} |`);
  }
  lines.push('');
  const bs = data?.bosShare;
  if (bs)
    lines.push(
      `BOS share of the training inputs (the same text, packed per variant): ${Object.entries(bs).map(([v, x]) => `${v} ${pct(x)}`).join(', ')} — the anchor variant keeps one shared BOS per window where the others put one in front of every document${bs.anchor !== undefined && bs.full !== undefined ? `, so it trains on ${(100 * ((1 - bs.anchor) / (1 - bs.full) - 1)).toFixed(1)}% more text tokens per step than full` : ''}.`,
    );
  if (allTasksZero) lines.push(`Every run scores 0 on every task sample: the toy models solve none, so the tasks do not separate the variants here; the losses and D carry the comparison.`);
  const larger = pairVerdicts.filter((p) => p.v.larger);
  lines.push(
    larger.length
      ? `Differences larger than the seed spread: ${larger.map((p) => `${p.a} vs ${p.b} on ${VARIANT_METRICS.find((m) => m.key === p.metric)!.label}`).join('; ')}.`
      : 'No difference between the compared variants is larger than the seed spread at this size.',
  );
  return { runs: [...runs], summary, pairs: pairVerdicts, allTasksZero, size, lines };
}

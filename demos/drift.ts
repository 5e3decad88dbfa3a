// The paper's precision experiments, runnable on any LLaMA-family model: Eq. 4 against Δ1
// (Fig. 1 left), the per-key-token curve (Fig. 1 middle), Eq. 5 against length (Fig. 1
// right), the first key's RoPE logit error per side (why the anchor helps), and the
// decomposition by rounding stage. Shared by `anchor-oracle drift` and the report.

import { join } from 'node:path';
import { writeFileAtomic } from '../io/lines.ts';
import { linePlot, type PanelSpec, type Series } from '../io/svg-plot.ts';
import { decompose, logitDeviation, shiftDeviation, type Decomposition, type DriftRun, type DriftStage, DRIFT_STAGES } from '../reference/drift.ts';
import { roundModel, type Model } from '../reference/model/params.ts';
import { Rng } from '../reference/rng.ts';
import { bf16Value } from '../reference/bf16.ts';
import { ropeRotate, type RopeConfig, type RopePath } from '../reference/rope.ts';
import { fmtSig } from './format.ts';

/** the paper's Fig. 1 left offsets (Δ2 = 16) */
export const PAPER_DELTA1 = [0, 2, 4, 6, 8, 10, 12, 14, 15, 17, 18, 20, 22, 50, 100, 200, 500, 1000, 2000];

/** named runs: the RoPE / attention paths the paper contrasts */
export const RUNS: Record<string, DriftRun> = {
  'f64': { precision: 'f64' },
  'f32': { precision: 'f32' },
  'bf16 hf': { precision: 'bf16', ropePath: 'hf' },
  'bf16 paper': { precision: 'bf16', ropePath: 'paper' },
  'bf16 hf, bf16 inv_freq': { precision: 'bf16', ropePath: 'hf', invFreqDtype: 'bf16' },
};

/** a model's parameters rounded to each precision's weight dtype, built once per precision */
export class ModelAtPrecisions {
  private cache = new Map<string, Model>();
  constructor(readonly base: Model) {}
  get(precision: DriftRun['precision']): Model {
    let m = this.cache.get(precision);
    if (!m) {
      m = roundModel(this.base, precision);
      this.cache.set(precision, m);
    }
    return m;
  }
}

/**
 * N seeded token sequences of length T: uniform over the vocabulary, or windows cut from a token
 * stream; `first` (e.g. BOS, the anchor) replaces token 0, as in a real training window.
 */
export function driftSequences(V: number, n: number, T: number, seed: number, stream?: ArrayLike<number>, first?: number): Int32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    let s: Int32Array;
    if (stream && stream.length > T) {
      const start = rng.int(0, stream.length - T - 1);
      s = Int32Array.from({ length: T }, (_, i) => stream[start + i]);
    } else s = Int32Array.from({ length: T }, () => rng.int(0, V - 1));
    if (first !== undefined) s[0] = first;
    return s;
  });
}

export interface ShiftCurve {
  label: string;
  delta1: number[];
  D: number[];
  /** per-key-token curve at the first Δ1 */
  perToken: Float64Array;
}

export function shiftCurves(m: ModelAtPrecisions, seqs: Int32Array[], delta1: number[], delta2: number, runs: Record<string, DriftRun>, onStep?: () => void): ShiftCurve[] {
  return Object.entries(runs).map(([label, run]) => {
    const model = m.get(run.precision);
    const D: number[] = [];
    let perToken: Float64Array = new Float64Array(0);
    delta1.forEach((d1, i) => {
      const r = shiftDeviation(model, seqs, d1, delta2, run);
      D.push(r.D);
      if (i === 0) perToken = r.perToken;
      onStep?.();
    });
    return { label, delta1, D, perToken };
  });
}

export interface LogitCurve {
  label: string;
  T: number[];
  D_logit: number[];
}

export function logitCurves(m: ModelAtPrecisions, lengths: number[], nSeqs: number, seed: number, delta1: number, delta2: number, runs: Record<string, DriftRun>, stream?: ArrayLike<number>, onStep?: () => void, first?: number): LogitCurve[] {
  const V = m.base.config.vocabSize;
  return Object.entries(runs).map(([label, run]) => {
    const model = m.get(run.precision);
    const D_logit = lengths.map((T) => {
      const r = logitDeviation(model, driftSequences(V, nSeqs, T, seed, stream, first), delta1, delta2, run);
      onStep?.();
      return r.D_logit;
    });
    return { label, T: lengths, D_logit };
  });
}

export function decompositionOf(m: ModelAtPrecisions, metric: 'shift' | 'logit', seqs: Int32Array[], delta1: number, delta2: number, run: DriftRun, stages: readonly DriftStage[] = DRIFT_STAGES): Decomposition {
  return decompose(metric, m.get(run.precision), seqs, delta1, delta2, run, stages);
}

// ------------------------------------------------------------------ presentation
const fmt = (x: number) => fmtSig(x);

export function shiftTable(curves: ShiftCurve[], delta2: number): string[] {
  const out = [`Eq. 4  D(X, Δ1, Δ2 = ${delta2}) — attention-score deviation summed over layers and heads, mean over sequences`, ''];
  out.push(`| Δ1 | ${curves.map((c) => c.label).join(' | ')} |`, `|---:|${curves.map(() => '---:').join('|')}|`);
  curves[0].delta1.forEach((d, i) => out.push(`| ${d} | ${curves.map((c) => fmt(c.D[i])).join(' | ')} |`));
  return out;
}

export function perTokenTable(curves: ShiftCurve[], delta2: number, show = 8): string[] {
  const d1 = curves[0].delta1[0];
  const out = [`Per key token (Fig. 1 middle), Δ1 = ${d1} vs Δ2 = ${delta2}: n_j Σ_i |ΔATTN_ij|; share of the first token`, ''];
  out.push(`| run | first token | tokens 2..${show} | share of first token |`, '|---|---:|---:|---:|');
  for (const c of curves) {
    const total = c.perToken.reduce((a, b) => a + b, 0);
    const rest = Array.from(c.perToken.slice(1, show)).map(fmt).join(', ');
    out.push(`| ${c.label} | ${fmt(c.perToken[0])} | ${rest} | ${total > 0 ? ((100 * c.perToken[0]) / total).toFixed(1) + '%' : '—'} |`);
  }
  return out;
}

export function logitTable(curves: LogitCurve[], delta1: number, delta2: number): string[] {
  const out = [`Eq. 5  D_logit(T), Δ1 = ${delta1} vs Δ2 = ${delta2}: mean |logit(query i, first key)| change, summed over layers and heads`, ''];
  out.push(`| T | ${curves.map((c) => c.label).join(' | ')} |`, `|---:|${curves.map(() => '---:').join('|')}|`);
  curves[0].T.forEach((t, i) => out.push(`| ${t} | ${curves.map((c) => fmt(c.D_logit[i])).join(' | ')} |`));
  return out;
}

export function decompositionTable(d: Decomposition, label: string): string[] {
  const out = [
    `Decomposition of ${d.metric === 'shift' ? 'Eq. 4 D' : 'Eq. 5 D_logit'} (${label}) by rounding stage: each stage re-run exact`,
    '',
    '| stage | metric with this stage exact | share removed | metric with only this stage rounded |',
    '|---|---:|---:|---:|',
    `| (none exact: the path as it runs) | ${fmt(d.base)} | — | — |`,
  ];
  for (const s of d.stages) out.push(`| ${s.stage} | ${fmt(s.withoutStage)} | ${(100 * s.share).toFixed(1)}% | ${fmt(s.aloneValue)} |`);
  out.push(`| (all listed stages exact) | ${fmt(d.allExact)} | ${d.base > 0 ? (100 * (1 - d.allExact / d.base)).toFixed(1) + '%' : '—'} | — |`);
  return out;
}

/**
 * The drift plots' panels: the bf16 paths (D around 1e-2) and f64 / f32 (1e-16 … 1e-5) each on
 * their own axes, so neither group is squeezed against the other on one log scale.
 */
export const PRECISION_PANELS: PanelSpec[] = [{ title: 'bf16 paths', select: /bf16/ }, { title: 'f64 / f32' }];

/** write the Eq. 4, per-token and Eq. 5 plots into dir; returns the file names */
export function writeDriftPlots(dir: string, prefix: string, shift?: ShiftCurve[], logit?: LogitCurve[], delta2 = 16): string[] {
  const files: string[] = [];
  const save = (name: string, svg: string) => {
    writeFileAtomic(join(dir, name), svg);
    files.push(name);
  };
  if (shift) {
    // log-x as the paper's Fig. 1 left: Δ1 = 0 is drawn at 0.5 so it appears on the axis
    const series: Series[] = shift.map((c) => ({ name: c.label, x: c.delta1.map((d) => (d === 0 ? 0.5 : d)), y: c.D, markers: true }));
    save(`${prefix}-eq4-shift.svg`, linePlot(series, { title: `Eq. 4: D(X, Δ1, Δ2=${delta2}) (Δ1 = 0 drawn at 0.5)`, xLabel: 'Δ1', yLabel: 'D', logX: true, logY: true, panels: PRECISION_PANELS }));
    const pt: Series[] = shift.map((c) => ({ name: c.label, x: Array.from(c.perToken, (_, j) => j + 1), y: Array.from(c.perToken) }));
    save(`${prefix}-per-token.svg`, linePlot(pt, { title: `Per key token, Δ1 = ${shift[0].delta1[0]} vs Δ2 = ${delta2}`, xLabel: 'key token j (1 = first)', yLabel: 'n_j Σ_i |ΔATTN_ij|', logX: true, logY: true, panels: PRECISION_PANELS }));
  }
  if (logit) {
    const series: Series[] = logit.map((c) => ({ name: c.label, x: c.T, y: c.D_logit, markers: true }));
    save(`${prefix}-eq5-logit.svg`, linePlot(series, { title: 'Eq. 5: D_logit against length T', xLabel: 'T', yLabel: 'D_logit', logX: true, logY: true, panels: PRECISION_PANELS }));
  }
  return files;
}

// ------------------------------------------------------------------ why the anchor helps
export interface AnchorKeyRow {
  delta: number;
  /** mean |A_path − A_exact| of (query at Δ + r, key at Δ): full attention's first key */
  full: { total: number; querySide: number; keySide: number };
  /** the same query, key at position 0: the anchor (rotated by the identity: cos 1, sin 0) */
  anchor: { total: number; querySide: number; keySide: number };
}

/**
 * The first key's RoPE logit error, split by side. Random bf16 q and k (one head of width D)
 * are rotated on `path` and exactly (f64); the logit q·k is taken in f64 so only RoPE rounding
 * shows. Full attention's first key sits at Δ; AnchorAttention's anchor stays at position 0,
 * whose rotation is the identity on every path, so its key side is exactly 0 and only the
 * query side is left.
 */
export function anchorKeyExperiment(opts: { base: number; D: number; deltas: number[]; distances: number[]; samples: number; seed: number; path?: RopePath }): AnchorKeyRow[] {
  const { base, D, samples } = opts;
  const path = opts.path ?? 'hf';
  const rng = new Rng(opts.seed);
  const cfg = (p: RopePath): RopeConfig => ({ dim: D, base, path: p, layout: 'half' });
  const rotate = (x: Float64Array, pos: number, p: RopePath) => ropeRotate(x, 1, 1, D, [pos], cfg(p));
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
  const vec = () => Float64Array.from({ length: D }, () => bf16Value(rng.normal()));
  return opts.deltas.map((delta) => {
    const acc = { full: { total: 0, querySide: 0, keySide: 0 }, anchor: { total: 0, querySide: 0, keySide: 0 } };
    let n = 0;
    for (let s = 0; s < samples; s++) {
      const q = vec();
      const k = vec();
      for (const r of opts.distances) {
        const qPos = delta + r;
        const qP = rotate(q, qPos, path);
        const qX = rotate(q, qPos, 'f64');
        for (const [which, kPos] of [['full', delta], ['anchor', 0]] as const) {
          const kP = rotate(k, kPos, path);
          const kX = rotate(k, kPos, 'f64');
          const exact = dot(qX, kX);
          acc[which].total += Math.abs(dot(qP, kP) - exact);
          acc[which].querySide += Math.abs(dot(qP, kX) - exact);
          acc[which].keySide += Math.abs(dot(qX, kP) - exact);
        }
        n++;
      }
    }
    for (const w of ['full', 'anchor'] as const) for (const k of ['total', 'querySide', 'keySide'] as const) acc[w][k] /= n;
    return { delta, ...acc };
  });
}

export function anchorKeyTable(rows: AnchorKeyRow[], base: number, path: string): string[] {
  const out = [
    `The first key's RoPE logit error (${path} path, base ${base}): mean |A_path − A_exact| over queries at distance r from the first token`,
    '',
    '| Δ (first key of full attention at Δ) | full: total | full: query side | full: key side | anchor: total | anchor: key side | anchor / full |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows)
    out.push(`| ${r.delta} | ${fmt(r.full.total)} | ${fmt(r.full.querySide)} | ${fmt(r.full.keySide)} | ${fmt(r.anchor.total)} | ${fmt(r.anchor.keySide)} | ${(r.anchor.total / r.full.total).toFixed(3)} |`);
  return out;
}

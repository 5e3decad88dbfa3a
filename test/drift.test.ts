// The paper's shift metrics (reference/drift.ts): the f64 path is shift-invariant to rounding
// noise, f32 ≪ bf16, bf16 grows with Δ, a key at position 0 carries no RoPE error on any path,
// and the decomposition's shares come from real re-runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { anchorKeyExperiment, driftSequences, ModelAtPrecisions, PAPER_DELTA1, RUNS } from '../demos/drift.ts';
import { tinyPreset } from '../train/presets.ts';
import { decompose, logitDeviation, logitDeviationOf, shiftDeviation, shiftDeviationOf } from '../reference/drift.ts';
import { randomInitModel } from '../reference/model/params.ts';
import { ropeApply, ropeCosSin, ROPE_PATHS, ROPE_LAYOUTS } from '../reference/rope.ts';
import { bf16Value } from '../reference/bf16.ts';
import { Rng } from '../reference/rng.ts';
import { attentionLogitColumn, attentionScores } from '../reference/attention.ts';

const config = tinyPreset('unused').model;
const m = new ModelAtPrecisions(randomInitModel(config, 3));
const T = 32;
const seqs = driftSequences(config.vocabSize, 2, T, 7);

test('attentionLogitColumn is column 0 of attentionScores on every path', () => {
  const rng = new Rng(8);
  const shape = { Hq: 4, Hkv: 2, L: 9, D: 8 };
  const q = Float64Array.from({ length: 4 * 9 * 8 }, () => rng.normal());
  const k = Float64Array.from({ length: 2 * 9 * 8 }, () => rng.normal());
  const ids = Int32Array.from([0, 1, 1, 1, 2, 2, 2, 2, 2]);
  for (const precision of ['f64', 'f32', 'bf16_flash', 'bf16_eager'] as const)
    for (const variant of ['full', 'intra_doc', 'anchor'] as const)
      for (const exactQK of [false, true]) {
        const opts = { variant, precision, exactQK };
        const full = attentionScores(q, k, shape, ids, opts).logits;
        const col = attentionLogitColumn(q, k, shape, ids, opts, 0);
        for (let h = 0; h < 4; h++) for (let i = 0; i < 9; i++) assert.is(col[h * 9 + i], full[(h * 9 + i) * 9], `${precision} ${variant} ${exactQK}`);
      }
});

test('Eq. 4 / Eq. 5 by hand on a 3-token, 1-layer, 1-head example', () => {
  const P = (rows: number[][]) => ({ logits: Float64Array.from(rows.flat().map((x) => Math.log(x || 1e-300))), probs: Float64Array.from(rows.flat()) });
  const a = [P([[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]])];
  const b = [P([[1, 0, 0], [0.4, 0.6, 0], [0.2, 0.2, 0.6]])];
  const r = shiftDeviationOf(a, b, 3);
  // column 1: (0 + 0.1 + 0)/3; column 2: (0.1 + 0.1)/2; column 3: 0.1/1
  assert.ok(Math.abs(r.perToken[0] - 0.1 / 3) < 1e-15 && Math.abs(r.perToken[1] - 0.1) < 1e-15 && Math.abs(r.perToken[2] - 0.1) < 1e-15);
  assert.ok(Math.abs(r.D - (0.1 / 3 + 0.2)) < 1e-15);
  const l = logitDeviationOf(a.map((x) => x.logits.filter((_, k) => k % 3 === 0)), b.map((x) => x.logits.filter((_, k) => k % 3 === 0)), 3);
  // first-key logits: log 1, log .5 vs log .4, log .2 vs log .2 → (0 + |ln .5 − ln .4| + 0)/3
  assert.ok(Math.abs(l.D_logit - Math.abs(Math.log(0.5) - Math.log(0.4)) / 3) < 1e-15);
});

test('f64 path: D is at f64 rounding-noise level for every Δ1 of the paper (bound 1e-9, SPEC.md)', () => {
  for (const d1 of PAPER_DELTA1) {
    const D = shiftDeviation(m.get('f64'), seqs, d1, 16, RUNS.f64).D;
    assert.ok(D < 1e-9, `Δ1 = ${d1}: D = ${D}`);
  }
  const L = logitDeviation(m.get('f64'), seqs, 0, 16, RUNS.f64).D_logit;
  assert.ok(L < 1e-9, `D_logit ${L}`);
});

test('f32 ≪ bf16 (hf) on the same inputs; bf16 D grows with Δ', () => {
  const f32 = shiftDeviation(m.get('f32'), seqs, 0, 16, RUNS.f32).D;
  const bf = shiftDeviation(m.get('bf16'), seqs, 0, 16, RUNS['bf16 hf']).D;
  assert.ok(f32 * 1000 < bf, `f32 ${f32} vs bf16 ${bf}`);
  const at = (d: number) => shiftDeviation(m.get('bf16'), seqs, d, 16, RUNS['bf16 hf']).D;
  const near = (at(0) + at(4)) / 2;
  const far = (at(1_000_000) + at(4_000_000)) / 2;
  assert.ok(far > 1.5 * near, `near ${near} far ${far}`);
  // and the f32 path grows with Δ too (angle rounding grows with the position)
  assert.ok(shiftDeviation(m.get('f32'), seqs, 100_000, 16, RUNS.f32).D > 10 * f32);
});

test('a key at position 0 is rotated exactly on every path and layout (cos 1, sin 0): bit for bit', () => {
  const rng = new Rng(5);
  for (const path of ROPE_PATHS)
    for (const layout of ROPE_LAYOUTS) {
      const cfg = { dim: 64, base: 10000, path, layout };
      const { cos, sin } = ropeCosSin([0], cfg);
      assert.ok(cos.every((c) => c === 1) && sin.every((s) => s === 0), `${path}/${layout}`);
      const x = Float64Array.from({ length: 64 }, () => bf16Value(rng.normal()));
      const y = ropeApply(x, 1, 1, 64, cos, sin, cfg);
      assert.ok(y.every((v, i) => Object.is(v, x[i])), `${path}/${layout}: R(0)x ≠ x`);
    }
});

test("the anchor's key side carries no RoPE error; what is left is the query side, below full attention's", () => {
  const rows = anchorKeyExperiment({ base: 10000, D: 64, deltas: [16, 4096], distances: [1, 50, 500], samples: 6, seed: 2 });
  for (const r of rows) {
    assert.is(r.anchor.keySide, 0);
    assert.ok(r.full.keySide > 0);
    assert.ok(r.anchor.total < r.full.total, `Δ ${r.delta}: anchor ${r.anchor.total} full ${r.full.total}`);
  }
});

test('decomposition: each share comes from a re-run; making a stage exact moves the metric', () => {
  const d = decompose('shift', m.get('bf16'), seqs.slice(0, 1), 0, 16, RUNS['bf16 hf'], ['cos_sin_cast', 'mul', 'add', 'qk']);
  assert.ok(d.base > 0);
  const cast = d.stages.find((s) => s.stage === 'cos_sin_cast')!;
  assert.ok(cast.withoutStage !== d.base, 'the cos/sin cast stage changes D');
  // with every stage exact the rotated logits are shift-invariant up to f64 noise, far below
  // the f32 softmax / bf16 P resolution: the deviation is (almost surely exactly) gone
  assert.ok(d.allExact < d.base / 1000, `all exact ${d.allExact} vs base ${d.base}`);
  const alone = d.stages.find((s) => s.stage === 'mul')!;
  assert.ok(alone.aloneValue > 0, 'the bf16 products alone break the shift property');
  for (const s of d.stages) assert.ok(Number.isFinite(s.share));
});

test.run();

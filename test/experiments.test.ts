// The report's experiments (demos/experiments.ts) at tiny sizes: the verdict logic on
// constructed numbers (a difference inside the seed spread is never called larger; a slope
// verdict needs its threshold and its standard error), the sink mass of hand-built attention,
// Eq. 5 from one long window's prefixes equal to Eq. 5 on the prefixes themselves, snapshots
// of one training run equal to the run's own weights, and determinism (same seed → same numbers).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tinyPreset } from '../train/presets.ts';
import {
  corpusDocuments,
  driftFixtureModel,
  eq5VsT,
  firstKeyAndRowChange,
  EXPERIMENT_SIZES,
  measureDrift,
  shortDocuments,
  sinkCurve,
  sinkCurveFromSnapshots,
  sinkMass,
  slopeVerdict,
  snapshotRecorder,
  summarizeVariants,
  uniformSinkMass,
  variantTraining,
  type VariantRun,
} from '../demos/experiments.ts';
import { driftSequences, RUNS } from '../demos/drift.ts';
import { compareSpread, logLogFit, spearman, std } from '../demos/stats.ts';
import { firstKeyLogitsAt, logitDeviation, scoresAt, type LayerScores } from '../reference/drift.ts';
import { randomInitModel, roundModel, type Model } from '../reference/model/params.ts';
import { train } from '../train/trainer.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const config = tinyPreset('unused').model;
const docs = corpusDocuments().slice(0, 12);
const sameModel = (a: Model, b: Model) => [...a.params].every(([k, v]) => { const w = b.params.get(k)!; return v.length === w.length && v.every((x, i) => Object.is(x, w[i])); });

// ------------------------------------------------------------------ verdict logic on constructed numbers
test('compareSpread: identical groups are within the seed spread; clearly separated groups are larger', () => {
  const a = [1.0, 1.1, 0.9];
  assert.is(compareSpread(a, [...a]).larger, false);
  assert.is(compareSpread(a, [...a]).text, 'within seed spread');
  assert.is(compareSpread([0, 0, 0], [0, 0, 0]).larger, false, 'all-zero accuracies are not a difference');
  const far = compareSpread([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]);
  assert.is(far.larger, true);
  assert.is(far.text, 'larger than seed spread');
  assert.ok(Math.abs(far.diff + 1) < 1e-12);
});

test('compareSpread: a mean difference the spread covers is not larger, even when the means differ', () => {
  // means 1.0 vs 1.3, but each seed varies by ±0.5: |Δ| = 0.3 < 2·pooled std
  const v = compareSpread([0.5, 1.0, 1.5], [0.8, 1.3, 1.8]);
  assert.ok(v.diff < 0 && Math.abs(v.diff) > 0.29);
  assert.is(v.larger, false);
  // both conditions: |Δ| > 2·pooled std with apart ranges is larger; one seed reaching into the other range is not
  const p = compareSpread([0, 0.01, 0.02, 0.03, 0.04, 1.05], [1.1, 1.1, 1.1, 1.1, 1.1, 1.1]);
  assert.ok(Math.abs(p.diff) > 2 * p.pooledStd, 'the mean test alone would call it');
  assert.is(p.rangesOverlap, false);
  assert.is(p.larger, true);
  const q = compareSpread([0, 0.01, 0.02, 0.03, 0.04, 1.2], [1.1, 1.1, 1.1, 1.1, 1.1, 1.1]);
  assert.ok(Math.abs(q.diff) > 2 * q.pooledStd && q.rangesOverlap);
  assert.is(q.larger, false, 'overlapping ranges are within the spread');
});

test('compareSpread: one seed has no spread to compare with', () => {
  const v = compareSpread([1], [5]);
  assert.is(v.larger, false);
  assert.match(v.text, /^n\/a/);
});

test('stats: std, Spearman (ties averaged), log-log slope', () => {
  assert.ok(Math.abs(std([1, 2, 3, 4]) - Math.sqrt(5 / 3)) < 1e-12);
  assert.is(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.is(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  assert.ok(Math.abs(spearman([1, 2, 3], [1, 1, 2]) - Math.sqrt(3) / 2) < 1e-12);
  assert.ok(Number.isNaN(spearman([1, 2, 3], [5, 5, 5])));
  const x = [64, 128, 256, 512, 1024];
  const f = logLogFit(x, x.map((t) => 3 * t ** 0.25));
  assert.ok(Math.abs(f.slope - 0.25) < 1e-12 && f.se < 1e-12);
});

test('slopeVerdict: the threshold and 2 standard errors both decide', () => {
  assert.is(slopeVerdict(0.2, 0.01), 'grows');
  assert.is(slopeVerdict(0.02, 0.001), 'flat', 'below the threshold');
  assert.is(slopeVerdict(0.2, 0.15), 'flat', 'inside 2 standard errors');
  assert.is(slopeVerdict(-0.2, 0.01), 'shrinks');
  assert.is(slopeVerdict(0.2, NaN), 'grows', 'two points: no standard error, the threshold alone');
});

test('summarizeVariants: verdicts come from the per-seed numbers', () => {
  const run = (variant: 'anchor' | 'full' | 'intra_doc', seed: number, loss: number): VariantRun => ({
    variant, seed, trainLoss: loss, heldLossIn: loss, heldLossBeyond: loss, D: 0.01, share: 0.1,
    tasks: [{ task: 'passkey', length: 128, actualLength: 128, accuracy: 0, tokenAccuracy: 0 }], taskAccuracy: 0, tokenAccuracy: 0, seconds: 0,
  });
  const size = EXPERIMENT_SIZES.tiny.variants;
  // anchor and full: means 3.0 vs 3.033, inside the seeds' spread; intra_doc: clearly higher
  const runs = [run('anchor', 1, 3.0), run('anchor', 2, 3.1), run('anchor', 3, 2.9), run('full', 1, 3.1), run('full', 2, 2.95), run('full', 3, 3.05), run('intra_doc', 1, 4.0), run('intra_doc', 2, 4.1), run('intra_doc', 3, 3.9)];
  const r = summarizeVariants(runs, size, [['anchor', 'full'], ['anchor', 'intra_doc']]);
  const get = (b: string, m: string) => r.pairs.find((p) => p.b === b && p.metric === m)!.v;
  assert.is(get('full', 'trainLoss').larger, false);
  assert.is(get('intra_doc', 'trainLoss').larger, true);
  assert.is(get('intra_doc', 'D').larger, false, 'equal D everywhere');
  assert.is(r.allTasksZero, true);
  assert.ok(r.lines.some((l) => /^\| anchor vs intra_doc \| train loss .*larger than seed spread \(anchor better\) \|$/.test(l)));
  assert.ok(r.lines.some((l) => /^\| anchor vs full \| train loss .*within seed spread \|$/.test(l)));
  assert.ok(r.lines.some((l) => l.startsWith('Every run scores 0')));
  assert.ok(r.lines.includes('|---|---|---:|---:|---:|---:|---|'));
});

// ------------------------------------------------------------------ the sink mass
test('sinkMass: the mean attention on key 0 over rows 1.., heads and layers, against uniform attention', () => {
  const L = 4;
  // one layer, two heads; head 0: rows 1..3 put 0.5, 1, 0.25 on key 0; head 1: a perfect sink
  const probs = new Float64Array(2 * L * L);
  const set = (h: number, i: number, row: number[]) => row.forEach((p, j) => (probs[(h * L + i) * L + j] = p));
  set(0, 0, [1]);
  set(0, 1, [0.5, 0.5]);
  set(0, 2, [1, 0, 0]);
  set(0, 3, [0.25, 0.25, 0.25, 0.25]);
  for (let i = 0; i < L; i++) set(1, i, [1, ...new Array(i).fill(0)]);
  const s = sinkMass([{ logits: new Float64Array(2 * L * L), probs }] as LayerScores[], L);
  assert.ok(Math.abs(s.mass - (0.5 + 1 + 0.25 + 3) / 6) < 1e-15);
  assert.is(s.maxHead, 1);
  assert.ok(Math.abs(s.uniform - (1 / 2 + 1 / 3 + 1 / 4) / 3) < 1e-15);
  // uniform causal attention has exactly the uniform mass
  const u = new Float64Array(L * L);
  for (let i = 0; i < L; i++) for (let j = 0; j <= i; j++) u[i * L + j] = 1 / (i + 1);
  const su = sinkMass([{ logits: u, probs: u }], L);
  assert.ok(Math.abs(su.mass - uniformSinkMass(L)) < 1e-15);
});

test('measureDrift: Eq. 5 from the score matrices equals logitDeviation; a random-init model has no sink', () => {
  const model = randomInitModel(config, 5, 'transformers');
  const seqs = driftSequences(config.vocabSize, 2, 24, 9);
  const d = measureDrift(model, seqs);
  const want = logitDeviation(roundModel(model, 'bf16'), seqs, 0, 16, RUNS['bf16 hf']).D_logit;
  assert.ok(Math.abs(d.D_logit - want) <= 1e-12 * want, `${d.D_logit} vs ${want}`);
  assert.ok(d.mass / d.uniform < 1.2, `mass ${d.mass} vs uniform ${d.uniform}`);
  assert.ok(d.share > 0 && d.share < 1);
});

// ------------------------------------------------------------------ Eq. 5 against T
test('eq5VsT: D_logit from one window\'s prefixes equals Eq. 5 on the prefixes; the fixture grows, random init is flat', () => {
  const rand = randomInitModel(config, 1, 'pytorch');
  const fx = driftFixtureModel();
  assert.ok(fx, 'checkpoints/drift_peaked is there');
  const r = eq5VsT([{ label: 'random', model: rand }, { label: 'fixture', model: fx! }], { seed: 3, maxT: 256, nSeqs: 1 });
  const seqs = driftSequences(config.vocabSize, 1, 256, 3);
  for (const [k, T] of [64, 128].entries()) {
    const want = logitDeviation(roundModel(rand, 'bf16'), seqs.map((s) => s.slice(0, T)), 0, 16, RUNS['bf16 hf']).D_logit;
    assert.ok(Math.abs(r.models[0].D_logit[k] - want) <= 1e-12 * want, `T ${T}: ${r.models[0].D_logit[k]} vs ${want}`);
  }
  assert.equal(r.models[0].T, [64, 128, 256]);
  assert.is(r.models[0].verdict, 'flat');
  assert.is(r.models[1].verdict, 'grows');
  assert.ok(r.rope[0].pos === 0 && r.rope[0].trigHf === 0 && r.rope[0].qRel === 0, 'position 0 rotates exactly');
  assert.ok(r.lines.some((l) => l.startsWith('| verdict | flat | grows |')));
});

test('firstKeyAndRowChange: Eq. 5\'s columns equal firstKeyLogitsAt; layer 0\'s row change equals the one from scoresAt', () => {
  const m = roundModel(driftFixtureModel()!, 'bf16');
  const [ids] = driftSequences(m.config.vocabSize, 1, 20, 4);
  const r = firstKeyAndRowChange(m, ids, 0, 16);
  const wa = firstKeyLogitsAt(m, ids, 0, RUNS['bf16 hf']);
  const wb = firstKeyLogitsAt(m, ids, 16, RUNS['bf16 hf']);
  r.a.forEach((c, l) => assert.equal(Array.from(c), Array.from(wa[l])));
  r.b.forEach((c, l) => assert.equal(Array.from(c), Array.from(wb[l])));
  const sa = scoresAt(m, ids, 0, RUNS['bf16 hf'])[0].probs;
  const sb = scoresAt(m, ids, 16, RUNS['bf16 hf'])[0].probs;
  const T = 20;
  const H = sa.length / (T * T);
  for (let i = 0; i < T; i++) {
    let tv = 0;
    for (let h = 0; h < H; h++) for (let j = 0; j <= i; j++) tv += Math.abs(sa[(h * T + i) * T + j] - sb[(h * T + i) * T + j]) / H;
    assert.ok(Math.abs(tv - r.rowChange0[i]) <= 1e-15 + 1e-12 * tv, `row ${i}: ${r.rowChange0[i]} vs ${tv}`);
  }
  assert.ok(r.rowChange0[T - 1] > 0);
});

// ------------------------------------------------------------------ snapshots and determinism
test('snapshotRecorder: snapshots of one run, the last equal to the run\'s own weights, step 0 its init', () => {
  const out = mkdtempSync(join(tmpdir(), 'exp-test-'));
  try {
    const o = { ...tinyPreset(out), L: 32, steps: 5, warmup: 1, seed: 4 };
    const rec = snapshotRecorder(o, 2);
    const r = train(docs, rec.options, false, { quiet: true, log: () => {}, ...rec.hooks });
    assert.equal(rec.snapshots.map((s) => s.step), [0, 2, 4, 5]);
    assert.ok(sameModel(rec.snapshots[3].model, r.model), 'the last snapshot is the trained model, bit for bit');
    assert.ok(!sameModel(rec.snapshots[1].model, r.model));
    // the snapshot interval does not change the run
    const plain = train(docs, { ...o, out: join(out, 'plain'), checkpointEvery: 5 }, false, { quiet: true, log: () => {} });
    assert.ok(sameModel(plain.model, r.model));
    assert.ok(sameModel(rec.snapshots[0].model, randomInitModel(o.model, 4, 'transformers')));
    const c = sinkCurveFromSnapshots(rec.snapshots, r.losses, { seed: 1, T: 16, nSeqs: 2, stream: docs.flat(), first: o.bos });
    assert.is(c.rows.length, 4);
    assert.ok(Number.isNaN(c.rows[0].loss) && Math.abs(c.rows[1].loss - (r.losses[0] + r.losses[1]) / 2) < 1e-12);
    assert.is(c.sinkForms, c.massRatio >= 2);
    assert.ok(c.lines.includes('|---:|---:|---:|---:|---:|---:|---:|---:|'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('sinkCurve and variantTraining: the same seed gives the same numbers, another seed other numbers', () => {
  const s = EXPERIMENT_SIZES.tiny;
  const strip = (x: unknown) => JSON.stringify(x, (k, v) => (k === 'seconds' || k === 'trainSeconds' || k === 'lines' ? undefined : v));
  const a = sinkCurve({ seed: 2, ...s.sink, docs });
  const b = sinkCurve({ seed: 2, ...s.sink, docs });
  assert.is(strip(a), strip(b));
  assert.equal(a.lines, b.lines);
  assert.is(a.rows.length, 3);
  const v = { ...s.variants, variants: ['full', 'anchor'] as const, docs: corpusDocuments().slice(0, 40) };
  const x = variantTraining({ seed: 1, ...v });
  const y = variantTraining({ seed: 1, ...v });
  assert.is(strip(x.runs), strip(y.runs));
  assert.equal(x.lines, y.lines);
  assert.is(x.runs.length, 4);
  const z = variantTraining({ seed: 2, ...v, seeds: 1 });
  assert.is.not(z.runs[0].trainLoss, x.runs[0].trainLoss);
});

test('shortDocuments: seeded, BOS-first, lengths in range, held-out documents kept whole and apart', () => {
  const all = corpusDocuments().slice(0, 30);
  const a = shortDocuments(all, { seed: 3, tokens: 2000, minLen: 8, maxLen: 16 });
  assert.equal(a, shortDocuments(all, { seed: 3, tokens: 2000, minLen: 8, maxLen: 16 }));
  assert.ok(a.train.every((d) => d[0] === 256 && d.length >= 3 && d.length <= 17));
  assert.ok(a.train.reduce((n, d) => n + d.length, 0) >= 2000);
  assert.is(a.heldOut.length, 3);
  assert.ok(a.heldOut.every((d) => all.includes(d)));
  assert.not.equal(a, shortDocuments(all, { seed: 4, tokens: 2000, minLen: 8, maxLen: 16 }));
});

test.run();

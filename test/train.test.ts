// The trainer: AdamW / schedule / clipping units, and resume determinism — a run killed
// (SIGKILL) in the middle and resumed from its last checkpoint ends with the same weight
// bits as an uninterrupted run (bf16 mixed precision, gradient accumulation, anchor packing).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer } from '../data/tokenizer.ts';
import { parseConfig } from '../reference/model/config.ts';
import { Rng } from '../reference/rng.ts';
import { defaultTrainOptions, train, type TrainOptions } from '../train/trainer.ts';
import { adamwStep, newAdamW, ADAMW_DEFAULTS } from '../train/adamw.ts';
import { clipGradNorm, globalNorm, lrAt } from '../train/schedule.ts';
import { loadLatestCheckpoint } from '../train/checkpoint.ts';

export function trainTestSetup(out: string): { docs: number[][]; opts: TrainOptions } {
  const tok = new ByteTokenizer();
  const model = parseConfig({
    architectures: ['LlamaForCausalLM'], vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256,
  });
  const rng = new Rng(3);
  const docs = Array.from({ length: 40 }, () => [tok.bos, ...tok.encode('doc ' + 'abcdefgh'.slice(0, rng.int(1, 8)).repeat(rng.int(2, 6)))]);
  const opts: TrainOptions = { ...defaultTrainOptions(model, out), precision: 'bf16', L: 32, steps: 6, accum: 2, lr: 1e-2, warmup: 2, checkpointEvery: 2, seed: 5, bos: tok.bos };
  return { docs, opts };
}

const bits = (m: Map<string, ArrayLike<number>>) => [...m].map(([k, v]) => k + ':' + Buffer.from(Float32Array.from(v).buffer).toString('hex')).join('|');

test('lr schedule: linear warmup then cosine to 10% / constant', () => {
  const sc = { lr: 1, warmup: 4, total: 14, kind: 'cosine' as const };
  assert.equal([0, 1, 2, 3].map((s) => lrAt(s, sc)), [0.25, 0.5, 0.75, 1]);
  assert.is(lrAt(4, sc), 1);
  assert.ok(Math.abs(lrAt(9, sc) - 0.55) < 1e-12);
  assert.ok(Math.abs(lrAt(14, sc) - 0.1) < 1e-12);
  assert.is(lrAt(100, { ...sc, kind: 'constant' }), 1);
});

test('clipping scales to the max norm; AdamW first step moves each weight by ≈ lr·sign(g)', () => {
  const g = new Map([['w', Float64Array.from([3, 4])]]);
  assert.is(clipGradNorm(g, 1, (x) => x), 5);
  assert.ok(Math.abs(globalNorm(g) - 1) < 1e-6);
  const p = new Map([['w', Float64Array.from([1, -1])], ['n.norm.weight', Float64Array.from([1])]]);
  const grads = new Map([['w', Float64Array.from([0.5, -2])], ['n.norm.weight', Float64Array.from([1])]]);
  const st = newAdamW(p);
  adamwStep(p, grads, st, 0.1, ADAMW_DEFAULTS, (x) => x);
  // decoupled decay (×(1 − lr·wd)) on matrices only, then − lr·m̂/(sqrt(v̂)+eps) = − lr·sign(g)
  assert.ok(Math.abs(p.get('w')![0] - (1 * (1 - 0.01) - 0.1)) < 1e-6);
  assert.ok(Math.abs(p.get('w')![1] - (-1 * (1 - 0.01) + 0.1)) < 1e-6);
  assert.ok(Math.abs(p.get('n.norm.weight')![0] - 0.9) < 1e-6);
  assert.is(st.step, 1);
});

test('killed mid-run (SIGKILL) and resumed: final weights bit-identical to an uninterrupted run', () => {
  const base = mkdtempSync(join(tmpdir(), 'train-test-'));
  const a = trainTestSetup(join(base, 'a'));
  const ra = train(a.docs, a.opts, false, { quiet: true, log: () => {} });
  assert.is(ra.state.step, 6);
  assert.ok(ra.losses.every(Number.isFinite));

  const outB = join(base, 'b');
  const child = (killAt: number, resume: boolean) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'train-child.ts'), outB, String(killAt), resume ? 'resume' : ''], { encoding: 'utf8' });
  const first = child(3, false);
  assert.is(first.signal, 'SIGKILL', first.stderr);
  assert.is(loadLatestCheckpoint(outB)!.state.step, 2); // step 3 was lost with the process
  const second = child(0, true);
  assert.is(second.status, 0, second.stderr);
  const rb = loadLatestCheckpoint(outB)!;
  assert.is(rb.state.step, 6);
  assert.is(bits(rb.model.params), bits(ra.model.params));
  assert.is(bits(rb.opt.m), bits(ra.opt.m));
  assert.equal(rb.state.losses, ra.losses);
  const metrics = readFileSync(join(outB, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(metrics, [1, 2, 3, 4, 5, 6]);
  assert.ok(existsSync(join(outB, 'loss.svg')));
});

test('resume refuses changed options', () => {
  const base = mkdtempSync(join(tmpdir(), 'train-test-'));
  const a = trainTestSetup(join(base, 'a'));
  train(a.docs, { ...a.opts, steps: 2 }, false, { quiet: true, log: () => {} });
  assert.throws(() => train(a.docs, { ...a.opts, lr: 0.5 }, true, { quiet: true, log: () => {} }), /options differ/);
});
if (process.argv[1]?.endsWith('train.test.ts')) test.run();

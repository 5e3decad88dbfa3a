// What the model holds in memory (SPEC.md, "Parameter storage"):
// - parameters in their storage precision (reference/model/params.ts ParamValues): float32
//   storage for f32 / bf16 / f16 weights gives the same numbers as float64 storage everywhere
//   they are read (forward, backward, kernels, optimizer, checkpoint round trip), and the storage
//   never rounds a value silently;
// - an inference forward (keepActivations: false) keeps no layer's activations, and gives the
//   same logits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloneModel, holdIn, modelBackward, modelForward, modelLossGrad, parseConfig, randomInitModel, roundModel, storedValues, type Model } from '../reference/model/index.ts';
import { Rng } from '../reference/rng.ts';
import { newAdamW } from '../train/adamw.ts';
import { optimizerStep, type MicroBatch } from '../train/trainer.ts';
import { loadModel, saveModel, tensorFromValues } from '../train/model-files.ts';
import { ALWAYS_KERNELS, kernelModelBackend } from '../kernels/model-backend.ts';
import { closeBackends } from '../kernels/runtime.ts';

const cfg = parseConfig({
  architectures: ['Qwen2ForCausalLM'], vocab_size: 40, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256, tie_word_embeddings: true, rope_parameters: { rope_theta: 10000, rope_type: 'default' },
});
const T = 24;
const rng = new Rng(7);
const ids = Int32Array.from({ length: T }, () => rng.int(0, 39));
const labels = Int32Array.from({ length: T }, (_, i) => (i + 1 < T ? ids[i + 1] : -100));
const docIds = Int32Array.from({ length: T }, (_, i) => (i < 1 ? 0 : i < 13 ? 1 : 2));

const hex = (a: ArrayLike<number>) => Buffer.from(Float64Array.from(a).buffer).toString('hex');
const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
  assert.is(a.length, b.length, what);
  assert.ok(hex(a) === hex(b), `${what}: values differ`);
};
const sameParams = (a: Map<string, ArrayLike<number>>, b: Map<string, ArrayLike<number>>, what: string) => {
  assert.equal([...a.keys()], [...b.keys()], what);
  for (const [k, v] of a) sameBits(v, b.get(k)!, `${what} ${k}`);
};
const storages = (m: Model) => new Set([...m.params.values()].map((p) => p.constructor.name));

test('randomInitModel holds float32 values in float32; roundModel holds each policy in its storage: f64 in float64, f32 and bf16 in float32', () => {
  const base = randomInitModel(cfg, 1);
  assert.equal(storages(base), new Set(['Float32Array']));
  assert.equal(storages(roundModel(base, 'f64')), new Set(['Float64Array']));
  assert.equal(storages(roundModel(base, 'f32')), new Set(['Float32Array']));
  assert.equal(storages(roundModel(base, 'bf16')), new Set(['Float32Array']));
  // the values are the policy's rounding, whatever holds them
  const wide = holdIn(roundModel(base, 'bf16'), 'f64');
  for (const [k, v] of base.params) for (let i = 0; i < v.length; i += 7) assert.ok(Object.is(wide.params.get(k)![i], roundModel(base, 'bf16').params.get(k)![i]), k);
});

for (const precision of ['f32', 'bf16'] as const) {
  test(`${precision}: forward, loss and gradients are the same bits from float32 and float64 storage (reference and kernel Backends)`, () => {
    const m32 = roundModel(randomInitModel(cfg, 2), precision);
    const m64 = holdIn(m32, 'f64');
    assert.equal(storages(m64), new Set(['Float64Array']));
    const forced = kernelModelBackend('webasm', { minWork: ALWAYS_KERNELS, threads: 1, blockSize: 8 });
    for (const backend of [undefined, forced]) {
      const o = { precision, variant: 'anchor' as const, docIds, bf16Attention: 'bf16_flash' as const, backend };
      const what = `${precision} ${backend ? 'kernels' : 'reference'}`;
      sameBits(modelForward(m32, ids, o).logits, modelForward(m64, ids, o).logits, `${what} logits`);
      const a = modelLossGrad(m32, ids, labels, o);
      const b = modelLossGrad(m64, ids, labels, o);
      assert.ok(Object.is(a.loss, b.loss), `${what} loss`);
      sameParams(a.grads, b.grads, `${what} grads`);
    }
  });
}

test('f32 training: masters, moments and gradient sums in float32 storage give the float64-storage run bit for bit', () => {
  const init = randomInitModel(cfg, 3, 'transformers');
  const a = cloneModel(init);
  const b = holdIn(init, 'f64');
  const optA = newAdamW(a.params);
  const optB = newAdamW(b.params);
  assert.ok(optA.m.values().next().value instanceof Float32Array, 'moments held like their float32 masters');
  const r2 = new Rng(9);
  for (let s = 0; s < 4; s++) {
    const batch: MicroBatch[] = [0, 1].map(() => ({ inputIds: Int32Array.from({ length: T }, () => r2.int(0, 39)), labels, variant: 'anchor', docIds }));
    const c = { precision: 'f32' as const, clip: 1, adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, schedule: { lr: 3e-3, warmup: 0, total: 4, kind: 'constant' as const } };
    const ra = optimizerStep(a, optA, s, batch, c);
    const rb = optimizerStep(b, optB, s, batch, c);
    assert.ok(Object.is(ra.loss, rb.loss) && Object.is(ra.gradNorm, rb.gradNorm), `step ${s}: loss / grad norm`);
  }
  assert.equal(storages(a), new Set(['Float32Array']));
  sameParams(a.params, b.params, 'masters');
  sameParams(optA.m, optB.m, 'exp_avg');
  sameParams(optA.v, optB.v, 'exp_avg_sq');
});

test('the storage never rounds silently: holdIn refuses a non-float32 value, optimizerStep refuses f64 masters in float32', () => {
  const m = holdIn(randomInitModel(cfg, 4), 'f64');
  const name = 'model.layers.1.mlp.up_proj.weight';
  m.params.get(name)![5] = 0.1; // not a float32 value
  assert.throws(() => holdIn(m, 'f32'), (e: Error) => e instanceof RangeError && e.message.includes(`${name}[5] = 0.1 is not a float32 value`));
  const f32 = randomInitModel(cfg, 4);
  const batch: MicroBatch[] = [{ inputIds: ids, labels, variant: 'full', docIds }];
  const c = { precision: 'f64' as const, clip: 1, adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, schedule: { lr: 1e-3, warmup: 0, total: 1, kind: 'constant' as const } };
  assert.throws(() => optimizerStep(f32, newAdamW(f32.params), 0, batch, c), /f64 masters must be held in float64 storage/);
  // holdIn shares arrays already in the asked storage, so moving back and forth is free when nothing changes
  const again = holdIn(f32, 'f32');
  for (const [k, v] of f32.params) assert.ok(again.params.get(k) === v, k);
});

test('a checkpoint loads F32 and BF16 tensors into float32 storage, F64 into float64, and saves back the same bits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anchor-storage-'));
  try {
    const base = randomInitModel(cfg, 5);
    for (const dtype of ['f32', 'bf16', 'f64'] as const) {
      const d = join(dir, dtype);
      saveModel(d, base, dtype);
      const m = loadModel(d);
      assert.equal(storages(m), new Set([dtype === 'f64' ? 'Float64Array' : 'Float32Array']), dtype);
      const want = roundModel(base, dtype === 'f64' ? 'f64' : dtype);
      sameParams(m.params, want.params, `${dtype} load`);
      saveModel(join(dir, `${dtype}-again`), m, dtype);
      sameParams(loadModel(join(dir, `${dtype}-again`)).params, m.params, `${dtype} round trip`);
    }
    // f16 widens exactly to float32
    const f16 = storedValues(tensorFromValues([1, 0.1, -65504, 2 ** -24], 'f16', [4]));
    assert.ok(f16 instanceof Float32Array);
    sameBits(f16, [1, 0.0999755859375, -65504, 2 ** -24], 'f16 values');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keepActivations: false keeps no layer activations, gives the same logits and q/k, and modelBackward refuses it', () => {
  const m = roundModel(randomInitModel(cfg, 6), 'bf16');
  const o = { precision: 'bf16' as const, variant: 'anchor' as const, docIds, captureQK: true };
  const full = modelForward(m, ids, o);
  const lean = modelForward(m, ids, { ...o, keepActivations: false });
  assert.is(full.cache.layers.length, cfg.numLayers);
  assert.is(lean.cache.layers.length, 0);
  sameBits(lean.logits, full.logits, 'logits');
  lean.qk!.forEach((x, l) => sameBits(x.k, full.qk![l].k, `layer ${l} k`));
  assert.throws(() => modelBackward(m, lean, new Float64Array(lean.logits.length)), /keepActivations: false/);
});

test.after(async () => closeBackends());
test.run();


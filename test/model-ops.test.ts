// The model.* ops through the registry: same numbers as the library, clear errors for bad input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import '../ops/index.ts';
import { runOp } from '../ops/registry.ts';
import { OpError } from '../io/errors.ts';
import { tensor } from '../io/tensor.ts';
import { modelLossGrad } from '../reference/model/index.ts';
import { loadModel } from '../train/model-files.ts';

const ckpt = join(import.meta.dirname, '..', 'checkpoints', 'mistral_anchor');
const ids = tensor('i32', [6], Int32Array.from([3, 7, 1, 40, 2, 9]));
const docs = tensor('i32', [6], Int32Array.from([0, 1, 1, 2, 2, 2]));
const labels = tensor('i32', [6], Int32Array.from([7, 1, -100, 2, 9, 4]));

test('model.loss_grad equals the library call, gradient per parameter', () => {
  const out = runOp('model.loss_grad', { checkpoint: ckpt, precision: 'f64', variant: 'anchor' }, { input_ids: ids, labels, doc_ids: docs });
  const r = modelLossGrad(loadModel(ckpt), [3, 7, 1, 40, 2, 9], [7, 1, -100, 2, 9, 4], { precision: 'f64', variant: 'anchor', docIds: [0, 1, 1, 2, 2, 2] });
  assert.is(out.loss.data[0], r.loss);
  assert.is(Object.keys(out).length, 1 + r.grads.size);
  assert.equal(Array.from(out['grad.model.layers.1.mlp.up_proj.weight'].data as Float64Array), Array.from(r.grads.get('model.layers.1.mlp.up_proj.weight')!));
  assert.equal(out['grad.model.embed_tokens.weight'].shape, [48, 32]);
});

test('model.forward: logits [L, V] f32; bad ids and checkpoints are OpErrors', () => {
  const out = runOp('model.forward', { checkpoint: ckpt, precision: 'bf16' }, { input_ids: ids });
  assert.is(out.logits.dtype, 'f32');
  assert.equal(out.logits.shape, [6, 48]);
  const bad = (f: () => unknown, re: RegExp) => {
    try {
      f();
      assert.unreachable();
    } catch (e) {
      assert.ok(e instanceof OpError, String(e));
      assert.match((e as Error).message, re);
    }
  };
  bad(() => runOp('model.forward', { checkpoint: ckpt }, { input_ids: tensor('i32', [2], Int32Array.from([1, 48])) }), /outside the vocabulary/);
  bad(() => runOp('model.forward', { checkpoint: '/nonexistent' }, { input_ids: ids }), /checkpoint \/nonexistent: no such folder/);
  bad(() => runOp('model.loss_grad', { checkpoint: ckpt }, { input_ids: ids, labels: tensor('i32', [6], Int32Array.from([1, 2, 3, 4, 5, -1])) }), /neither -100/);
  bad(() => runOp('model.forward', { checkpoint: ckpt, precision: 'f16' }, { input_ids: ids }), /must be one of/);
});
test('model.forward takes a train run folder as the CLI does: its newest step (latest.json)', () => {
  const run = mkdtempSync(join(tmpdir(), 'model-ops-run-'));
  try {
    cpSync(ckpt, join(run, 'step-000002'), { recursive: true });
    writeFileSync(join(run, 'latest.json'), JSON.stringify({ step: 2, dir: 'step-000002' }));
    const x = tensor('i32', [3], Int32Array.from([1, 2, 3]));
    const a = runOp('model.forward', { checkpoint: run, precision: 'f32' }, { input_ids: x }).logits.data;
    const b = runOp('model.forward', { checkpoint: ckpt, precision: 'f32' }, { input_ids: x }).logits.data;
    assert.equal(Array.from(a as Float32Array), Array.from(b as Float32Array));
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
});
test.run();

// Logits, loss and every parameter gradient against transformers (fixtures from
// test/fixtures/model/generate.py: tiny random Llama / Mistral / Qwen2 models, one mask
// variant each). Tolerances (SPEC.md "model"):
//   f64   vs transformers' model.double(): max|Δ| ≤ 1e-5·max|ref| per tensor (the reference
//         itself keeps RMSNorm statistics, softmax and RoPE angles in float32).
//   f32, bf16: flash-attn's rule against the near-f64 reference: our error is at most 2× (logits)
//         / 3× (gradients) transformers' own error at the same precision.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelLossGrad, roundModel, parameterShapes } from '../reference/model/index.ts';
import { loadModel } from '../train/model-files.ts';
import { maxAbs, maxDiff } from './norms.ts';

const DIR = join(import.meta.dirname, 'fixtures', 'model');
const FIXTURES = ['llama', 'llama_linear_intra_doc', 'mistral_anchor', 'qwen2_tied_reset'];

function dec(b: string, dt: string): Float64Array {
  const buf = Buffer.from(b, 'base64');
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  return dt === 'f64' ? new Float64Array(ab) : Float64Array.from(new Float32Array(ab));
}

for (const name of FIXTURES) {
  const fx = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8'));
  const base = loadModel(join(import.meta.dirname, '..', 'checkpoints', name));
  const ref = fx.results.f64;
  const refLogits = dec(ref.logits, 'f64');
  const opts = { variant: fx.variant, docIds: fx.doc_ids as number[] };

  test(`${name}: parameter names and shapes are transformers'`, () => {
    assert.equal(parameterShapes(base.config).map(([n]) => n).sort(), Object.keys(ref.grads).sort());
  });

  test(`${name} f64: logits, loss and gradients within 1e-5·max|ref| of transformers' double`, () => {
    const r = modelLossGrad(base, fx.input_ids, fx.labels, { precision: 'f64', ...opts });
    assert.ok(Math.abs(r.loss - ref.loss) <= 1e-6 * Math.abs(ref.loss), `loss ${r.loss} vs ${ref.loss}`);
    const dl = maxDiff(r.fwd.logits, refLogits);
    assert.ok(dl <= 1e-5 * maxAbs(refLogits), `logits max|Δ| ${dl}`);
    for (const [pn, g] of r.grads) {
      const gr = dec(ref.grads[pn], 'f64');
      const d = maxDiff(g, gr);
      assert.ok(d <= 1e-5 * maxAbs(gr), `${pn}: max|Δ| ${d.toExponential(2)} > 1e-5·${maxAbs(gr).toExponential(2)}`);
    }
  });

  for (const prec of ['f32', 'bf16'] as const) {
    test(`${name} ${prec}: error vs the f64 reference at most 2× (logits) / 3× (grads) transformers' own ${prec} error`, () => {
      const m = roundModel(base, prec);
      const r = modelLossGrad(m, fx.input_ids, fx.labels, { precision: prec, ...opts });
      const hf = fx.results[prec];
      const hfLogits = dec(hf.logits, hf.grad_dtype);
      const ours = maxDiff(r.fwd.logits, refLogits);
      const theirs = maxDiff(hfLogits, refLogits);
      assert.ok(ours <= 2 * theirs, `logits: ours ${ours.toExponential(2)} vs transformers ${theirs.toExponential(2)}`);
      const lossOurs = Math.abs(r.loss - ref.loss);
      const lossTheirs = Math.abs(hf.loss - ref.loss);
      assert.ok(lossOurs <= 2 * lossTheirs + 4 * 2 ** -24 * ref.loss, `loss: ours ${r.loss} transformers ${hf.loss} ref ${ref.loss}`);
      for (const [pn, g] of r.grads) {
        const gr = dec(ref.grads[pn], 'f64');
        const o = maxDiff(g, gr);
        const h = maxDiff(dec(hf.grads[pn], hf.grad_dtype), gr);
        assert.ok(o <= 3 * h, `${pn}: ours ${o.toExponential(2)} vs transformers ${h.toExponential(2)}`);
      }
    });
  }
}
test.run();

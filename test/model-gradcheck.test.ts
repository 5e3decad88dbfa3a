// Gradient check: the hand-written backward against central finite differences in f64,
// for every parameter tensor of tiny random models, every attention variant, tied and
// untied heads, with and without biases. A wrong backward for any op shows up as a
// relative error far above the finite-difference error (≈1e-9, see SPEC.md "model"). The
// models are held in float64 storage: the perturbations are far below a float32 step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { holdIn, parseConfig, randomInitModel, modelLossGrad, modelForward, type Model } from '../reference/model/index.ts';
import { VARIANTS, type Variant } from '../reference/masks.ts';
import { Rng } from '../reference/rng.ts';

function tinyConfig(arch: string, extra: Record<string, unknown> = {}) {
  return parseConfig({
    architectures: [arch], vocab_size: 23, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 4, rms_norm_eps: 1e-6, max_position_embeddings: 64,
    rope_parameters: { rope_theta: 100, rope_type: 'default' }, ...extra,
  });
}

const DOCS = [0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 1, 1]; // anchor (0), three documents, doc 1 split in two chunks
const T = DOCS.length;

function lossOf(m: Model, ids: number[], labels: number[], variant: Variant): number {
  const fwd = modelForward(m, ids, { precision: 'f64', variant, docIds: DOCS });
  return fwd.cache.backend.crossEntropy(fwd.logits, fwd.T, fwd.V, labels, fwd.cache.pol).loss;
}

function check(m: Model, variant: Variant, seed: number, perTensor: number): { worst: number } {
  const rng = new Rng(seed);
  const V = m.config.vocabSize;
  const ids = Array.from({ length: T }, () => rng.int(0, V - 1));
  const labels = ids.map((_, i) => (i === 3 ? -100 : rng.int(0, V - 1)));
  const { grads } = modelLossGrad(m, ids, labels, { precision: 'f64', variant, docIds: DOCS });
  let worst = 0;
  for (const [name, p] of m.params) {
    const g = grads.get(name)!;
    assert.ok(g && g.length === p.length, `${name}: gradient missing`);
    const picks = new Set<number>();
    // the largest-gradient element plus random ones
    let big = 0;
    for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[big])) big = i;
    picks.add(big);
    while (picks.size < Math.min(perTensor, p.length)) picks.add(rng.int(0, p.length - 1));
    for (const i of picks) {
      const h = 1e-5;
      const x0 = p[i];
      p[i] = x0 + h;
      const lp = lossOf(m, ids, labels, variant);
      p[i] = x0 - h;
      const lm = lossOf(m, ids, labels, variant);
      p[i] = x0;
      const fd = (lp - lm) / (2 * h);
      const err = Math.abs(fd - g[i]);
      const tol = 1e-8 + 1e-6 * Math.abs(fd);
      worst = Math.max(worst, err / tol);
      assert.ok(err <= tol, `${variant} ${name}[${i}]: backward ${g[i]} vs finite difference ${fd} (|Δ| = ${err.toExponential(2)}, tol ${tol.toExponential(2)})`);
    }
  }
  return { worst };
}

for (const variant of VARIANTS) {
  test(`Llama (untied) gradients match finite differences, variant ${variant}`, () => {
    const m = holdIn(randomInitModel(tinyConfig('LlamaForCausalLM'), 11, 'pytorch'), 'f64');
    check(m, variant, 1, 4);
  });
}
test('Qwen2 (q/k/v biases, tied head) gradients match finite differences, anchor and full', () => {
  const m = holdIn(randomInitModel(tinyConfig('Qwen2ForCausalLM', { tie_word_embeddings: true }), 12, 'pytorch'), 'f64');
  check(m, 'anchor', 2, 4);
  check(m, 'full', 3, 3);
});
test('Llama with attention_bias + mlp_bias, linear rope scaling, gradients match', () => {
  const m = holdIn(randomInitModel(tinyConfig('LlamaForCausalLM', { attention_bias: true, mlp_bias: true, rope_parameters: { rope_theta: 1000, rope_type: 'linear', factor: 2 } }), 13, 'pytorch'), 'f64');
  check(m, 'intra_doc_reset', 4, 3);
});
test('Mistral gradients with a position offset (positions [Δ, Δ+T))', () => {
  const m = holdIn(randomInitModel(tinyConfig('MistralForCausalLM'), 14, 'pytorch'), 'f64');
  const rng = new Rng(5);
  const ids = Array.from({ length: T }, () => rng.int(0, 22));
  const labels = ids.map(() => rng.int(0, 22));
  const opts = { precision: 'f64' as const, variant: 'full' as const, positionOffset: 37 };
  const { grads } = modelLossGrad(m, ids, labels, opts);
  const name = 'model.layers.0.self_attn.q_proj.weight';
  const p = m.params.get(name)!;
  const f = () => {
    const fw = modelForward(m, ids, opts);
    return fw.cache.backend.crossEntropy(fw.logits, fw.T, fw.V, labels, fw.cache.pol).loss;
  };
  for (const i of [0, 17, 63]) {
    const x0 = p[i];
    p[i] = x0 + 1e-5;
    const lp = f();
    p[i] = x0 - 1e-5;
    const lm = f();
    p[i] = x0;
    const fd = (lp - lm) / 2e-5;
    assert.ok(Math.abs(fd - grads.get(name)![i]) <= 1e-8 + 1e-6 * Math.abs(fd), `${name}[${i}]`);
  }
});
test.run();

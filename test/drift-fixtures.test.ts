// The drift metrics against an independent implementation: PyTorch + transformers (bf16, eager
// attention) computing Eq. 4 and Eq. 5 on the same checkpoint (test/fixtures/drift/generate.py).
// transformers' bf16 eager pipeline produces attention scores bit-identical to the reference's
// bf16 policy, so the metrics agree up to the order of the metric's own final sums.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { logitDeviation, shiftDeviation } from '../reference/drift.ts';
import { roundModel } from '../reference/model/params.ts';
import { loadModel } from '../train/model-files.ts';

const here = new URL('./fixtures/drift/', import.meta.url).pathname;
const fx = JSON.parse(readFileSync(here + 'drift.json', 'utf8'));
const model = roundModel(loadModel(new URL('../checkpoints/drift_peaked', import.meta.url).pathname), 'bf16');
const seqs = fx.input_ids.map((s: number[]) => Int32Array.from(s));
const REL = 1e-12; // summation order of the metric itself (SPEC.md, drift contract)
const close = (a: number, b: number) => Math.abs(a - b) <= REL * Math.abs(b) + 1e-15;

for (const c of fx.cases)
  test(`Δ1 = ${c.delta1}, Δ2 = ${c.delta2}: Eq. 4 D, its per-token curve, Eq. 5 D_logit and per layer/head equal transformers ${fx.versions.transformers} (bf16 eager)`, () => {
    const r = shiftDeviation(model, seqs, c.delta1, c.delta2, { precision: 'bf16' });
    assert.ok(close(r.D, c.D), `D ${r.D} vs ${c.D}`);
    c.per_token.forEach((v: number, j: number) => assert.ok(close(r.perToken[j], v), `per_token[${j}] ${r.perToken[j]} vs ${v}`));
    const l = logitDeviation(model, seqs, c.delta1, c.delta2, { precision: 'bf16' });
    assert.ok(close(l.D_logit, c.D_logit), `D_logit ${l.D_logit} vs ${c.D_logit}`);
    c.per_layer_head.flat().forEach((v: number, k: number) => assert.ok(close(l.perLayerHead[k], v), `per_layer_head[${k}]`));
    assert.ok(c.D > 0.01, 'the fixture measures a real deviation');
  });

test.run();

// The model Backend's linears on the matmul kernel (kernels/model-backend.ts) against the
// reference, in one run, interleaved, best of --reps (default 3):
// 1. one model forward of a SmolLM2-135M-shaped random model (30 layers, hidden 576,
//    intermediate 1536, 9 heads / 3 kv heads, vocab 49152, tied LM head) at T = 128, bf16 policy
//    (bf16_flash attention, the kernel path): the reference backend, kernelModelBackend('webasm')
//    with its linears on the reference (`linearMinWork: Infinity`, the backend before the linears
//    moved), and kernelModelBackend('webasm') as it is. --layers N runs N layers (default 30).
// 2. --sizes: one linear (forward) per shape, reference vs kernel, to place LINEAR_MIN_WORK.
// Every kernel result is checked against the reference (relative L2) before it is timed.
// Run: npx tsx bench/model.bench.ts [--layers 30] [--seq-len 128] [--reps 3] [--sizes] [--no-model]

import { parseArgs } from 'node:util';
import { bf16Value } from '../reference/bf16.ts';
import { parseConfig } from '../reference/model/config.ts';
import { modelForward } from '../reference/model/forward.ts';
import { randomInitModel, roundModel } from '../reference/model/params.ts';
import { referenceBackend, type Backend } from '../reference/model/backend.ts';
import { Rng } from '../reference/rng.ts';
import { kernelModelBackend, LINEAR_MIN_WORK } from '../kernels/model-backend.ts';
import { closeBackends } from '../kernels/runtime.ts';

const { values: opt } = parseArgs({
  options: {
    layers: { type: 'string', default: '30' },
    'seq-len': { type: 'string', default: '128' },
    reps: { type: 'string', default: '3' },
    sizes: { type: 'boolean', default: false },
    'no-model': { type: 'boolean', default: false },
  },
});
const layers = Number(opt.layers);
const T = Number(opt['seq-len']);
const reps = Number(opt.reps);
const ms = (x: number) => (x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(0)} ms`);
const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
};
const time = (fn: () => unknown) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

const before = kernelModelBackend('webasm', { linearMinWork: Infinity });
const after = kernelModelBackend('webasm');
console.log(`model Backend linears: webasm matmul kernel vs reference (Node ${process.version}; LINEAR_MIN_WORK = ${LINEAR_MIN_WORK})`);

if (opt.sizes) {
  // one linear forward y = round(x·Wᵀ), bf16, per shape; the kernel forced on (linearMinWork 0)
  const forced = kernelModelBackend('webasm', { linearMinWork: 0 });
  const shapes: [number, number, number][] = [
    [1, 8, 8], [4, 16, 16], [8, 32, 32], [16, 32, 48], [40, 32, 48], [16, 64, 64], [32, 64, 64], [64, 64, 64], [32, 128, 128],
    [64, 128, 128], [128, 128, 128], [128, 64, 176], [128, 256, 256], [128, 576, 576], [128, 576, 1536],
  ];
  console.log('');
  console.log(`| linear T×nIn→nOut (bf16) | work T·nIn·nOut | forward: reference | kernel | ref ÷ kernel | backward (dx, dW): reference | kernel | ref ÷ kernel |`);
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [t, nIn, nOut] of shapes) {
    const rng = new Rng(t * 131 + nIn * 7 + nOut);
    const x = Float64Array.from({ length: t * nIn }, () => bf16Value(rng.normal()));
    const W = Float64Array.from({ length: nOut * nIn }, () => bf16Value(rng.normal() * 0.05));
    const want = referenceBackend.linear(x, t, nIn, W, nOut, null, bf16Value);
    const got = forced.linear(x, t, nIn, W, nOut, null, bf16Value); // compiles this shape
    const e = relL2(got, want);
    if (!(e <= 2 ** -7)) throw new Error(`linear ${t}×${nIn}→${nOut}: kernel vs reference relative L2 ${e}`);
    const dy = Float64Array.from({ length: t * nOut }, () => bf16Value(rng.normal()));
    const wantB = referenceBackend.linearBackward(dy, x, t, nIn, W, nOut, false, bf16Value);
    const gotB = forced.linearBackward(dy, x, t, nIn, W, nOut, false, bf16Value);
    const eb = Math.max(relL2(gotB.dx, wantB.dx), relL2(gotB.dW, wantB.dW));
    if (!(eb <= 2 ** -7)) throw new Error(`linear backward ${t}×${nIn}→${nOut}: kernel vs reference relative L2 ${eb}`);
    const n = Math.max(3, Math.min(200, Math.round(2e7 / (t * nIn * nOut))));
    let tr = Infinity, tk = Infinity, br = Infinity, bk = Infinity;
    for (let r = 0; r < n; r++) {
      tr = Math.min(tr, time(() => referenceBackend.linear(x, t, nIn, W, nOut, null, bf16Value)));
      tk = Math.min(tk, time(() => forced.linear(x, t, nIn, W, nOut, null, bf16Value)));
      br = Math.min(br, time(() => referenceBackend.linearBackward(dy, x, t, nIn, W, nOut, false, bf16Value)));
      bk = Math.min(bk, time(() => forced.linearBackward(dy, x, t, nIn, W, nOut, false, bf16Value)));
    }
    console.log(`| ${t}×${nIn}→${nOut} | ${t * nIn * nOut} | ${ms(tr)} | ${ms(tk)} | ${(tr / tk).toFixed(2)}× | ${ms(br)} | ${ms(bk)} | ${(br / bk).toFixed(2)}× |`);
  }
}

if (!opt['no-model']) {
  const cfg = parseConfig({
    architectures: ['LlamaForCausalLM'], vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: layers,
    num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 8192, rms_norm_eps: 1e-5, tie_word_embeddings: true,
    rope_parameters: { rope_theta: 100000, rope_type: 'default' },
  });
  let t0 = performance.now();
  const m = roundModel(randomInitModel(cfg, 1, 'transformers'), bf16Value);
  console.log(`\nSmolLM2-135M-shaped random model, ${layers} layers, bf16 weights: built in ${ms(performance.now() - t0)}`);
  const rng = new Rng(3);
  const ids = Int32Array.from({ length: T }, () => rng.int(0, cfg.vocabSize - 1));
  const variants: [string, Backend][] = [
    ['reference', referenceBackend],
    ["kernelModelBackend('webasm'), linear on the reference (before)", before],
    ["kernelModelBackend('webasm'), linear on the matmul kernel (after)", after],
  ];
  const fwd = (be: Backend) => modelForward(m, ids, { precision: 'bf16', bf16Attention: 'bf16_flash', variant: 'full', backend: be }).logits;
  // warm-up (JIT, kernel compiles) and the check: logits against the reference's
  const ref = fwd(referenceBackend);
  for (const [label, be] of variants.slice(1)) {
    t0 = performance.now();
    const e = relL2(fwd(be), ref);
    console.log(`warm-up + check: ${label}: ${ms(performance.now() - t0)}, logits relative L2 vs reference ${e.toExponential(2)}`);
    if (!(e <= 0.05)) throw new Error(`${label}: logits differ from the reference (relative L2 ${e})`);
  }
  const best = variants.map(() => Infinity);
  for (let r = 0; r < reps; r++)
    variants.forEach(([, be], i) => {
      best[i] = Math.min(best[i], time(() => fwd(be)));
    });
  console.log('');
  console.log(`| one forward, ${layers} layers, T = ${T}, bf16 (best of ${reps}, interleaved) | time | vs reference |`);
  console.log('|---|---|---|');
  variants.forEach(([label], i) => console.log(`| ${label} | ${ms(best[i])} | ${(best[0] / best[i]).toFixed(2)}× |`));
}
await closeBackends();

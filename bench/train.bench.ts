// One training step (forward + backward + AdamW, the trainer's optimizerStep) per model and
// precision: the reference backend against the kernel Backend (kernels/model-backend.ts, webasm,
// --threads threads), interleaved, best of --steps after one warm-up step each; tokens/s.
// bf16 runs take the flash attention path (train --attention flash: the path the kernels
// implement) on both backends, so the two compute the same thing. Models:
// - tiny: the tiny preset's (byte vocab 267, d_model 64, 2 layers, 4 heads / 2 kv heads,
//   head dim 16, SwiGLU 176), anchor packing (flex);
// - small: vocab 4096, d_model 256, 4 layers, 8 heads / 4 kv heads, SwiGLU 704, the same windows.
// Every kernel step's loss is checked against the reference's (relative 1e-5 f32, 2^-6 bf16).
// Run: npx tsx bench/train.bench.ts [--steps N] [--seq-len L] [--threads N] [--models tiny,small]

import { parseArgs } from 'node:util';
import { ByteTokenizer } from '../data/tokenizer.ts';
import { defaultCorpus } from '../data/corpus.ts';
import { cloneModel, parseConfig, randomInitModel, type ModelConfig } from '../reference/model/index.ts';
import { referenceBackend, setBackend, type Backend } from '../reference/model/backend.ts';
import { tinyPreset } from '../train/presets.ts';
import { optimizerStep, packWindows, type MicroBatch } from '../train/trainer.ts';
import { newAdamW, ADAMW_DEFAULTS } from '../train/adamw.ts';
import { kernelModelBackend } from '../kernels/model-backend.ts';
import { closeBackends } from '../kernels/runtime.ts';

const { values: opt } = parseArgs({
  options: {
    steps: { type: 'string', default: '3' },
    'seq-len': { type: 'string', default: '1024' },
    threads: { type: 'string', default: '2' },
    models: { type: 'string', default: 'tiny,small' },
  },
});
const L = Number(opt['seq-len']);
const steps = Number(opt.steps);
const tok = new ByteTokenizer();
const o = tinyPreset('unused');
const root = new URL('..', import.meta.url).pathname;
const docs = defaultCorpus(root).slice(0, 40).map((r) => [tok.bos, ...tok.encode(r.text)]);
const windows = packWindows(docs, { ...o, L });
const batches: MicroBatch[] = windows.map((w) => ({ inputIds: w.inputIds, labels: Array.from(w.targets, (t, i) => (w.lossMask[i] ? t : -100)), variant: w.maskVariant, docIds: w.docIds, positions: w.positionIds }));
const small = parseConfig({
  architectures: ['LlamaForCausalLM'], vocab_size: 4096, hidden_size: 256, intermediate_size: 704, num_hidden_layers: 4, num_attention_heads: 8,
  num_key_value_heads: 4, max_position_embeddings: 8192, rms_norm_eps: 1e-5, tie_word_embeddings: true, rope_parameters: { rope_theta: 10000, rope_type: 'default' },
});
const MODELS: Record<string, ModelConfig> = { tiny: o.model, small };
const kernels = kernelModelBackend('webasm', { threads: Number(opt.threads) });
const ms = (x: number) => `${x.toFixed(0)} ms`;

console.log(`train step, L = ${L}, anchor packing (flex); reference vs kernel Backend (webasm, ${opt.threads} threads); best of ${steps} after a warm-up step, interleaved\n`);
console.log('| model | precision | reference | kernels | reference ÷ kernels | tokens/s, kernels |');
console.log('|---|---|---|---|---|---|');
for (const name of opt.models.split(',')) {
  const cfg = MODELS[name];
  if (!cfg) throw new Error(`--models: no model ${name} (tiny, small)`);
  for (const precision of ['f32', 'bf16'] as const) {
    // both backends start from the same masters (float32 storage, as the trainer holds them)
    const init = randomInitModel(cfg, 1, 'transformers');
    const runs = [referenceBackend, kernels].map((be) => ({ be, model: cloneModel(init), opt: newAdamW(init.params), best: Infinity, losses: [] as number[] }));
    for (let s = 0; s <= steps; s++) {
      const batch = [batches[s % batches.length]];
      for (const r of runs) {
        setBackend(r.be as Backend);
        const t0 = performance.now();
        const res = optimizerStep(r.model, r.opt, s, batch, { precision, bf16Attention: 'bf16_flash', clip: 1, adamw: ADAMW_DEFAULTS, schedule: { lr: 1e-3, warmup: 0, total: steps + 1, kind: 'constant' } });
        const t = performance.now() - t0;
        setBackend(referenceBackend);
        if (s > 0) r.best = Math.min(r.best, t); // step 0 warms the JIT and compiles the kernels
        r.losses.push(res.loss);
      }
    }
    const [ref, ker] = runs;
    const tol = precision === 'f32' ? 1e-5 : 2 ** -6;
    ref.losses.forEach((l, s) => {
      if (!(Math.abs(ker.losses[s] - l) <= tol * Math.abs(l))) throw new Error(`${name} ${precision} step ${s}: kernel loss ${ker.losses[s]} vs reference ${l}`);
    });
    console.log(`| ${name} | ${precision} | ${ms(ref.best)} | ${ms(ker.best)} | ${(ref.best / ker.best).toFixed(2)}× | ${(L / (ker.best / 1000)).toFixed(0)} |`);
  }
}
await kernels.close();
await closeBackends();

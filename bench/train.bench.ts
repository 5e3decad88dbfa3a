// Tokens/s of one training step (forward + backward + AdamW) of the reference, for a stated
// tiny config at L = 1024: the tiny preset's model (byte vocab 267, d_model 64, 2 layers,
// 4 heads / 2 kv heads, head dim 16, SwiGLU 176), anchor packing (flex), f32 and bf16.
// Run: npx tsx bench/train.bench.ts [--steps N] [--seq-len L]

import { ByteTokenizer } from '../data/tokenizer.ts';
import { defaultCorpus } from '../data/corpus.ts';
import { modelLossGrad, randomInitModel, roundModel } from '../reference/model/index.ts';
import { tinyPreset } from '../train/presets.ts';
import { packWindows } from '../train/trainer.ts';
import { adamwStep, newAdamW, ADAMW_DEFAULTS } from '../train/adamw.ts';

const arg = (k: string) => (process.argv.includes(k) ? Number(process.argv[process.argv.indexOf(k) + 1]) : NaN);
const L = arg('--seq-len') || 1024;
const steps = arg('--steps') || 3;
const tok = new ByteTokenizer();
const o = tinyPreset('unused');
const root = new URL('..', import.meta.url).pathname;
const docs = defaultCorpus(root).slice(0, 40).map((r) => [tok.bos, ...tok.encode(r.text)]);
const windows = packWindows(docs, { ...o, L });
for (const precision of ['f32', 'bf16'] as const) {
  const master = randomInitModel(o.model, 1, 'transformers'); // f32 masters in float32 storage, as the trainer holds them
  const opt = newAdamW(master.params);
  const times: number[] = [];
  for (let s = 0; s < steps + 1; s++) {
    const w = windows[s % windows.length];
    const t0 = performance.now();
    const work = precision === 'f32' ? master : roundModel(master, 'bf16');
    const labels = Array.from(w.targets, (t, i) => (w.lossMask[i] ? t : -100));
    const r = modelLossGrad(work, w.inputIds, labels, { precision, variant: w.maskVariant, docIds: w.docIds, positions: w.positionIds });
    adamwStep(master.params, r.grads, opt, 1e-3, ADAMW_DEFAULTS, Math.fround);
    if (s > 0) times.push(performance.now() - t0); // step 0 warms the JIT
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(`train step (tiny preset model, L=${L}, ${precision}, anchor/flex): median ${med.toFixed(0)} ms/step, ${(L / (med / 1000)).toFixed(0)} tokens/s (${steps} steps)`);
}

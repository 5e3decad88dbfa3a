// Training golden (llm.c's test_gpt2 idea): 10 optimizer steps of our trainer's step function
// (optimizerStep: forward + backward + global-norm clipping + schedule + AdamW) against
// torch.optim.AdamW on transformers' Qwen2 (fixture from test/fixtures/model/generate_train.py:
// the qwen2_tied_reset model, 10 fixed anchor-layout windows, two runs: decay on matrices only
// with a cosine schedule, decay on every parameter with a constant one). Tolerances (SPEC.md
// "model", training golden):
//   loss f32   |ours32 − torch32| ≤ 2·|torch32 − ours64| + 4 ulp(loss)      (flash-attn's rule)
//   loss f64   |ours64 − torch64| ≤ 1e−6·loss                               (the single-step bound)
//   weights    per element, |ours − torch| ≤ (η_ours + η_torch)·S_i + A_i, where S_i is the
//              element's sensitivity to a norm-relative gradient error (Adam's linearised
//              update, summed over the steps, from our f64 run), η = 32u for f32 and 16u for
//              transformers' double (u = 2⁻²⁴), A_i = 2·10·u·(|p_i| + lr) the optimizer's own
//              f32 roundings.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cloneModel, holdIn, type Model } from '../reference/model/index.ts';
import { loadModel } from '../train/model-files.ts';
import { newAdamW, type AdamWConfig } from '../train/adamw.ts';
import { optimizerStep } from '../train/trainer.ts';
import type { Schedule } from '../train/schedule.ts';

const DIR = join(import.meta.dirname, 'fixtures', 'model');
const fx = JSON.parse(readFileSync(join(DIR, 'train_golden.json'), 'utf8'));
const base = loadModel(join(import.meta.dirname, '..', 'checkpoints', fx.model));
const u = 2 ** -24;

interface TorchRun {
  losses: number[];
  grad_norms: number[];
  lrs: number[];
  weights: Record<string, string>;
}
interface Run {
  name: string;
  decay: 'matrices' | 'all';
  schedule: Schedule;
  f32: TorchRun;
  f64: TorchRun;
}

function dec(b: string, dt: 'f32' | 'f64'): Float64Array {
  const buf = Buffer.from(b, 'base64');
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  return dt === 'f64' ? new Float64Array(ab) : Float64Array.from(new Float32Array(ab));
}

interface Ours {
  model: Model;
  losses: number[];
  lrs: number[];
  /** Σ_s lr_s·|δu_s,i| per unit of norm-relative gradient error (only with `sensitivity`) */
  sens: Map<string, Float64Array>;
}

/**
 * Our 10 steps on the fixture's windows. With `sensitivity`, also the linearised Adam
 * sensitivity: a gradient error |δg_i| ≤ η·G_s (G_s = max|g| of the tensor at step s) moves
 * m̂ by ≤ η·Ḡ (Ḡ the bias-corrected β1-average of G) and v̂ by ≤ η·H_i (H_i the β2-average of
 * 2|g_i|·G), so the update m̂/(√v̂ + eps) by ≤ η·[Ḡ/(√v̂ + eps) + |m̂|·H_i / (2√v̂ (√v̂ + eps)²)].
 */
function ours(run: Run, precision: 'f32' | 'f64', decayAll: boolean, sensitivity = false): Ours {
  // masters held as the trainer holds them: float64 storage for f64, float32 for f32
  const model = holdIn(cloneModel(base), precision);
  const opt = newAdamW(model.params);
  const adamw: AdamWConfig = { beta1: fx.adamw.beta1, beta2: fx.adamw.beta2, eps: fx.adamw.eps, weightDecay: fx.adamw.weight_decay, decayAll };
  const { beta1: b1, beta2: b2, eps } = adamw;
  const losses: number[] = [];
  const lrs: number[] = [];
  const sens = new Map([...model.params].map(([k, v]) => [k, new Float64Array(v.length)]));
  const H = new Map([...model.params].map(([k, v]) => [k, new Float64Array(v.length)]));
  const Gbar = new Map<string, number>();
  fx.windows.forEach((w: { input_ids: number[]; labels: number[] }, s: number) => {
    const batch = { inputIds: w.input_ids, labels: w.labels, variant: fx.variant, docIds: fx.doc_ids, positions: fx.position_ids };
    const r = optimizerStep(model, opt, s, [batch], { precision, clip: fx.clip, adamw, schedule: run.schedule });
    losses.push(r.loss);
    lrs.push(r.lr);
    if (!sensitivity) return;
    const bc1 = 1 - b1 ** (s + 1);
    const bc2 = 1 - b2 ** (s + 1);
    for (const [k, g] of r.grads) {
      let G = 0;
      for (let i = 0; i < g.length; i++) G = Math.max(G, Math.abs(g[i]));
      const gb = b1 * (Gbar.get(k) ?? 0) + (1 - b1) * G;
      Gbar.set(k, gb);
      const m = opt.m.get(k)!;
      const v = opt.v.get(k)!;
      const h = H.get(k)!;
      const S = sens.get(k)!;
      for (let i = 0; i < g.length; i++) {
        h[i] = b2 * h[i] + (1 - b2) * 2 * Math.abs(g[i]) * G;
        const sq = Math.sqrt(v[i] / bc2);
        const du = gb / bc1 / (sq + eps) + (sq > 0 ? (Math.abs(m[i] / bc1) * (h[i] / bc2)) / (2 * sq * (sq + eps) ** 2) : 0);
        S[i] += r.lr * du;
      }
    }
  });
  return { model, losses, lrs, sens };
}

/** elements outside |a − b| ≤ η·S + atol(p), and the largest ratio to the bound */
function compare(a: Model, b: Record<string, string>, dt: 'f32' | 'f64', ref: Ours, eta: number, atol: (p: number) => number): { fails: string[]; worst: number; n: number } {
  const fails: string[] = [];
  let worst = 0;
  let n = 0;
  for (const [name, p] of a.params) {
    const t = dec(b[name], dt);
    const S = ref.sens.get(name)!;
    const p64 = ref.model.params.get(name)!;
    for (let i = 0; i < p.length; i++, n++) {
      const bound = eta * S[i] + atol(p64[i]);
      const d = Math.abs(p[i] - t[i]);
      worst = Math.max(worst, d / bound);
      if (!(d <= bound) && fails.length < 1e4) fails.push(`${name}[${i}]: ours ${p[i]} torch ${t[i]} (|Δ| ${d.toExponential(2)} > ${bound.toExponential(2)})`);
    }
  }
  return { fails, worst, n };
}

const ulp32 = (x: number) => 2 ** (Math.floor(Math.log2(Math.abs(x))) - 23);

for (const run of fx.runs as Run[]) {
  const decayAll = run.decay === 'all';
  const o64 = ours(run, 'f64', decayAll, true);
  const o32 = ours(run, 'f32', decayAll);
  const lrMax = run.schedule.lr;
  const atol32 = (p: number) => 2 * 10 * u * (Math.abs(p) + lrMax);

  test(`${run.name}: the learning rates are torch's (schedule ${run.schedule.kind}, warmup ${run.schedule.warmup})`, () => {
    for (let s = 0; s < 10; s++) assert.ok(Math.abs(o32.lrs[s] - run.f32.lrs[s]) <= 1e-15 * run.f32.lrs[s], `step ${s}: ${o32.lrs[s]} vs ${run.f32.lrs[s]}`);
  });

  test(`${run.name}: the 10 losses (f32 within 2× torch's f32 error + 4 ulp; f64 within 1e-6)`, () => {
    for (let s = 0; s < 10; s++) {
      const ours32 = Math.abs(o32.losses[s] - run.f32.losses[s]);
      const theirs = Math.abs(run.f32.losses[s] - o64.losses[s]);
      assert.ok(ours32 <= 2 * theirs + 4 * ulp32(run.f32.losses[s]), `step ${s} f32: ours ${o32.losses[s]} torch ${run.f32.losses[s]} ours f64 ${o64.losses[s]}`);
      assert.ok(Math.abs(o64.losses[s] - run.f64.losses[s]) <= 1e-6 * Math.abs(run.f64.losses[s]), `step ${s} f64: ours ${o64.losses[s]} torch ${run.f64.losses[s]}`);
    }
  });

  test(`${run.name}: final f32 weights within (η_ours + η_torch)·S + A of torch's, f64 within η64·S`, () => {
    const c32 = compare(o32.model, run.f32.weights, 'f32', o64, 2 * 32 * u, atol32);
    assert.is(c32.fails.length, 0, c32.fails.slice(0, 5).join('\n'));
    const c64 = compare(o64.model, run.f64.weights, 'f64', o64, 16 * u, () => 1e-12);
    assert.is(c64.fails.length, 0, c64.fails.slice(0, 5).join('\n'));
  });

  test(`${run.name}: the other weight-decay rule is rejected (the comparison can fail)`, () => {
    const w64 = ours(run, 'f64', !decayAll, true);
    const w32 = ours(run, 'f32', !decayAll);
    const c = compare(w32.model, run.f32.weights, 'f32', w64, 2 * 32 * u, atol32);
    assert.ok(c.fails.length > c.n / 2, `only ${c.fails.length} of ${c.n} elements fail`);
  });
}
test.run();

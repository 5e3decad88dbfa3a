// Training through the kernel Backend (kernels/model-backend.ts, webasm): a few optimizer steps
// of a tiny model track the reference backend within the kernel contract (SPEC.md, "Kernels":
// per-step loss within the policy's activation rounding, weights' update within a fraction of
// its size), and `drift shift --backend webasm` and `train --attention flash --backend webasm`
// run end to end.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../reference/model/config.ts';
import { cloneModel, type Model } from '../reference/model/index.ts';
import { randomInitModel, roundModel } from '../reference/model/params.ts';
import { referenceBackend, setBackend, type Backend } from '../reference/model/backend.ts';
import { Rng } from '../reference/rng.ts';
import { relativeL2 } from '../reference/norms.ts';
import { ADAMW_DEFAULTS, newAdamW } from '../train/adamw.ts';
import { optimizerStep, type MicroBatch } from '../train/trainer.ts';
import { ALWAYS_KERNELS, kernelModelBackend } from '../kernels/model-backend.ts';
import { closeBackends } from '../kernels/runtime.ts';

const STEPS = 3;
const cfg = parseConfig({
  architectures: ['LlamaForCausalLM'], vocab_size: 40, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256, rope_parameters: { rope_theta: 10000, rope_type: 'default' },
});

function batches(seed: number): MicroBatch[] {
  const rng = new Rng(seed);
  const T = 36;
  return Array.from({ length: STEPS }, () => {
    const ids = Int32Array.from({ length: T }, () => rng.int(0, 39));
    const labels = Int32Array.from({ length: T }, (_, i) => (i + 1 < T ? ids[i + 1] : -100));
    const cut = rng.int(5, 30);
    const docIds = Int32Array.from({ length: T }, (_, i) => (i < 1 ? 0 : i < cut ? 1 : 2));
    return { inputIds: ids, labels, variant: 'anchor' as const, docIds };
  });
}

for (const precision of ['f32', 'bf16'] as const) {
  test(`${STEPS} training steps (${precision}) through the webasm kernel Backend track the reference`, () => {
    const m0 = roundModel(randomInitModel(cfg, 3), 'f32');
    // the trainer's step, optimizerStep, with the flash attention path for bf16 (train
    // --attention flash: the path the kernels implement; the default eager one stays the reference's)
    // count the kernel attention calls: the run must go through them, not the reference fallback
    // the tiny model's ops are below KERNEL_MIN_WORK: forced onto the kernels, the linears kept on
    // the reference (the update guard below is for these ops; the linears' run is the third one)
    const kb = kernelModelBackend('webasm', { blockSize: 8, minWork: { ...ALWAYS_KERNELS, linear: Number.MAX_SAFE_INTEGER } });
    const withLinears = kernelModelBackend('webasm', { blockSize: 8, minWork: ALWAYS_KERNELS });
    let kernelCalls = 0;
    const counted: Backend = {
      ...kb,
      attention: (q, k, v, shape, ids, o) => {
        if ((o.precision === 'f32' || o.precision === 'bf16_flash') && !o.exactQK) kernelCalls++;
        return kb.attention(q, k, v, shape, ids, o);
      },
      attentionBackward: (q, k, v, out, lse, dO, shape, ids, o) => {
        if ((o.precision === 'f32' || o.precision === 'bf16_flash') && !o.exactQK) kernelCalls++;
        return kb.attentionBackward(q, k, v, out, lse, dO, shape, ids, o);
      },
    };
    const runs = [referenceBackend, counted, withLinears].map((be) => {
      const m = cloneModel(m0);
      const opt = newAdamW(m.params);
      const losses = batches(7).map((b, s) => {
        setBackend(be);
        try {
          return optimizerStep(m, opt, s, [b], { precision, bf16Attention: 'bf16_flash', clip: 1, adamw: ADAMW_DEFAULTS, schedule: { lr: 1e-3, warmup: 0, total: STEPS, kind: 'constant' } }).loss;
        } finally {
          setBackend(referenceBackend);
        }
      });
      return { m, losses };
    });
    const [ref, ker, lin] = runs;
    assert.is(kernelCalls, STEPS * 2 * cfg.numLayers, 'attention forward and backward per layer and step');
    // the contract: per-step loss within the policy's activation rounding (f32 1e-5, bf16 2^-6),
    // with the linears on the kernels too
    const tol = precision === 'f32' ? 1e-5 : 2 ** -6;
    for (const run of [ker, lin]) ref.losses.forEach((l, s) => assert.ok(Math.abs(run.losses[s] - l) <= tol * Math.abs(l), `step ${s}: loss ${run.losses[s]} vs reference ${l}`));
    // weights: the kernel run's update differs from the reference's by a small fraction of it
    const update = (m: Model) => new Map([...m0.params].map(([name, w0]) => [name, Float64Array.from(m.params.get(name)!, (w, i) => w - w0[i])]));
    const rel = relativeL2(update(ker.m), update(ref.m)); // NaN, failing the guard, if the reference did not move
    console.log(`${precision}: losses ${ref.losses.map((l, s) => `${l.toFixed(6)}/${ker.losses[s].toFixed(6)}/${lin.losses[s].toFixed(6)}`).join(' ')}; update difference ${rel.toExponential(2)}`);
    // a regression guard, not a derived bound (Adam divides by √v, so a per-element bound would
    // depend on every gradient's size): measured ≈ 1e-6 (f32) and 0 (bf16) here. Not applied to
    // the run with the linears on the kernels: their float32 sums, rounded once to bf16, differ
    // from the reference's float64 ones by a whole bf16 step in about K·2^-16 of the outputs,
    // which moves updates by more than this guard (measured 1.2e-3, bf16)
    assert.ok(rel <= 1e-3, `${precision}: relative L2 difference of the weight updates ${rel}`);
  });
}

test('CLI: drift shift --backend webasm runs and prints the shift table', () => {
  const root = new URL('..', import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), 'anchor-drift-'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), 'drift', 'shift', '--random', 'tiny', '--backend', 'webasm', '--runs', 'f32,bf16 hf', '--attention', 'flash', '--seqs', '1', '--len', '24', '--delta1', '0,4', '--delta2', '4', '--out', dir], { encoding: 'utf8', cwd: dir });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /bf16 hf/);
    const bad = spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), 'drift', 'shift', '--random', 'tiny', '--backend', 'vulkan'], { encoding: 'utf8', cwd: dir });
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /--backend must be one of reference, webasm, cpu/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: train --precision bf16 --attention flash --backend webasm trains and resumes; --attention flash needs bf16', () => {
  const root = new URL('..', import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), 'anchor-train-flash-'));
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), 'train', '--preset', 'tiny', '--seq-len', '32', '--out', join(dir, 'run'), ...args], { encoding: 'utf8', cwd: dir });
  try {
    const flash = ['--precision', 'bf16', '--attention', 'flash', '--backend', 'webasm', '--threads', '1'];
    const r = cli('--steps', '2', ...flash);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /bf16 \(flash attention\)/);
    assert.match(r.stdout, /^steps 2,/m);
    // the attention path is part of the run's identity: resuming without it is refused, with it goes on
    const other = cli('--steps', '3', '--precision', 'bf16', '--resume');
    assert.is(other.status, 2, other.stderr);
    assert.match(other.stderr, /options differ.*bf16Attention: "bf16_flash" in the checkpoint, not set now/);
    const more = cli('--steps', '3', ...flash, '--resume');
    assert.is(more.status, 0, more.stderr);
    assert.match(more.stdout, /^steps 3,/m);
    const bad = cli('--steps', '1', '--precision', 'f32', '--attention', 'flash');
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /--attention flash is a bf16 attention path; give it with --precision bf16 \(got --precision f32\)/);
    assert.not.match(bad.stderr, /^\s+at /m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.after(closeBackends);
test.run();

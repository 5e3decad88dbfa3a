// The model-layer kernels (RMSNorm, SwiGLU, cross-entropy) on every available backend
// against reference/model/layers.ts, and the synchronous kernel Backend against the
// reference model (SPEC.md, "Kernels": the derived bounds are written there).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { bf16Value } from '../reference/bf16.ts';
import { crossEntropy, rmsnormForward, swigluForward } from '../reference/model/layers.ts';
import { policy, type Precision } from '../reference/model/precision.ts';
import { Rng } from '../reference/rng.ts';
import { relativeL2 } from '../reference/norms.ts';
import { crossEntropyPlan, rmsnormPlan, runPlan, swigluPlan } from '../kernels/ops.ts';
import { closeBackends, openBackend, openBackendSync, probeBackends, type KernelBackend } from '../kernels/runtime.ts';
import { ALWAYS_KERNELS, KERNEL_MIN_WORK, kernelModelBackend, PARALLEL_MIN_WORK } from '../kernels/model-backend.ts';
import { KernelPool } from '../kernels/kernel-pool.ts';
import { parseConfig } from '../reference/model/config.ts';
import { randomInitModel, roundModel } from '../reference/model/params.ts';
import { modelLossGrad } from '../reference/model/backward.ts';
import { referenceBackend } from '../reference/model/backend.ts';
import { ropeCosSin } from '../reference/rope.ts';
import { docIdsFromLengths } from '../reference/masks.ts';

const u = 2 ** -24;
const NUM_RUNS = 12;
const probes = await probeBackends(['webasm', 'cpu', 'webgl2', 'webgpu']);
const backends: KernelBackend[] = [];
for (const p of probes) {
  if (p.ok) backends.push(await openBackend(p.name));
  else {
    console.log(`skipped backend ${p.name}: ${p.reason}`);
    test.skip(`${p.name}: not available (${p.reason})`, () => {});
  }
}
const acts = ['f32', 'bf16'] as const;
/** the spacing of the activation dtype at |x| (relative 2^-23 for f32, 2^-7 for bf16 ≥ normal) */
const ulpAct = (x: number, a: Precision) => Math.max(Math.abs(x), 2 ** -126) * (a === 'bf16' ? 2 ** -7 : 2 ** -23);

for (const be of backends) {
  // the FTZ allowances: webgl2, and webgpu where its device flushes subnormals (SwiftShader)
  const gl = be.flushesSubnormals;
  test(`${be.name}: RMSNorm: rstd within ((d+1)/2 + 3)·u of the exact, out bit-exact given rstd`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...acts), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 48 }), fc.integer({ min: 0, max: 2 ** 31 }), async (a, T, d, seed) => {
        const rng = new Rng(seed);
        const pol = policy(a);
        const x = Float64Array.from({ length: T * d }, () => pol.act(rng.normal() * 2 ** rng.int(-4, 4)));
        const w = Float64Array.from({ length: d }, () => pol.act(1 + rng.normal() * 0.1));
        const eps = 1e-6;
        const exact = rmsnormForward(x, T, d, w, eps, policy('f64'));
        const got = await runPlan(rmsnormPlan(x, T, d, w, eps, a), be);
        for (let t = 0; t < T; t++) {
          const bound = ((d + 1) / 2 + 3) * u * exact.rstd[t];
          assert.ok(Math.abs(got.rstd[t] - exact.rstd[t]) <= bound, `rstd[${t}] ${got.rstd[t]} vs exact ${exact.rstd[t]} (bound ${bound})`);
        }
        // given the kernel's rstd, every element is the reference's rounding
        for (let t = 0; t < T; t++)
          for (let i = 0; i < d; i++) {
            const want = pol.act(w[i] * pol.act(x[t * d + i] * got.rstd[t]));
            const g = got.out[t * d + i];
            if (gl && Math.abs(want) < 2 ** -126) continue; // FTZ
            assert.ok(Object.is(g, want) || g === want, `out[${t},${i}] ${g} want ${want}`);
          }
      }),
      { numRuns: NUM_RUNS, seed: 11 },
    );
  });

  // SwiGLU and cross-entropy use the kernels' polynomial expf (not the shader's exp, which GL
  // does not bound), so their bounds hold on every backend; GL flushes subnormals
  test(`${be.name}: SwiGLU: act within 4u (f32) / one bf16 ulp of the reference, out bit-exact given act`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...acts), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 2 ** 31 }), async (a, n, seed) => {
        const rng = new Rng(seed);
        const pol = policy(a);
        // some gates far out (|g| up to ~400): expf's clamps, overflow to +Inf and silu → −0
        const gate = Float64Array.from({ length: n }, () => pol.act(rng.normal() * (rng.float() < 0.1 ? 100 : 4)));
        const up = Float64Array.from({ length: n }, () => pol.act(rng.normal()));
        const ref = swigluForward(gate, up, pol);
        const got = await runPlan(swigluPlan(gate, up, a), be);
        for (let i = 0; i < n; i++) {
          // for g < 0 the kernel forms g·e^g: e^g below 2^-126 carries an absolute error ≤ 2^-149
          // (2^-126 where GL flushes it), times |g| (SPEC.md)
          const tiny = (Math.abs(gate[i]) + 1) * (gl ? 2 ** -126 : 2 ** -149);
          const bound = a === 'f32' ? 4 * u * Math.abs(ref.act[i]) + tiny : Math.max(ulpAct(ref.act[i], a), tiny);
          assert.ok(Math.abs(got.act[i] - ref.act[i]) <= bound, `act[${i}] g=${gate[i]}: ${got.act[i]} vs ${ref.act[i]}`);
          const want = pol.act(got.act[i] * up[i]);
          if (gl && Math.abs(want) < 2 ** -126) continue;
          assert.ok(got.out[i] === want, `out[${i}] ${got.out[i]} want ${want}`);
        }
      }),
      { numRuns: NUM_RUNS, seed: 12 },
    );
  });

  test(`${be.name}: cross-entropy: loss and dlogits within the f32 softmax bound`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...acts), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 60 }), fc.integer({ min: 0, max: 2 ** 31 }), async (a, T, V, seed) => {
        const rng = new Rng(seed);
        const pol = policy(a);
        const logits = Float64Array.from({ length: T * V }, () => Math.fround(rng.normal() * 3));
        const labels = Int32Array.from({ length: T }, () => (rng.float() < 0.2 ? -100 : rng.int(0, V - 1)));
        const exact = crossEntropy(logits, T, V, labels, policy('f64'));
        const ref = crossEntropy(logits, T, V, labels, pol);
        const got = await runPlan(crossEntropyPlan(logits, T, V, labels, a), be);
        assert.is(got.count, ref.count);
        if (!ref.count) return;
        let big = 0;
        for (const x of logits) big = Math.max(big, Math.abs(x));
        // f32 LSE: max exact, Σ exp in order (exp ≤ 1 ulp each) → |Δlse| ≤ (V + 4)·u·(1 + |m|) (SPEC.md)
        const lseBound = (V + 4) * u * (1 + big);
        assert.ok(Math.abs(got.loss - exact.loss) <= lseBound + 2 * u * Math.abs(exact.loss), `loss ${got.loss} vs exact ${exact.loss}`);
        for (let i = 0; i < T * V; i++) {
          const t = Math.floor(i / V);
          if (labels[t] === -100) {
            assert.is(got.dlogits[i], 0);
            continue;
          }
          const p = Math.abs(exact.dlogits[i]) * ref.count + 1;
          const bound = (lseBound + 4 * u) * p / ref.count + ulpAct(exact.dlogits[i], a) + (gl ? 2 ** -126 : 0);
          assert.ok(Math.abs(got.dlogits[i] - exact.dlogits[i]) <= bound, `dlogits[${i}] ${got.dlogits[i]} vs exact ${exact.dlogits[i]}`);
        }
      }),
      { numRuns: NUM_RUNS, seed: 13 },
    );
  });
}

/** one forward + backward of the 2-layer model through kb tracks the reference (SPEC.md, "model Backend") */
function stepTracksReference(kb: ReturnType<typeof kernelModelBackend>): void {
  const cfg = parseConfig({
    architectures: ['LlamaForCausalLM'], vocab_size: 40, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256, rope_parameters: { rope_theta: 10000, rope_type: 'default' },
  });
  for (const [prec, bf16Attention] of [['f32', undefined], ['bf16', 'bf16_flash']] as const) {
    const pol = policy(prec);
    const m = prec === 'f32' ? roundModel(randomInitModel(cfg, 5), 'f32') : roundModel(randomInitModel(cfg, 5), 'bf16');
    const rng = new Rng(9);
    const T = 40;
    const ids = Int32Array.from({ length: T }, () => rng.int(0, 39));
    const labels = Int32Array.from({ length: T }, (_, i) => (i + 1 < T ? ids[i + 1] : -100));
    const docIds = Int32Array.from({ length: T }, (_, i) => (i < 1 ? 0 : i < 17 ? 1 : 2));
    const opts = { precision: prec, variant: 'anchor' as const, docIds, bf16Attention };
    const r = modelLossGrad(m, ids, labels, { ...opts, backend: referenceBackend });
    const k = modelLossGrad(m, ids, labels, { ...opts, backend: kb });
    // the contract: relative loss difference within the policy's activation rounding (f32: 1e-5, bf16: 2^-6)
    const tol = prec === 'f32' ? 1e-5 : 2 ** -6;
    assert.ok(Math.abs(k.loss - r.loss) <= tol * Math.abs(r.loss), `${prec}: loss ${k.loss} vs reference ${r.loss}`);
    const rel = relativeL2(k.grads, r.grads);
    assert.ok(rel <= (prec === 'f32' ? 1e-4 : 0.05), `${prec}: gradient relative L2 difference ${rel}`);
    void pol;
  }
}

test('kernel Backend (webasm), every op but the linears on the kernels: one training step tracks the reference (loss and gradients)', () => {
  // the tiny model's ops are all below KERNEL_MIN_WORK: forced onto the kernels, linears as by default
  stepTracksReference(kernelModelBackend('webasm', { blockSize: 8, minWork: { ...ALWAYS_KERNELS, linear: KERNEL_MIN_WORK.linear } }));
});

test('kernel Backend (webasm), every linear on the matmul kernel: one training step tracks the reference', () => {
  // every op forced onto the kernels: the tiny model's linears (all below KERNEL_MIN_WORK.linear) and its LM head run as matmuls
  const be = openBackendSync('webasm');
  const runSync = be.runSync;
  let calls = 0;
  be.runSync = (k, ...rest) => {
    if (k.name === 'matmul') calls++;
    return runSync.call(be, k, ...rest);
  };
  try {
    stepTracksReference(kernelModelBackend('webasm', { blockSize: 8, minWork: ALWAYS_KERNELS }));
  } finally {
    be.runSync = runSync;
  }
  // per precision: 7 linears per layer × 2 layers + the LM head, forward (1 call) and backward (2)
  assert.is(calls, 2 * 15 * 3);
});

test('kernel Backend linear with a bias (webasm, cpu; forced on the kernel): forward and backward within one act rounding of the reference', () => {
  for (const name of ['webasm', 'cpu'] as const) {
    const kb = kernelModelBackend(name, { minWork: { linear: 0 } });
    for (const prec of ['f32', 'bf16'] as const) {
      const round = policy(prec).act;
      const rng = new Rng(21);
      const T = 9, nIn = 23, nOut = 13;
      const x = Float64Array.from({ length: T * nIn }, () => round(rng.normal()));
      const W = Float64Array.from({ length: nOut * nIn }, () => round(rng.normal() * 0.2));
      const b = Float64Array.from({ length: nOut }, () => round(rng.normal()));
      const dy = Float64Array.from({ length: T * nOut }, () => round(rng.normal()));
      const ulp = prec === 'f32' ? 2 ** -23 : 2 ** -7;
      // float32 sums of ≤ 23 terms: a few f32 ulps of Σ|terms| plus the one act rounding
      const close = (got: ArrayLike<number>, want: ArrayLike<number>, scale: number, what: string) =>
        Array.from(got).forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= 2 * ulp * Math.abs(want[i]) + 64 * 2 ** -24 * scale, `${name} ${prec} ${what}[${i}] ${g} vs ${want[i]}`));
      close(kb.linear(x, T, nIn, W, nOut, b, round), referenceBackend.linear(x, T, nIn, W, nOut, b, round), 10, 'y');
      const got = kb.linearBackward(dy, x, T, nIn, W, nOut, true, round);
      const want = referenceBackend.linearBackward(dy, x, T, nIn, W, nOut, true, round);
      close(got.dx, want.dx, 10, 'dx');
      close(got.dW, want.dW, 20, 'dW');
      assert.equal(Array.from(got.db!), Array.from(want.db!));
    }
  }
});

for (const be of backends)
  test(`${be.name}: swiglu in pieces (swigluPlan's chunk; WebGPU's dispatch limit) is bit-identical to one call`, async () => {
    const rng = new Rng(31);
    const n = 45;
    const gate = Float64Array.from({ length: n }, () => bf16Value(rng.normal() * 4));
    const up = Float64Array.from({ length: n }, () => bf16Value(rng.normal()));
    for (const a of acts) {
      const whole = await runPlan(swigluPlan(gate, up, a, n), be);
      const pieces = await runPlan(swigluPlan(gate, up, a, 8), be);
      for (const key of ['act', 'out'] as const)
        for (let i = 0; i < n; i++) assert.ok(Object.is(pieces[key][i], whole[key][i]), `${a} ${key}[${i}]: ${pieces[key][i]} in pieces, ${whole[key][i]} in one call`);
    }
  });

test('kernel Backend linears on worker threads (webasm, cpu): bit-identical to one thread, row blocks of every size', async () => {
  for (const name of ['webasm', 'cpu'] as const) {
    const one = kernelModelBackend(name, { minWork: { linear: 0 }, threads: 1 });
    const three = kernelModelBackend(name, { minWork: { linear: 0 }, threads: 3 });
    const round = policy('bf16').act;
    // nOut 301: blocks of 104, 104, 93 rows (the last not a multiple of 4); T·nIn·nOut ≥ PARALLEL_MIN_WORK
    for (const [T, nIn, nOut] of [[37, 96, 301], [1, 1024, 1030], [6, 173, 1013]]) {
      assert.ok(T * nIn * nOut >= PARALLEL_MIN_WORK);
      const rng = new Rng(T * nOut);
      const x = Float64Array.from({ length: T * nIn }, () => round(rng.normal() * 2 ** rng.int(-8, 8)));
      const W = Float64Array.from({ length: nOut * nIn }, () => round(rng.normal() * 0.2));
      const dy = Float64Array.from({ length: T * nOut }, () => round(rng.normal()));
      const same = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
        assert.is(got.length, want.length);
        for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) assert.unreachable(`${name} ${T}×${nIn}→${nOut} ${what}[${i}]: ${got[i]} on 3 threads, ${want[i]} on 1`);
      };
      same(three.linear(x, T, nIn, W, nOut, null, round), one.linear(x, T, nIn, W, nOut, null, round), 'y');
      const g3 = three.linearBackward(dy, x, T, nIn, W, nOut, false, round);
      const g1 = one.linearBackward(dy, x, T, nIn, W, nOut, false, round);
      same(g3.dx, g1.dx, 'dx');
      same(g3.dW, g1.dW, 'dW');
    }
    await three.close();
  }
});

test('kernel Backend attention on worker threads (split by kv-head groups): forward and backward bit-identical to one thread', async () => {
  const one = kernelModelBackend('webasm', { threads: 1 });
  const two = kernelModelBackend('webasm', { threads: 2 });
  const three = kernelModelBackend('webasm', { threads: 3 });
  // Hkv 3 over 2 threads (parts of 2 and 1 kv heads) and over 3; Hkv 2 with groups of 4; every variant
  for (const [Hq, Hkv, L, D, variant] of [[6, 3, 128, 16, 'anchor'], [8, 2, 96, 32, 'intra_doc'], [3, 3, 160, 16, 'full']] as const) {
    assert.ok(Hq * L * L * D >= PARALLEL_MIN_WORK);
    const rng = new Rng(Hq * L + D);
    const arr = (n: number) => Float64Array.from({ length: n }, () => bf16Value(rng.normal()));
    const q = arr(Hq * L * D), k = arr(Hkv * L * D), v = arr(Hkv * L * D), dO = arr(Hq * L * D);
    const ids = docIdsFromLengths([Math.floor(L / 3), L - Math.floor(L / 3) - 1], true);
    const shape = { Hq, Hkv, L, D };
    const o = { variant, precision: 'bf16_flash' as const, scale: 1 / Math.sqrt(D) };
    const f1 = one.attention(q, k, v, shape, ids, o);
    const b1 = one.attentionBackward(q, k, v, f1.out, f1.lse, dO, shape, ids, o);
    for (const [n, be] of [[2, two], [3, three]] as const) {
      const f = be.attention(q, k, v, shape, ids, o);
      const b = be.attentionBackward(q, k, v, f1.out, f1.lse, dO, shape, ids, o);
      for (const [what, got, want] of [['out', f.out, f1.out], ['lse', f.lse, f1.lse], ['dq', b.dq, b1.dq], ['dk', b.dk, b1.dk], ['dv', b.dv, b1.dv]] as const)
        for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) assert.unreachable(`${variant} Hq${Hq} Hkv${Hkv} ${what}[${i}]: ${got[i]} on ${n} threads, ${want[i]} on 1`);
    }
  }
  await two.close();
  await three.close();
});

test('kernel Backend RoPE: bit for bit the reference on the f32, hf and paper paths, both layouts; f64 and exact stages stay the reference', () => {
  const kb = kernelModelBackend('webasm', { threads: 1, minWork: ALWAYS_KERNELS });
  fc.assert(
    fc.property(fc.constantFrom('f32', 'hf', 'paper', 'f64'), fc.constantFrom('half', 'interleaved'), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 }), fc.constantFrom(2, 8, 64), fc.integer({ min: 0, max: 2 ** 31 }), (path, layout, H, T, D, seed) => {
      const rng = new Rng(seed);
      const cfg = { dim: D, base: 1e4, path: path as 'f32' | 'hf' | 'paper' | 'f64', layout: layout as 'half' | 'interleaved' };
      const { cos, sin } = ropeCosSin(Int32Array.from({ length: T }, (_, i) => i * 37), cfg);
      const round = path === 'hf' ? bf16Value : path === 'f64' ? (x: number) => x : Math.fround;
      const x = Float64Array.from({ length: H * T * D }, () => round(rng.normal() * 4));
      const want = referenceBackend.ropeApply(x, H, T, D, cos, sin, cfg);
      const got = kb.ropeApply(x, H, T, D, cos, sin, cfg);
      for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], want[i]), `${path} ${layout} H${H} T${T} D${D} [${i}] ${got[i]} vs ${want[i]}`);
    }),
    { numRuns: 60, seed: 12 },
  );
});

test('kernel Backend routing: each op runs on the reference just below its KERNEL_MIN_WORK size (no kernel call) and on the kernels at it', () => {
  const be = openBackendSync('webasm');
  const runSync = be.runSync!;
  let calls = 0;
  be.runSync = (k, ...rest) => {
    calls++;
    return runSync.call(be, k, ...rest);
  };
  try {
    const kb = kernelModelBackend('webasm', { threads: 1 });
    const pol = policy('bf16', { bf16Attention: 'bf16_flash' });
    const rng = new Rng(4);
    const arr = (n: number) => Float64Array.from({ length: n }, () => bf16Value(rng.normal()));
    const attn = (L: number) => {
      const D = 16, shape = { Hq: 1, Hkv: 1, L, D }, ids = new Int32Array(L), o = { variant: 'full' as const, precision: 'bf16_flash' as const };
      const q = arr(L * D), k = arr(L * D), v = arr(L * D);
      const f = referenceBackend.attention(q, k, v, shape, ids, o);
      return { fwd: () => kb.attention(q, k, v, shape, ids, o), bwd: () => kb.attentionBackward(q, k, v, f.out, f.lse, arr(L * D), shape, ids, o) };
    };
    // RoPE over H = 1 head of D = 64: T positions
    const rope = (T: number) => () => {
      const cs = ropeCosSin(Int32Array.from({ length: T }, (_, i) => i), { dim: 64, base: 1e4, path: 'hf', layout: 'half' });
      return kb.ropeApply(arr(T * 64), 1, T, 64, cs.cos, cs.sin, { dim: 64, base: 1e4, path: 'hf', layout: 'half' });
    };
    // sizes from the thresholds: just below (one row, key or column fewer) and exactly at
    const W = KERNEL_MIN_WORK;
    const lin = W.linear / (16 * 32), rms = W.rmsnorm / 64, ce = W.crossEntropy / 256, L = Math.sqrt(W.attention / 16), Lb = Math.sqrt(W.attentionBackward / 16);
    assert.ok([lin, rms, ce, L, Lb].every(Number.isInteger), 'the thresholds divide into whole test shapes');
    const cases: [string, number, () => unknown, () => unknown][] = [
      ['linear', W.linear, () => kb.linear(arr(16 * 32), 16, 32, arr((lin - 1) * 32), lin - 1, null, bf16Value), () => kb.linear(arr(16 * 32), 16, 32, arr(lin * 32), lin, null, bf16Value)],
      ['rmsnorm', W.rmsnorm, () => kb.rmsnorm(arr((rms - 1) * 64), rms - 1, 64, arr(64), 1e-5, pol), () => kb.rmsnorm(arr(rms * 64), rms, 64, arr(64), 1e-5, pol)],
      ['swiglu', W.swiglu, () => kb.swiglu(arr(W.swiglu - 1), arr(W.swiglu - 1), pol), () => kb.swiglu(arr(W.swiglu), arr(W.swiglu), pol)],
      ['crossEntropy', W.crossEntropy, () => kb.crossEntropy(arr((ce - 1) * 256), ce - 1, 256, new Int32Array(ce - 1), pol), () => kb.crossEntropy(arr(ce * 256), ce, 256, new Int32Array(ce), pol)],
      ['attention', W.attention, attn(L - 1).fwd, attn(L).fwd],
      ['attentionBackward', W.attentionBackward, attn(Lb - 1).bwd, attn(Lb).bwd],
      ['rope', W.rope, rope(W.rope / 64 - 1), rope(W.rope / 64)],
    ];
    for (const [op, size, below, at] of cases) {
      calls = 0;
      below();
      assert.is(calls, 0, `${op} below ${size}: ran a kernel`);
      at();
      assert.ok(calls > 0, `${op} at ${size}: no kernel ran`);
    }
  } finally {
    be.runSync = runSync;
  }
});

test('KernelPool: a worker that cannot open its backend gives one line, every time', async () => {
  const pool = new KernelPool('no-such-backend' as 'webasm', 2);
  const local = () => new Float32Array(4);
  for (let i = 0; i < 2; i++) assert.throws(() => pool.run(new Float32Array(8 * 2), new Float32Array(2 * 1), 8, 2, 1, 'f32', 4, local), /kernel worker threads could not start: .*; run with one thread \(--threads 1\)/);
  await pool.close();
});

test.after(closeBackends);
test.run();

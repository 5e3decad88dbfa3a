// The model Backend on generated kernels (kernels/model-backend.ts) against the reference and
// against PyTorch, in one run, interleaved, best of --reps (default 2):
// 1. one forward of a SmolLM2-135M-shaped random model (30 layers, hidden 576, intermediate
//    1536, 9 heads / 3 kv heads, vocab 49152, tied LM head), bf16 policy (bf16_flash attention),
//    per T in --seq-len (default 128,512): the reference backend (T ≤ --reference-max, default
//    128: it takes minutes beyond), kernelModelBackend('webasm') on 1 and --threads threads
//    (default 2; checked bit-identical), and torch f32 eager on 1 and --threads threads
//    (bench/peers/torch_model.py, run by the Python in ANCHOR_PYTHON, default python3; skipped
//    when it has no torch); peak RSS of this process and of the torch one.
// 2. --sizes: one linear (forward, backward) per shape, and the other ops, reference vs kernel,
//    to place KERNEL_MIN_WORK; then small whole models with the default thresholds (never slower).
// 3. --storage-ab: the same forward (--threads threads) with the weights held in float64 instead
//    of their float32 storage, interleaved (what holding weights in their storage precision
//    saves; off by default, since the float64 copy raises the process's peak RSS).
// Every kernel result is checked against the reference (relative L2) before it is timed.
// Run: npx tsx bench/model.bench.ts [--layers 30] [--seq-len 128,512] [--threads 2] [--reps 2] [--out bench/MODEL.md] [--sizes] [--no-model] [--storage-ab]

import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bf16Value } from '../reference/bf16.ts';
import { parseConfig } from '../reference/model/config.ts';
import { modelForward } from '../reference/model/forward.ts';
import { holdIn, randomInitModel, roundModel, type Model } from '../reference/model/params.ts';
import { referenceBackend, type Backend } from '../reference/model/backend.ts';
import { Rng } from '../reference/rng.ts';
import { relativeL2 } from '../reference/norms.ts';
import { ropeCosSin } from '../reference/rope.ts';
import { ALWAYS_KERNELS, KERNEL_MIN_WORK, kernelModelBackend } from '../kernels/model-backend.ts';
import { policy } from '../reference/model/precision.ts';
import { closeBackends } from '../kernels/runtime.ts';
import { writeFileAtomic } from '../io/lines.ts';

const { values: opt } = parseArgs({
  options: {
    layers: { type: 'string', default: '30' },
    'seq-len': { type: 'string', default: '128,512' },
    'reference-max': { type: 'string', default: '128' },
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '2' },
    out: { type: 'string' },
    sizes: { type: 'boolean', default: false },
    'no-model': { type: 'boolean', default: false },
    'storage-ab': { type: 'boolean', default: false },
  },
});
const layers = Number(opt.layers);
const seqLens = opt['seq-len'].split(',').map(Number);
const refMax = Number(opt['reference-max']);
const threads = Number(opt.threads);
const root = new URL('..', import.meta.url).pathname;
const reps = Number(opt.reps);
const ms = (x: number) => (x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(0)} ms`);
const time = (fn: () => unknown) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

console.log(`model Backend on webasm kernels vs the reference and torch (Node ${process.version}; KERNEL_MIN_WORK.linear = ${KERNEL_MIN_WORK.linear})`);

if (opt.sizes) {
  // one linear forward y = round(x·Wᵀ), bf16, per shape; the kernel forced on (minWork.linear 0)
  const forced = kernelModelBackend('webasm', { minWork: { linear: 0 } });
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
    const e = relativeL2(got, want);
    if (!(e <= 2 ** -7)) throw new Error(`linear ${t}×${nIn}→${nOut}: kernel vs reference relative L2 ${e}`);
    const dy = Float64Array.from({ length: t * nOut }, () => bf16Value(rng.normal()));
    const wantB = referenceBackend.linearBackward(dy, x, t, nIn, W, nOut, false, bf16Value);
    const gotB = forced.linearBackward(dy, x, t, nIn, W, nOut, false, bf16Value);
    const eb = Math.max(relativeL2(gotB.dx, wantB.dx), relativeL2(gotB.dW, wantB.dW));
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

  // the other ops, forced onto the kernels, around their KERNEL_MIN_WORK sizes (bf16 policy)
  const all = kernelModelBackend('webasm', { minWork: ALWAYS_KERNELS, threads: 1 });
  const pol = policy('bf16', { bf16Attention: 'bf16_flash' });
  const rng = new Rng(5);
  const arr = (n: number) => Float64Array.from({ length: n }, () => bf16Value(rng.normal()));
  const best = (f: () => unknown) => {
    f();
    let b = Infinity;
    for (let i = 0; i < 15; i++) b = Math.min(b, time(f));
    return b;
  };
  console.log('');
  console.log(`| op (forced onto the kernel) | size | reference | kernel | ref ÷ kernel | KERNEL_MIN_WORK |`);
  console.log('|---|---|---|---|---|---|');
  const row = (op: keyof typeof KERNEL_MIN_WORK, what: string, size: number, ref: () => unknown, ker: () => unknown) => {
    const tr = best(ref), tk = best(ker);
    console.log(`| ${op} ${what} | ${size} | ${ms(tr)} | ${ms(tk)} | ${(tr / tk).toFixed(2)}× | ${KERNEL_MIN_WORK[op]} |`);
  };
  for (const [T, d] of [[16, 64], [64, 128], [128, 256], [256, 512], [512, 512], [2048, 512]]) {
    const x = arr(T * d), w = arr(d);
    row('rmsnorm', `T ${T}, d ${d}`, T * d, () => referenceBackend.rmsnorm(x, T, d, w, 1e-5, pol), () => all.rmsnorm(x, T, d, w, 1e-5, pol));
  }
  for (const n of [1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18]) {
    const g = arr(n), u = arr(n);
    row('swiglu', `${n} values`, n, () => referenceBackend.swiglu(g, u, pol), () => all.swiglu(g, u, pol));
  }
  for (const [T, V] of [[8, 64], [16, 256], [64, 512], [128, 4096]]) {
    const l = arr(T * V), lab = Int32Array.from({ length: T }, () => rng.int(0, V - 1));
    row('crossEntropy', `T ${T}, V ${V}`, T * V, () => referenceBackend.crossEntropy(l, T, V, lab, pol), () => all.crossEntropy(l, T, V, lab, pol));
  }
  for (const [H, T, D] of [[1, 16, 64], [1, 64, 64], [3, 128, 64], [9, 128, 64], [9, 512, 64]]) {
    const cfg = { dim: D, base: 1e4, path: 'hf' as const, layout: 'half' as const };
    const { cos, sin } = ropeCosSin(Int32Array.from({ length: T }, (_, i) => i), cfg);
    const x = arr(H * T * D);
    row('rope', `hf, H ${H}, T ${T}, D ${D}`, H * T * D, () => referenceBackend.ropeApply(x, H, T, D, cos, sin, cfg), () => all.ropeApply(x, H, T, D, cos, sin, cfg));
  }
  for (const [L, D, H] of [[16, 8, 2], [32, 16, 4], [64, 16, 4], [128, 32, 4], [256, 64, 8]]) {
    const q = arr(H * L * D), k = arr(H * L * D), v = arr(H * L * D), dO = arr(H * L * D), ids = new Int32Array(L);
    const shape = { Hq: H, Hkv: H, L, D };
    const o = { variant: 'full' as const, precision: 'bf16_flash' as const, scale: 1 / Math.sqrt(D) };
    const f = referenceBackend.attention(q, k, v, shape, ids, o);
    row('attention', `L ${L}, D ${D}, H ${H}`, H * L * L * D, () => referenceBackend.attention(q, k, v, shape, ids, o), () => all.attention(q, k, v, shape, ids, o));
    row('attentionBackward', `L ${L}, D ${D}, H ${H}`, H * L * L * D, () => referenceBackend.attentionBackward(q, k, v, f.out, f.lse, dO, shape, ids, o), () => all.attentionBackward(q, k, v, f.out, f.lse, dO, shape, ids, o));
  }

  // whole small models, bf16: with the default thresholds the kernel Backend is never slower;
  // every op but the linears forced onto the kernels shows what the thresholds are for
  const dflt = kernelModelBackend('webasm');
  const forcedOps = kernelModelBackend('webasm', { minWork: { ...ALWAYS_KERNELS, linear: KERNEL_MIN_WORK.linear } });
  console.log('');
  console.log(`| small model forward (2 layers, bf16) | reference | kernel Backend (default KERNEL_MIN_WORK) | ref ÷ kernel | every op but the linears forced onto the kernels | ref ÷ forced |`);
  console.log('|---|---|---|---|---|---|');
  for (const [V, hid, nh, nkv, inter, T] of [[64, 16, 2, 1, 32, 8], [128, 32, 4, 2, 64, 16], [256, 64, 4, 2, 128, 64], [512, 128, 8, 4, 256, 128], [1024, 256, 8, 4, 512, 256]]) {
    const c = parseConfig({
      architectures: ['LlamaForCausalLM'], vocab_size: V, hidden_size: hid, intermediate_size: inter, num_hidden_layers: 2, num_attention_heads: nh,
      num_key_value_heads: nkv, max_position_embeddings: 4096, rms_norm_eps: 1e-5, tie_word_embeddings: true, rope_parameters: { rope_theta: 10000, rope_type: 'default' },
    });
    const mm = roundModel(randomInitModel(c, 1, 'transformers'), 'bf16');
    const ids = Int32Array.from({ length: T }, () => rng.int(0, V - 1));
    const f = (be: Backend) => modelForward(mm, ids, { precision: 'bf16', bf16Attention: 'bf16_flash', variant: 'full', backend: be, keepActivations: false });
    const tr = best(() => f(referenceBackend)), tk = best(() => f(dflt)), tf = best(() => f(forcedOps));
    console.log(`| vocab ${V}, hidden ${hid}, T ${T} | ${ms(tr)} | ${ms(tk)} | ${(tr / tk).toFixed(2)}× | ${ms(tf)} | ${(tr / tf).toFixed(2)}× |`);
  }
}

if (!opt['no-model']) {
  const cfg = parseConfig({
    architectures: ['LlamaForCausalLM'], vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: layers,
    num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 8192, rms_norm_eps: 1e-5, tie_word_embeddings: true,
    rope_parameters: { rope_theta: 100000, rope_type: 'default' },
  });
  let t0 = performance.now();
  const m = roundModel(randomInitModel(cfg, 1, 'transformers'), 'bf16');
  console.log(`\nSmolLM2-135M-shaped random model, ${layers} layers, bf16 weights (float32 storage): built in ${ms(performance.now() - t0)}`);
  const m64 = opt['storage-ab'] ? holdIn(m, 'f64') : null;
  const one = kernelModelBackend('webasm', { threads: 1 });
  const many = kernelModelBackend('webasm', { threads });
  const python = process.env.ANCHOR_PYTHON ?? 'python3';
  const torchOk = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (!torchOk) console.log(`torch: \`${python} -c "import torch"\` fails here (set ANCHOR_PYTHON to a Python with torch); its columns are skipped`);
  const torchThreads = [...new Set([1, threads])];
  /** one torch peer run (one warm-up + one timed forward per thread count): best_ms per thread count, peak RSS */
  const torchOnce = (T: number): { ms: Map<number, number>; rss: number; version: string } => {
    const out = execFileSync(python, [join(root, 'bench/peers/torch_model.py'), '--seq-len', String(T), '--layers', String(layers), '--threads', torchThreads.join(','), '--reps', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20 * 60 * 1000 });
    const j = JSON.parse(out.trim().split('\n').pop()!) as { torch: string; results: { threads: number; best_ms: number }[]; peak_rss_mib: number };
    return { ms: new Map(j.results.map((r) => [r.threads, r.best_ms])), rss: j.peak_rss_mib, version: j.torch };
  };
  const rows: string[] = [];
  let peerVersion = 'n/a';
  for (const T of seqLens) {
    const rng = new Rng(3);
    const ids = Int32Array.from({ length: T }, () => rng.int(0, cfg.vocabSize - 1));
    const withRef = T <= refMax;
    const fwd = (be: Backend, model: Model = m) => modelForward(model, ids, { precision: 'bf16', bf16Attention: 'bf16_flash', variant: 'full', backend: be, keepActivations: false }).logits;
    // warm-up (JIT, kernel compiles, worker start) and the checks: N threads bit-identical to 1,
    // and logits against the reference's where it runs
    t0 = performance.now();
    const l1 = fwd(one);
    const lN = fwd(many);
    for (let i = 0; i < l1.length; i++) if (!Object.is(l1[i], lN[i])) throw new Error(`T ${T}: logits[${i}] differ between 1 and ${threads} threads`);
    if (withRef) {
      const e = relativeL2(l1, fwd(referenceBackend));
      console.log(`T ${T}: logits relative L2 vs the reference backend ${e.toExponential(2)}`);
      if (!(e <= 0.05)) throw new Error(`T ${T}: kernel logits differ from the reference (relative L2 ${e})`);
    }
    if (m64) {
      const l64 = fwd(many, m64);
      for (let i = 0; i < l1.length; i++) if (!Object.is(l1[i], l64[i])) throw new Error(`T ${T}: logits[${i}] differ between float32 and float64 weight storage`);
    }
    console.log(`T ${T}: warm-up + checks ${ms(performance.now() - t0)}; 1 and ${threads} threads bit-identical${m64 ? ', float32 and float64 weight storage bit-identical' : ''}`);
    let ref = Infinity, k1 = Infinity, kN = Infinity, k64 = Infinity;
    const torchBest = new Map<number, number>();
    let torchRss = NaN, torchVersion = '';
    for (let r = 0; r < reps; r++) {
      if (withRef) ref = Math.min(ref, time(() => fwd(referenceBackend)));
      k1 = Math.min(k1, time(() => fwd(one)));
      kN = Math.min(kN, time(() => fwd(many)));
      if (m64) k64 = Math.min(k64, time(() => fwd(many, m64)));
      if (torchOk) {
        const t = torchOnce(T);
        for (const [n, v] of t.ms) torchBest.set(n, Math.min(torchBest.get(n) ?? Infinity, v));
        torchRss = t.rss;
        torchVersion = t.version;
      }
      console.log(`T ${T}, round ${r + 1}/${reps}: ours ${ms(k1)} (1 thread), ${ms(kN)} (${threads})${m64 ? `, ${ms(k64)} (${threads}, float64 weights)` : ''}; torch ${[...torchBest].map(([n, v]) => `${ms(v)} (${n})`).join(', ') || 'n/a'}`);
    }
    if (m64) console.log(`T ${T}: weights in float64 ÷ float32 storage, ${threads} threads: ${(k64 / kN).toFixed(3)}× (${ms(k64)} vs ${ms(kN)})`);
    const rss = process.resourceUsage().maxRSS / 1024;
    const tq = (n: number) => torchBest.get(n);
    const ratio = (ours: number, n: number) => (tq(n) ? `${(ours / tq(n)!).toFixed(1)}×` : 'n/a');
    rows.push(
      `| ${T} | ${withRef ? ms(ref) : '—'} | ${ms(k1)} | ${ms(kN)} | ${withRef ? `${(ref / kN).toFixed(2)}×` : '—'} | ${tq(1) ? ms(tq(1)!) : 'n/a'} | ${tq(threads) ? ms(tq(threads)!) : 'n/a'} | ${ratio(kN, 1)} | ${ratio(kN, threads)} | ${rss.toFixed(0)} MiB | ${Number.isNaN(torchRss) ? 'n/a' : `${torchRss.toFixed(0)} MiB`} |`,
    );
    if (torchVersion) peerVersion = torchVersion;
  }
  const lines = [
    `# Model forward: kernels vs reference vs PyTorch`,
    '',
    `bench/model.bench.ts, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; ${availableParallelism()} usable cores (shared: numbers are noisy).`,
    '',
  ];
  const say = (l: string) => {
    console.log(l);
    lines.push(l);
  };
  console.log('');
  say(`One forward, SmolLM2-135M shape, ${layers} layers, bf16 policy (bf16_flash attention), best of ${reps} interleaved rounds; torch ${peerVersion}: f32 eager, the same shape, random weights (bench/peers/torch_model.py); ours = kernelModelBackend('webasm').`);
  console.log('');
  say('');
  say(`| T | reference | ours, 1 thread | ours, ${threads} threads | reference ÷ ours (${threads}) | torch, 1 thread | torch, ${threads} threads | ours (${threads}) ÷ torch (1) | ours (${threads}) ÷ torch (${threads}) | peak RSS, ours (process) | peak RSS, torch |`);
  say('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) say(r);
  if (opt.out) writeFileAtomic(opt.out, lines.join('\n') + '\n');
}
await closeBackends();

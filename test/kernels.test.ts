// Every generated kernel on every available backend against the reference (SPEC.md,
// "Kernels"): elementwise kernels and pinned-order sums bit-exact; attention held to
// flash-attn's rule (error vs the f64 reference ≤ 2× the reference's own same-precision
// error). GL backends flush subnormals: where they do, exactly that is asserted.
// Backends that cannot open here (headlessgl without its native build, webgpu without Dawn's
// bindings or a Vulkan adapter) report skipped. webgpu runs webasm's generated kernels as
// WGSL and is held to webasm's contracts, with the FTZ allowance where its device flushes
// subnormals (SwiftShader does: a subnormal input reads as ±0 and comes back as it went in).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { bf16Value, bitsToF32, bulkFromF32, f32ToBits, toF32 } from '../reference/bf16.ts';
import { ropeApply as refRope, type RopeLayout } from '../reference/rope.ts';
import { attentionBackward as refAttnBackward, attentionForward as refAttn } from '../reference/attention.ts';
import { blockMask, docIdsFromLengths, isAllowed, type Variant } from '../reference/masks.ts';
import { Rng } from '../reference/rng.ts';
import { matmulF32, matmulF32At } from '../reference/matmul.ts';
import { assertKernelSize, attentionBackward, attentionForward, bf16Round, blockTable, buildChunks, keyBounds, matmul, matmulChunks, matmulPlan, matmulRows, MAX_KERNEL_ELEMENTS, ropeApply, runPlan } from '../kernels/ops.ts';
import { blockKinds } from '../reference/masks.ts';
import { closeBackends, constantArgs, INSTALL_HINT, orderArgs, resolveAuto, openBackend, webgpuAdapterInfo } from '../kernels/runtime.ts';
import { GENERATED } from '../generated/index.ts';
import type { BackendName } from '../kernels/types.ts';
import { availableBackends } from './backends.ts';

const NUM_RUNS = 20;

test('kernels take named arguments: ordered by the generated params, a missing or unknown name throws', () => {
  const k = GENERATED.matmul.webasm;
  const a = new Float32Array(1);
  // webasm's matmul takes K and N as @constants (constantArgs), not as parameters
  assert.equal(orderArgs(k, { outBf16: 1, N: 3, K: 2, b: a, a }), [a, a, 1]);
  assert.equal(constantArgs(k, { outBf16: 1, N: 3, K: 2, b: a, a }), { K: 2, N: 3 });
  assert.throws(() => orderArgs(k, { a, b: a, K: 2, N: 3 }), /kernel matmul takes \(a, b, outBf16; constants K, N\); missing: outBf16/);
  assert.throws(() => orderArgs(k, { a, b: a, N: 3, outBf16: 0 }), /missing: K/);
  assert.equal(orderArgs(GENERATED.matmul.webgl2, { outBf16: 1, N: 3, K: 2, b: a, a }), [a, a, 2, 3, 1]);
  assert.throws(() => orderArgs(k, { a, b: a, K: 2, N: 3, outBf16: 0, M: 1 }), /unknown: M/);
});
const { backends, probes } = await availableBackends();

const sameValue = (a: number, b: number) => (a !== a && b !== b) || Object.is(a, b);
const isSub32 = (x: number) => x !== 0 && Math.abs(x) < 2 ** -126;

// webasm holds index arithmetic as float32: every kernel argument and output must stay < 2^24
// elements. The planner's chunks cover c exactly once, never split K, and respect the limit.
test('matmul chunking: chunks tile [M, N], keep each a (padded), b and output within the limit; webasm refuses ≥ 2^24', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 60 }), fc.constantFrom(1, 4), fc.integer({ min: 120, max: 2000 }), (M, K, N, R, limit) => {
      if (R * K > limit) return;
      const cover = new Uint8Array(M * N);
      for (const c of matmulChunks(M, K, N, R, limit)) {
        const Mp = Math.ceil((c.m1 - c.m0) / R) * R;
        const Nc = c.n1 - c.n0;
        assert.ok(Mp * K <= limit && K * Nc <= limit && Mp * Nc <= limit, `chunk ${JSON.stringify(c)} over ${limit}`);
        for (let m = c.m0; m < c.m1; m++) for (let n = c.n0; n < c.n1; n++) cover[m * N + n]++;
      }
      assert.ok(cover.every((x) => x === 1), 'every output exactly once');
    }),
    { numRuns: 200, seed: 5 },
  );
  // the SmolLM2-135M LM head (576 × 49152) as b, and as the dW output: split in two
  assert.is(matmulChunks(128, 576, 49152, 4).length, 2);
  assert.is(matmulChunks(49152, 128, 576, 4).length, 2);
  assert.ok(matmulChunks(4, 576, 49152, 4).every((c) => 576 * (c.n1 - c.n0) <= MAX_KERNEL_ELEMENTS));
  assert.throws(() => assertKernelSize('webasm', 'matmul', { a: new Float32Array(1), b: { length: 2 ** 24 } as unknown as Float32Array }, [1]), /argument b has 16777216 elements/);
  assert.throws(() => assertKernelSize('webasm', 'matmul', {}, [2 ** 22, 1], 4), /output of 16777216 elements/);
  assertKernelSize('webasm', 'matmul', { b: { length: 2 ** 24 - 1 } as unknown as Float32Array }, [2 ** 24 - 1]);
  assertKernelSize('cpu', 'matmul', { b: { length: 2 ** 24 } as unknown as Float32Array }, [1]);
});
const f32Bits = fc.integer({ min: 0, max: 0xffffffff });

for (const be of backends) {
  const ftz = be.flushesSubnormals;
  test(`${be.name}: bf16Round is bit-exact (ties, subnormals, overflow, NaN)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(f32Bits, { minLength: 1, maxLength: 300 }), async (bits) => {
        const x = new Float32Array(new Uint32Array(bits).buffer);
        const want = Array.from(bulkFromF32(x), toF32);
        const got = await bf16Round(x, be);
        for (let i = 0; i < x.length; i++) {
          if (sameValue(got[i], want[i])) continue;
          // an FTZ backend may flush a subnormal input or result to a zero of the same sign
          if (ftz && (isSub32(x[i]) || isSub32(want[i])) && got[i] === 0 && Object.is(got[i], Math.sign(x[i]) < 0 ? -0 : 0)) continue;
          // WGSL on a flushing device reads a subnormal input as ±0, so bf16(±0) = ±0 returns the
          // input as it came: its bits unchanged (a copy, never a rounding, of the subnormal)
          if (ftz && be.name === 'webgpu' && isSub32(x[i]) && Object.is(got[i], x[i])) continue;
          assert.unreachable(`x=${x[i]} (0x${f32ToBits(x[i]).toString(16)}): got ${got[i]}, want ${want[i]}`);
        }
      }),
      { numRuns: NUM_RUNS, seed: 1 },
    );
    // the classic cases
    const edge = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -23, bitsToF32(0x7f7f8000), bitsToF32(0x7f7fffff), -(2 ** -133) * 1.5, 3.4028234663852886e38, 0, -0];
    const got = await bf16Round(Float32Array.from(edge), be);
    edge.forEach((x, i) => assert.ok(sameValue(got[i], bf16Value(x)) || (ftz && isSub32(x) && (got[i] === 0 || (be.name === 'webgpu' && got[i] === Math.fround(x)))), `edge ${x}`));
  });

  test(`${be.name}: matmul split into chunks (small limit) is bit-exact`, async () => {
    const R = matmulRows(be.name);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 17 }), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 }), async (M, K, N, outBf16, seed) => {
        const rng = new Rng(seed);
        const a = Float64Array.from({ length: M * K }, () => bf16Value(rng.normal() * 2 ** rng.int(-20, 20)));
        const b = Float64Array.from({ length: K * N }, () => bf16Value(rng.normal()));
        const want = matmulF32(a, b, M, K, N, outBf16);
        const got = await runPlan(matmulPlan(a, b, M, K, N, outBf16 ? 'bf16' : 'f32', R, Math.max(R * K, 24)), be);
        for (let i = 0; i < want.length; i++) assert.ok(sameValue(got[i], want[i]), `[${i}] got ${got[i]} want ${want[i]} (M${M} K${K} N${N})`);
      }),
      { numRuns: NUM_RUNS, seed: 3 },
    );
  });
  if (be.name === 'webasm')
    test('webasm: a matmul whose b has > 2^24 elements (the SmolLM2-135M LM head, 576 × 49152) is right on sampled outputs', async () => {
      const M = 4, K = 576, N = 49152;
      // small multiples of 2^-6 (bf16 values); a pattern that differs across the whole of b
      const a = Float32Array.from({ length: M * K }, (_, i) => (((i * 7919) % 255) - 127) / 64);
      const b = new Float32Array(K * N);
      for (let i = 0; i < b.length; i++) b[i] = ((Math.imul(i, 0x9e3779b1) >>> 24) - 127) / 64;
      const got = await matmul(a, b, M, K, N, 'f32', be);
      const rng = new Rng(17);
      for (let s = 0; s < 64; s++) {
        const m = rng.int(0, M - 1), n = s < 4 ? N - 1 - s : rng.int(0, N - 1);
        const acc = matmulF32At(a, b, K, N, m, n);
        assert.ok(sameValue(got[m * N + n], acc), `c[${m},${n}] got ${got[m * N + n]} want ${acc}`);
      }
    });
  test(`${be.name}: matmul (bf16 in, f32 accumulate, f32/bf16 out) is bit-exact`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 9 }), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 }), async (M, K, N, outBf16, seed) => {
        const rng = new Rng(seed);
        const a = Float64Array.from({ length: M * K }, () => bf16Value(rng.normal() * 2 ** rng.int(-20, 20)));
        const b = Float64Array.from({ length: K * N }, () => bf16Value(rng.normal()));
        const want = matmulF32(a, b, M, K, N, outBf16);
        const got = await matmul(a, b, M, K, N, outBf16 ? 'bf16' : 'f32', be);
        for (let i = 0; i < want.length; i++) assert.ok(sameValue(got[i], want[i]), `[${i}] got ${got[i]} want ${want[i]} (M${M} K${K} N${N})`);
      }),
      { numRuns: NUM_RUNS, seed: 2 },
    );
  });

  test(`${be.name}: rope.apply (hf, f32, paper; both layouts) is bit-exact vs reference/rope.ts`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('hf', 'f32', 'paper'), fc.constantFrom<RopeLayout>('half', 'interleaved'), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 2 ** 31 }), async (path, layout, H, T, D2, seed) => {
        const D = 2 * D2;
        const rng = new Rng(seed);
        const store = path === 'f32' ? Math.fround : bf16Value;
        const x = Float64Array.from({ length: H * T * D }, () => store(rng.normal() * 4));
        // cos/sin as the path stores them: f32 (f32, paper) or bf16 (hf)
        const angle = Float64Array.from({ length: T * D }, () => rng.float() * 1e4);
        const cos = angle.map((a) => (path === 'hf' ? bf16Value(Math.cos(a)) : Math.fround(Math.cos(a))));
        const sin = angle.map((a) => (path === 'hf' ? bf16Value(Math.sin(a)) : Math.fround(Math.sin(a))));
        const want = refRope(x, H, T, D, cos, sin, { path, layout });
        const got = await ropeApply(x, H, T, D, cos, sin, path, layout, be);
        for (let i = 0; i < want.length; i++) assert.ok(sameValue(got[i], want[i]), `${path}/${layout} [${i}] got ${got[i]} want ${want[i]}`);
      }),
      { numRuns: NUM_RUNS, seed: 3 },
    );
  });

  test(`${be.name}: block-sparse attention forward within 2× the reference's same-precision error`, async () => {
    const cases: [Variant, 'bf16_flash' | 'f32', number, number, number[], number][] = [
      ['full', 'bf16_flash', 2, 1, [70, 30], 16],
      ['intra_doc', 'bf16_flash', 4, 2, [17, 40, 5, 33, 9], 8],
      ['anchor', 'bf16_flash', 2, 2, [25, 60, 12], 16],
      ['intra_doc_reset', 'f32', 2, 1, [31, 31, 40], 8],
      ['anchor', 'f32', 1, 1, [50, 44], 4],
    ];
    for (const [variant, precision, Hq, Hkv, lengths, B] of cases) {
      const rng = new Rng(lengths.length * 7 + B);
      const ids = docIdsFromLengths(lengths, variant === 'anchor');
      const L = ids.length;
      const D = 24;
      const store = precision === 'f32' ? Math.fround : bf16Value;
      const mk = (n: number) => Float64Array.from({ length: n }, () => store(rng.normal() * 1.5));
      const q = mk(Hq * L * D);
      const k = mk(Hkv * L * D);
      const v = mk(Hkv * L * D);
      const shape = { Hq, Hkv, L, D };
      const exact = refAttn(q, k, v, shape, ids, { variant, precision: 'f64' });
      const ref = refAttn(q, k, v, shape, ids, { variant, precision });
      const got = await attentionForward(q, k, v, shape, ids, { variant, precision, blockSize: B, chunkTiles: 16 }, be);
      const maxErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
        let e = 0;
        for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
        return e;
      };
      const eK = maxErr(got.out, exact.out);
      const eR = maxErr(ref.out, exact.out);
      assert.ok(eK <= 2 * eR, `${variant}/${precision} out: kernel error ${eK} > 2 × reference error ${eR}`);
      const lK = maxErr(got.lse, exact.lse);
      const lR = maxErr(ref.lse, exact.lse);
      assert.ok(lK <= 2 * lR, `${variant}/${precision} lse: kernel error ${lK} > 2 × reference error ${lR}`);
    }
  });

  test(`${be.name}: block-sparse attention backward (dQ, dK, dV) within 2× the reference's same-precision error`, async () => {
    const cases: [Variant, 'bf16_flash' | 'f32', number, number, number[], number, number][] = [
      ['full', 'bf16_flash', 2, 1, [70, 30], 16, 16],
      ['intra_doc', 'bf16_flash', 4, 2, [17, 40, 5, 33, 9], 8, 12],
      ['anchor', 'bf16_flash', 2, 2, [25, 60, 12], 16, 4],
      ['intra_doc_reset', 'f32', 2, 1, [31, 31, 40], 8, 16],
      ['anchor', 'f32', 3, 1, [50, 44], 4, 64],
    ];
    for (const [variant, precision, Hq, Hkv, lengths, B, chunkTiles] of cases) {
      const rng = new Rng(lengths.length * 11 + B);
      const ids = docIdsFromLengths(lengths, variant === 'anchor');
      const L = ids.length;
      const D = 20;
      const store = precision === 'f32' ? Math.fround : bf16Value;
      const mk = (n: number) => Float64Array.from({ length: n }, () => store(rng.normal() * 1.5));
      const q = mk(Hq * L * D), k = mk(Hkv * L * D), v = mk(Hkv * L * D), dO = mk(Hq * L * D);
      const shape = { Hq, Hkv, L, D };
      const fwd = refAttn(q, k, v, shape, ids, { variant, precision });
      const fwdExact = refAttn(q, k, v, shape, ids, { variant, precision: 'f64' });
      const exact = refAttnBackward(q, k, v, fwdExact.out, fwdExact.lse, dO, shape, ids, { variant, precision: 'f64' });
      const ref = refAttnBackward(q, k, v, fwd.out, fwd.lse, dO, shape, ids, { variant, precision });
      const got = await attentionBackward(q, k, v, fwd.out, fwd.lse, dO, shape, ids, { variant, precision, blockSize: B, chunkTiles }, be);
      const maxErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
        let e = 0;
        for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
        return e;
      };
      for (const key of ['dq', 'dk', 'dv'] as const) {
        const eK = maxErr(got[key], exact[key]);
        const eR = maxErr(ref[key], exact[key]);
        assert.ok(eR > 0 && eK <= 2 * eR, `${variant}/${precision} ${key}: kernel error ${eK} > 2 × reference error ${eR}`);
      }
    }
  });
}

// the matmul kernel as generated before @rows 4 / @constants (one row per cell, sizes as arguments)
const MATMUL_UNBLOCKED_WEBASM = `function kernel(a, b, K, N, outBf16, one) {
    let m = this.thread.y;
    let n = this.thread.x;
    let acc = 0.0;
    for (let k = 0; k < K; k = k + 1) {
        acc = acc + (a[m * K + k] * b[k * N + n]);
    }
    if (outBf16 === 1)
        return (acc !== acc || Math.abs(acc) > 3.4028234663852886e38 || acc === 0 ? acc : (acc < 0 ? -1 : 1) * (Math.abs(acc) < 1.1754943508222875e-38 ? Math.abs(acc) + 1.1555579666323415e-33 - 1.1555579666323415e-33 : Math.abs(acc) >= 1.2676506002282294e30 ? (((Math.abs(acc) * 9.094947017729282e-13) * 65537) - (((Math.abs(acc) * 9.094947017729282e-13) * 65537) - (Math.abs(acc) * 9.094947017729282e-13))) * 1099511627776 : (Math.abs(acc) * 65537) - ((Math.abs(acc) * 65537) - Math.abs(acc))));
    return acc;
}`;
for (const be of backends.filter((b) => b.name === 'webasm' || b.name === 'cpu'))
  test(`${be.name}: the blocked matmul (@rows 4, @constants K,N) equals the unblocked kernel bit for bit, and compiles once per shape`, async () => {
    const gen = GENERATED.matmul[be.name as 'webasm' | 'cpu'];
    assert.is(gen.rows, 4);
    assert.equal(gen.constants, ['K', 'N']);
    const old = { ...gen, name: 'matmulUnblocked', params: ['a', 'b', 'K', 'N', 'outBf16', 'one'], components: 1, rows: undefined, constants: undefined, kernel: be.name === 'webasm' ? MATMUL_UNBLOCKED_WEBASM : gen.kernel };
    if (be.name === 'cpu') old.kernel = MATMUL_UNBLOCKED_WEBASM.replace('acc = acc + (a[m * K + k] * b[k * N + n]);', 'acc = Math.fround(acc + Math.fround(a[m * K + k] * b[k * N + n]));').replace(/return \(acc !== acc[^\n]*\n/, 'return bf16Split(acc, one);\n');
    const shapes: [number, number, number][] = [[1, 1, 1], [3, 7, 5], [5, 33, 9], [6, 17, 31], [9, 64, 13], [13, 5, 3], [7, 129, 1], [8, 96, 40]];
    for (const [M, K, N] of shapes)
      for (const outBf16 of [false, true]) {
        const rng = new Rng(M * 1000 + K * 10 + N);
        const a = Float32Array.from({ length: M * K }, () => bf16Value(rng.normal() * 2 ** rng.int(-20, 20)));
        const b = Float32Array.from({ length: K * N }, () => bf16Value(rng.normal()));
        const want = await be.run(old, [a, b, K, N, outBf16 ? 1 : 0], [N, M]);
        const got = await matmul(a, b, M, K, N, outBf16 ? 'bf16' : 'f32', be);
        for (let i = 0; i < want.length; i++) assert.ok(sameValue(got[i], want[i]), `M${M} K${K} N${N} [${i}] got ${got[i]} want ${want[i]}`);
      }
    // compiled kernels are cached per (kernel, output, constants): a repeat compiles nothing; on
    // webasm the matmul is the wasm SIMD lowering, compiled once for every shape
    const count = (be as unknown as { compiles?: { count: number } }).compiles;
    if (count) {
      const a = new Float32Array(5 * 7).fill(1), b = new Float32Array(7 * 3).fill(2);
      await matmul(a, b, 5, 7, 3, 'f32', be);
      const before = count.count;
      for (let i = 0; i < 3; i++) await matmul(a, b, 5, 7, 3, 'f32', be);
      assert.is(count.count, before);
      await matmul(new Float32Array(5 * 9), new Float32Array(9 * 3), 5, 9, 3, 'f32', be);
      assert.is(count.count, be.name === 'webasm' ? before : before + 1);
    }
  });

if (backends.some((b) => b.name === 'webasm'))
  test('webasm: worker threads (async runs) give the single-threaded results bit for bit', async () => {
    const be = backends.find((b) => b.name === 'webasm')!;
    const rng = new Rng(77);
    const ids = docIdsFromLengths([90, 130, 76], true);
    const L = ids.length, D = 16;
    const mk = (n: number) => Float64Array.from({ length: n }, () => bf16Value(rng.normal()));
    const q = mk(2 * L * D), k = mk(L * D), v = mk(L * D);
    const shape = { Hq: 2, Hkv: 1, L, D };
    const o = { variant: 'anchor' as const, precision: 'bf16_flash' as const, blockSize: 16 };
    const one = await attentionForward(q, k, v, shape, ids, o, be);
    be.threads = true;
    try {
      const two = await attentionForward(q, k, v, shape, ids, o, be);
      assert.ok(one.out.every((x, i) => Object.is(x, two.out[i])) && one.lse.every((x, i) => Object.is(x, two.lse[i])));
    } finally {
      be.threads = false;
    }
  });

test('keyBounds: lo[i] is the first key row i may attend to, hi[j] the last row that may attend to key j (split documents too)', () => {
  fc.assert(
    fc.property(fc.constantFrom<Variant>('full', 'intra_doc', 'intra_doc_reset', 'anchor'), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 40, size: 'max' }), (variant, ids) => {
      const { lo, hi } = keyBounds(variant, ids);
      const L = ids.length;
      for (let i = 0; i < L; i++) {
        let first = -1;
        let last = -1;
        for (let j = 0; j < L; j++) if (isAllowed(variant, ids, i, j) && first < 0) first = j;
        for (let r = 0; r < L; r++) if (isAllowed(variant, ids, r, i)) last = r;
        if (lo[i] !== first || hi[i] !== last) return false;
      }
      return true;
    }),
    { seed: 41, numRuns: 300 },
  );
});

test('blockKinds equals reference/masks.ts blockMask (every variant, split documents, ragged last block)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<Variant>('full', 'intra_doc', 'intra_doc_reset', 'anchor'),
      fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 90, size: 'max' }),
      fc.integer({ min: 1, max: 9 }),
      fc.boolean(),
      (variant, raw, B, runs) => {
        // runs: documents as contiguous runs (packed windows); otherwise ids interleave freely
        const ids = runs ? raw.map((_, i) => raw.slice(0, i + 1).filter((x) => x === 0).length % 5) : raw;
        const got = blockKinds(variant, ids, B);
        const want = blockMask(variant, ids, B);
        return got.nb === want.nb && got.kind.every((x, i) => x === want.kind[i]);
      },
    ),
    { seed: 47, numRuns: 400 },
  );
});

test('buildChunks: every (head, query block) once; rows order increasing, zigzag 0, nb−1, 1, nb−2, …; chunks within the tile cap', () => {
  fc.assert(
    fc.property(fc.constantFrom<Variant>('full', 'intra_doc', 'anchor'), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 60, size: 'max' }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 }), (variant, ids, Hq, cap) => {
      const table = blockTable(variant, ids, 4);
      for (const order of ['rows', 'zigzag'] as const) {
        const chunks = buildChunks(table, Hq, cap, order);
        const seen = chunks.flatMap((c) => c.entries.map(({ h, qb }) => h * table.nb + qb));
        const want = Array.from({ length: Hq * table.nb }, (_, x) => {
          const h = Math.floor(x / table.nb), i = x % table.nb;
          const qb = order === 'rows' ? i : i % 2 === 0 ? i / 2 : table.nb - 1 - (i - 1) / 2;
          return h * table.nb + qb;
        });
        if (seen.join() !== want.join()) return false;
        const longest = Math.max(...Array.from({ length: table.nb }, (_, qb) => table.rowStart[qb + 1] - table.rowStart[qb]));
        if (chunks.some((c) => c.capT > Math.max(cap, longest))) return false;
      }
      return true;
    }),
    { seed: 43, numRuns: 200 },
  );
});

test('buildChunks picks the tile cap with the fewest chunks × cap (the largest on a tie), as trying every cap from the longest row to the limit would', () => {
  fc.assert(
    fc.property(fc.constantFrom<Variant>('full', 'intra_doc', 'anchor'), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 80, size: 'max' }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 300 }), fc.constantFrom(2, 4, 8), (variant, ids, Hq, limit, B) => {
      const table = blockTable(variant, ids, B);
      for (const order of ['rows', 'zigzag'] as const) {
        const entries = buildChunks(table, Hq, Number.MAX_SAFE_INTEGER, order)[0].entries.map((e) => table.rowStart[e.qb + 1] - table.rowStart[e.qb]);
        const chunksAt = (cap: number) => {
          let n = 0;
          for (let e0 = 0; e0 < entries.length; n++) for (let tiles = 0; e0 < entries.length && tiles + entries[e0] <= cap; ) tiles += entries[e0++];
          return n;
        };
        const longest = Math.max(1, ...entries);
        const maxCap = Math.max(longest, Math.min(limit, entries.reduce((a, x) => a + x, 0)));
        let want = maxCap, best = Infinity;
        for (let cap = maxCap; cap >= Math.max(longest, Math.ceil(maxCap / 2)); cap--) if (chunksAt(cap) * cap < best) [best, want] = [chunksAt(cap) * cap, cap];
        if (buildChunks(table, Hq, limit, order)[0].capT !== want) return false;
      }
      return true;
    }),
    { seed: 53, numRuns: 300 },
  );
});

test('blockTable tileJ0 / tileJ1: the first and last key of each tile that some row of its block may attend (brute force), the whole width on full tiles', () => {
  fc.assert(
    fc.property(fc.constantFrom<Variant>('full', 'intra_doc', 'intra_doc_reset', 'anchor'), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 90, size: 'max' }), fc.integer({ min: 1, max: 9 }), (variant, ids, B) => {
      const t = blockTable(variant, ids, B);
      const L = ids.length;
      for (let qb = 0; qb < t.nb; qb++)
        for (let x = t.rowStart[qb]; x < t.rowStart[qb + 1]; x++) {
          const k0 = t.tileKb[x] * B;
          const width = Math.min(B, L - k0);
          const attended = (jj: number) => Array.from({ length: Math.min(B, L - qb * B) }, (_, r) => qb * B + r).some((i) => isAllowed(variant, ids, i, k0 + jj));
          let j0 = 0, j1 = width;
          while (j0 < width && !attended(j0)) j0++;
          while (j1 > j0 && !attended(j1 - 1)) j1--;
          if (j1 <= j0) return false; // a tile in the table has an allowed pair
          if (t.tileFull[x] === 1 ? t.tileJ0[x] !== 0 || t.tileJ1[x] !== width : t.tileJ0[x] !== j0 || t.tileJ1[x] !== j1) return false;
        }
      return true;
    }),
    { seed: 59, numRuns: 300 },
  );
});

if (backends.some((b) => b.name === 'webasm'))
  test('webasm: attention with split documents (the in-tile key/row bounds span gaps) within 2× the reference error', async () => {
    const be = backends.find((b) => b.name === 'webasm')!;
    const rng = new Rng(91);
    // documents split into pieces that interleave: 1 1 2 2 1 3 ...; anchor id 0 in the middle too
    const ids = Int32Array.from({ length: 83 }, (_, i) => [0, 1, 1, 2, 1, 3, 2, 0, 3, 1][Math.floor(i / 7) % 10]);
    const L = ids.length, D = 12;
    const mk = (n: number) => Float64Array.from({ length: n }, () => bf16Value(rng.normal() * 1.5));
    const q = mk(2 * L * D), k = mk(L * D), v = mk(L * D), dO = mk(2 * L * D);
    const shape = { Hq: 2, Hkv: 1, L, D };
    const maxErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let e = 0;
      for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
      return e;
    };
    for (const variant of ['intra_doc', 'anchor'] as Variant[]) {
      const o = { variant, precision: 'bf16_flash' as const, blockSize: 8, chunkTiles: 12 };
      const exact = refAttn(q, k, v, shape, ids, { variant, precision: 'f64' });
      const ref = refAttn(q, k, v, shape, ids, { variant, precision: 'bf16_flash' });
      const got = await attentionForward(q, k, v, shape, ids, o, be);
      assert.ok(maxErr(got.out, exact.out) <= 2 * maxErr(ref.out, exact.out), `${variant} out`);
      const gExact = refAttnBackward(q, k, v, exact.out, exact.lse, dO, shape, ids, { variant, precision: 'f64' });
      const gRef = refAttnBackward(q, k, v, ref.out, ref.lse, dO, shape, ids, { variant, precision: 'bf16_flash' });
      const g = await attentionBackward(q, k, v, ref.out, ref.lse, dO, shape, ids, o, be);
      for (const key of ['dq', 'dk', 'dv'] as const) assert.ok(maxErr(g[key], gExact[key]) <= 2 * maxErr(gRef[key], gExact[key]), `${variant} ${key}`);
    }
  });

test('an unknown backend names the choices and the install step', async () => {
  try {
    await openBackend('vulkan' as BackendName);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /not available.*unknown backend/);
  }
});

test('auto picks webgpu on a hardware adapter and webasm otherwise; the webgpu hint names the install steps', async () => {
  const info = await webgpuAdapterInfo();
  assert.is(await resolveAuto(), info && !info.software ? 'webgpu' : 'webasm');
  if (info && /swiftshader|lavapipe|llvmpipe/i.test(info.name)) assert.ok(info.software, info.name);
  assert.match(INSTALL_HINT.webgpu, /npm install dawn-webgpu@npm:webgpu@0\.6\.2/);
  assert.match(INSTALL_HINT.webgpu, /libvulkan1/);
  const p = probes.find((x) => x.name === 'webgpu')!;
  if (!p.ok) assert.match(p.reason, /kernel backend "webgpu" is not available: .*To enable it: `npm install dawn-webgpu/);
});

test.after(closeBackends);
test.run();

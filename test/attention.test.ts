import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { attentionBackward, attentionForward, attentionForwardPartial, attentionScores, mergePartials, PRECISIONS, type AttnOptions, type AttnPrecision } from '../reference/attention.ts';
import { f64Reference, flashRule, forwardBounds, outsideRowBound } from '../reference/attention-bounds.ts';
import { docIdsFromLengths, isAllowed, VARIANTS, type Variant } from '../reference/masks.ts';
import { Rng } from '../reference/rng.ts';
import { loadAttentionFixtures } from './fixtures/attention/fixtures.ts';
import '../ops/index.ts';
import { getOp, runOp } from '../ops/registry.ts';
import { offendingIndices } from '../ops/compare.ts';
import { floatValues, tensor, type Tensor } from '../io/tensor.ts';
import { OpError } from '../io/errors.ts';
import { maxAbs, maxDiff } from './norms.ts';

const fx = loadAttentionFixtures();
const precisionOf: Record<string, AttnPrecision> = { sdpa_f64: 'f64', flex_f64: 'f64', sdpa_f32: 'f32', flex_f32: 'f32', eager_bf16: 'bf16_eager', sdpa_bf16: 'bf16_flash' };
const U: Record<string, number> = { f64: 2 ** -53, f32: 2 ** -24 };

function randomCase(rng: Rng, Hq: number, Hkv: number, L: number, D: number) {
  const r = (n: number, s = 1) => Float64Array.from({ length: n }, () => rng.normal() * s);
  return { q: r(Hq * L * D, 1.5), k: r(Hkv * L * D, 1.5), v: r(Hkv * L * D), dO: r(Hq * L * D), shape: { Hq, Hkv, L, D } };
}

// ------------------------------------------------------------------ PyTorch goldens
test('f64 / f32 forward: torch SDPA (boolean mask) and flex_attention (anchor mask_mod) within the derived bound', () => {
  let n = 0;
  for (const c of fx.attention) {
    const p = precisionOf[c.source];
    if (p !== 'f64' && p !== 'f32') continue;
    const shape = { Hq: c.Hq, Hkv: c.Hkv, L: c.L, D: c.D };
    const opts = { variant: c.variant as Variant, precision: p, scale: c.scale };
    const r = attentionForward(c.q, c.k, c.v, shape, c.doc_ids, opts);
    const b = forwardBounds(c.q, c.k, c.v, r.lse, shape, c.doc_ids, opts);
    assert.equal(outsideRowBound(c.out, r.out, b.out, c.D), [], `${c.layout}/${c.source} out`);
    assert.equal(outsideRowBound(c.lse!, r.lse, b.lse, 1), [], `${c.layout}/${c.source} lse`);
    // and the bound is not vacuous: errors are far below the value scale
    assert.ok(maxAbs(b.out) < (p === 'f64' ? 1e-11 : 1e-3), `${c.layout}/${c.source}: bound ${maxAbs(b.out)}`);
    n++;
  }
  assert.is(n, 16);
});

test('f64 / f32 backward equals torch autograd of SDPA within the gradient estimate', () => {
  let n = 0;
  for (const c of fx.attention) {
    if (c.source !== 'sdpa_f64' && c.source !== 'sdpa_f32') continue;
    const p = precisionOf[c.source];
    const shape = { Hq: c.Hq, Hkv: c.Hkv, L: c.L, D: c.D };
    const opts = { variant: c.variant as Variant, precision: p, scale: c.scale };
    const f = attentionForward(c.q, c.k, c.v, shape, c.doc_ids, opts);
    const g = attentionBackward(c.q, c.k, c.v, f.out, f.lse, c.dout!, shape, c.doc_ids, opts);
    // SPEC.md: |Δ| ≤ 4·(L·Hq/Hkv + D + 8)·u·max(1, max|g|)
    const terms = c.L * (c.Hq / c.Hkv) + c.D + 8;
    for (const [name, got, want] of [['dq', g.dq, c.dq!], ['dk', g.dk, c.dk!], ['dv', g.dv, c.dv!]] as const) {
      const tol = 4 * terms * U[p] * Math.max(1, maxAbs(want));
      assert.ok(maxDiff(got, want) <= tol, `${c.layout}/${c.source} ${name}: ${maxDiff(got, want)} > ${tol}`);
    }
    n++;
  }
  assert.is(n, 8);
});

test('bf16_eager is bit-exact with transformers eager_attention_forward in bf16: out, dq, dk, dv', () => {
  let n = 0;
  for (const c of fx.attention) {
    if (c.source !== 'eager_bf16') continue;
    const shape = { Hq: c.Hq, Hkv: c.Hkv, L: c.L, D: c.D };
    const opts: AttnOptions = { variant: c.variant as Variant, precision: 'bf16_eager', scale: c.scale };
    const f = attentionForward(c.q, c.k, c.v, shape, c.doc_ids, opts);
    assert.equal([...f.out], [...c.out], `${c.layout} out`);
    const g = attentionBackward(c.q, c.k, c.v, f.out, f.lse, c.dout!, shape, c.doc_ids, opts);
    assert.equal([...g.dq], [...c.dq!], `${c.layout} dq`);
    assert.equal([...g.dk], [...c.dk!], `${c.layout} dk`);
    assert.equal([...g.dv], [...c.dv!], `${c.layout} dv`);
    n++;
  }
  assert.is(n, 4);
});

test("torch's CPU flash kernel in bf16 passes flash-attn's 2× rule against bf16_flash", () => {
  let n = 0;
  for (const c of fx.attention) {
    if (c.source !== 'sdpa_bf16') continue;
    const shape = { Hq: c.Hq, Hkv: c.Hkv, L: c.L, D: c.D };
    const opts: AttnOptions = { variant: c.variant as Variant, precision: 'bf16_flash', scale: c.scale };
    const ours = attentionForward(c.q, c.k, c.v, shape, c.doc_ids, opts).out;
    const ref = f64Reference(c.q, c.k, c.v, shape, c.doc_ids, opts);
    const r = flashRule(c.out, ours, ref);
    assert.equal(r.bad, [], `${c.layout}: torch err ${r.gotErr}, oracle err ${r.oracleErr}`);
    assert.ok(r.oracleErr > 0 && r.oracleErr < 0.05);
    // characterisation, not a contract: torch's CPU kernel also rounds P to bf16 before P·V, so
    // most elements agree bit for bit (≈98 % measured); without that rounding only ≈80 % do
    let same = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] === c.out[i]) same++;
    assert.ok(same >= 0.95 * ours.length, `${c.layout}: only ${same} of ${ours.length} bit-identical`);
    n++;
  }
  assert.is(n, 4);
});

// ------------------------------------------------------------------ properties
const smallLayout = fc.record({
  lengths: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
  variant: fc.constantFrom<Variant>(...VARIANTS),
  seed: fc.integer({ min: 0, max: 1e6 }),
});

test('property: f64 backward matches central finite differences', () => {
  fc.assert(
    fc.property(smallLayout, ({ lengths, variant, seed }) => {
      const ids = docIdsFromLengths(lengths, variant === 'anchor');
      const rng = new Rng(seed);
      const c = randomCase(rng, 2, 1, ids.length, 4);
      const opts: AttnOptions = { variant, precision: 'f64' };
      const f = attentionForward(c.q, c.k, c.v, c.shape, ids, opts);
      const g = attentionBackward(c.q, c.k, c.v, f.out, f.lse, c.dO, c.shape, ids, opts);
      const loss = (q: Float64Array, k: Float64Array, v: Float64Array) => {
        const o = attentionForward(q, k, v, c.shape, ids, opts).out;
        let s = 0;
        for (let i = 0; i < o.length; i++) s += o[i] * c.dO[i];
        return s;
      };
      const h = 1e-6;
      for (const which of ['q', 'k', 'v'] as const) {
        const x = c[which];
        const grad = which === 'q' ? g.dq : which === 'k' ? g.dk : g.dv;
        for (let i = 0; i < x.length; i++) {
          const a = Float64Array.from(x);
          const b = Float64Array.from(x);
          a[i] += h;
          b[i] -= h;
          const call = (y: Float64Array) => (which === 'q' ? loss(y, c.k, c.v) : which === 'k' ? loss(c.q, y, c.v) : loss(c.q, c.k, y));
          const fd = (call(a) - call(b)) / (2 * h);
          // truncation O(h²·f''') plus cancellation O(u·|f|/h): 1e-7 is far above both here
          if (Math.abs(fd - grad[i]) > 1e-7) return false;
        }
      }
      return true;
    }),
    { numRuns: 25, seed: 21 },
  );
});

test('property: GQA equals MHA with repeated K/V (forward bit-exact on every path; backward summed over the group)', () => {
  fc.assert(
    fc.property(smallLayout, fc.constantFrom<AttnPrecision>(...PRECISIONS), ({ lengths, variant, seed }, precision) => {
      const ids = docIdsFromLengths(lengths, variant === 'anchor');
      const L = ids.length;
      const D = 4;
      const rng = new Rng(seed);
      const c = randomCase(rng, 4, 2, L, D);
      const rep = (x: Float64Array) => {
        const y = new Float64Array(4 * L * D);
        for (let h = 0; h < 4; h++) y.set(x.subarray(Math.floor(h / 2) * L * D, (Math.floor(h / 2) + 1) * L * D), h * L * D);
        return y;
      };
      const opts: AttnOptions = { variant, precision };
      const gqa = attentionForward(c.q, c.k, c.v, c.shape, ids, opts);
      const mha = attentionForward(c.q, rep(c.k), rep(c.v), { Hq: 4, Hkv: 4, L, D }, ids, opts);
      if (maxDiff(gqa.out, mha.out) !== 0 || maxDiff(gqa.lse, mha.lse) !== 0) return false;
      if (precision !== 'f64') return true;
      const g1 = attentionBackward(c.q, c.k, c.v, gqa.out, gqa.lse, c.dO, c.shape, ids, opts);
      const g2 = attentionBackward(c.q, rep(c.k), rep(c.v), mha.out, mha.lse, c.dO, { Hq: 4, Hkv: 4, L, D }, ids, opts);
      if (maxDiff(g1.dq, g2.dq) !== 0) return false;
      for (let g = 0; g < 2; g++)
        for (let x = 0; x < L * D; x++) {
          const sumK = g2.dk[(2 * g) * L * D + x] + g2.dk[(2 * g + 1) * L * D + x];
          const sumV = g2.dv[(2 * g) * L * D + x] + g2.dv[(2 * g + 1) * L * D + x];
          if (Math.abs(sumK - g1.dk[g * L * D + x]) > 1e-13 || Math.abs(sumV - g1.dv[g * L * D + x]) > 1e-13) return false;
        }
      return true;
    }),
    { numRuns: 60, seed: 22 },
  );
});

test('property: masked-out pairs get exactly zero gradient, and changing a masked key leaves the row bit-identical', () => {
  fc.assert(
    fc.property(smallLayout, fc.constantFrom<AttnPrecision>(...PRECISIONS), fc.nat(), ({ lengths, variant, seed }, precision, rowPick) => {
      const ids = docIdsFromLengths(lengths, variant === 'anchor');
      const L = ids.length;
      const D = 4;
      const c = randomCase(new Rng(seed), 2, 1, L, D);
      const row = rowPick % L;
      const dO = new Float64Array(c.dO.length);
      for (let h = 0; h < 2; h++) dO.set(c.dO.subarray((h * L + row) * D, (h * L + row + 1) * D), (h * L + row) * D);
      const opts: AttnOptions = { variant, precision };
      const f = attentionForward(c.q, c.k, c.v, c.shape, ids, opts);
      const g = attentionBackward(c.q, c.k, c.v, f.out, f.lse, dO, c.shape, ids, opts);
      const k2 = Float64Array.from(c.k);
      const v2 = Float64Array.from(c.v);
      for (let j = 0; j < L; j++) {
        if (isAllowed(variant, ids, row, j)) continue;
        for (let d = 0; d < D; d++) {
          if (g.dk[j * D + d] !== 0 || g.dv[j * D + d] !== 0) return false;
          k2[j * D + d] += 3;
          v2[j * D + d] -= 2;
        }
      }
      const f2 = attentionForward(c.q, k2, v2, c.shape, ids, opts);
      for (let h = 0; h < 2; h++) for (let d = 0; d < D; d++) if (f2.out[(h * L + row) * D + d] !== f.out[(h * L + row) * D + d]) return false;
      return true;
    }),
    { numRuns: 80, seed: 23 },
  );
});

test('property: partials over a split of the keys merged by LSE equal the whole (f64, 1e-13)', () => {
  fc.assert(
    fc.property(smallLayout, fc.integer({ min: 1, max: 30 }), ({ lengths, variant, seed }, cut) => {
      const ids = docIdsFromLengths(lengths, variant === 'anchor');
      const L = ids.length;
      const c = randomCase(new Rng(seed), 2, 2, L, 4);
      const opts: AttnOptions = { variant, precision: 'f64' };
      const whole = attentionForward(c.q, c.k, c.v, c.shape, ids, opts);
      const split = Math.min(L, cut % (L + 1));
      const all = Int32Array.from({ length: L }, (_, i) => i);
      const part = (keys: number[]) => {
        const pick = (x: Float64Array) => {
          const y = new Float64Array(2 * keys.length * 4);
          for (let h = 0; h < 2; h++) keys.forEach((j, a) => y.set(x.subarray((h * L + j) * 4, (h * L + j + 1) * 4), (h * keys.length + a) * 4));
          return y;
        };
        return attentionForwardPartial(c.q, pick(c.k), pick(c.v), { Hq: 2, Hkv: 2, Lq: L, Lk: keys.length, D: 4 }, all, keys, ids, opts);
      };
      const keys = [...all];
      const parts = [keys.slice(split), keys.slice(0, split)].filter((k) => k.length).map(part); // out of order on purpose
      const m = mergePartials(parts, 2 * L, 4);
      return maxDiff(m.out, whole.out) < 1e-13 && maxDiff(m.lse, whole.lse) < 1e-13;
    }),
    { numRuns: 60, seed: 24 },
  );
});

test('attentionScores: logits -Infinity exactly where masked; probs·V reproduces out (f64) and is bf16 P on eager', () => {
  const ids = docIdsFromLengths([3, 4, 2], true);
  const L = ids.length;
  const c = randomCase(new Rng(5), 2, 1, L, 4);
  for (const precision of PRECISIONS) {
    const opts: AttnOptions = { variant: 'anchor', precision };
    const s = attentionScores(c.q, c.k, c.shape, ids, opts);
    for (let h = 0; h < 2; h++)
      for (let i = 0; i < L; i++) {
        let sum = 0;
        for (let j = 0; j < L; j++) {
          const allowed = isAllowed('anchor', ids, i, j);
          assert.is(s.logits[(h * L + i) * L + j] === -Infinity, !allowed);
          sum += s.probs[(h * L + i) * L + j];
        }
        assert.ok(Math.abs(sum - 1) < (precision.startsWith('bf16') ? 0.02 : 1e-6));
      }
    if (precision === 'f64') {
      const out = attentionForward(c.q, c.k, c.v, c.shape, ids, opts).out;
      for (let h = 0; h < 2; h++)
        for (let i = 0; i < L; i++)
          for (let d = 0; d < 4; d++) {
            let o = 0;
            for (let j = 0; j < L; j++) o += s.probs[(h * L + i) * L + j] * c.v[j * 4 + d];
            assert.ok(Math.abs(o - out[(h * L + i) * 4 + d]) < 1e-14);
          }
    }
    if (precision === 'bf16_eager') for (const p of s.probs) assert.is(Math.fround(p), p);
  }
});

test('exactQK (the drift decomposition\'s qk stage): logits are the exact scaled dot products of q and k as given', () => {
  const ids = docIdsFromLengths([20], true);
  const c = randomCase(new Rng(6), 1, 1, ids.length, 64);
  const a = attentionScores(c.q, c.k, c.shape, ids, { variant: 'anchor', precision: 'bf16_flash', exactQK: true });
  const b = attentionScores(c.q, c.k, c.shape, ids, { variant: 'anchor', precision: 'bf16_flash' });
  let differ = 0;
  for (let i = 0; i < a.logits.length; i++) if (a.logits[i] !== b.logits[i]) differ++;
  assert.ok(differ > 0);
  const { L, D } = c.shape;
  const scale = 1 / Math.sqrt(D);
  for (let i = 0; i < L; i++)
    for (let j = 0; j <= i; j++) {
      const x = a.logits[i * L + j];
      if (x === -Infinity) continue;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += c.q[i * D + d] * c.k[j * D + d];
      assert.is(x, dot * scale);
    }
});

// ------------------------------------------------------------------ the op and its contract
function opCase(precision: AttnPrecision, seed: number) {
  const rng = new Rng(seed);
  const ids = docIdsFromLengths([5, 9, 3], true);
  const L = ids.length;
  const c = randomCase(rng, 4, 2, L, 8);
  const dt = precision === 'f64' ? 'f64' : 'f32';
  const enc = (x: Float64Array, shape: number[]): Tensor => (dt === 'f64' ? tensor('f64', shape, x) : tensor('f32', shape, Float32Array.from(x)));
  return {
    args: { variant: 'anchor', precision },
    inputs: { q: enc(c.q, [4, L, 8]), k: enc(c.k, [2, L, 8]), v: enc(c.v, [2, L, 8]), doc_ids: tensor('i32', [L], ids) },
  };
}

test('attention.forward contract: the oracle passes itself; a perturbed output fails; torch-like reorderings pass', () => {
  const op = getOp('attention.forward');
  for (const precision of PRECISIONS) {
    const { args, inputs } = opCase(precision, 7);
    const out = runOp('attention.forward', args, inputs);
    const contract = op.contract(args);
    const ctx = { args, inputs, expected: out };
    assert.equal(offendingIndices(out.out, out.out, contract.out, ctx), [], precision);
    assert.equal(offendingIndices(out.lse, out.lse, contract.lse, ctx), [], precision);
    // perturb one element well beyond the allowance
    const bad = { ...out.out, data: out.out.data.slice() } as Tensor;
    const vals = floatValues(out.out);
    const err = precision === 'f64' ? 1e-9 : precision === 'f32' ? 1e-2 : 0.25;
    if (bad.dtype === 'bf16') (bad.data as Uint16Array)[3] ^= 0x0040; // flips a high mantissa bit
    else (bad.data as Float64Array | Float32Array)[3] = vals[3] + err;
    assert.equal(offendingIndices(bad, out.out, contract.out, ctx), [3], precision);
  }
});

test('attention.forward rejects bad inputs with a clear error', () => {
  const { args, inputs } = opCase('f64', 8);
  const L = inputs.doc_ids.shape[0];
  assert.throws(() => runOp('attention.forward', args, { ...inputs, k: tensor('f64', [3, L, 8], new Float64Array(3 * L * 8)), v: tensor('f64', [3, L, 8], new Float64Array(3 * L * 8)) }), (e: unknown) => e instanceof OpError && /multiple/.test(e.message));
  assert.throws(() => runOp('attention.forward', { ...args, precision: 'fp8' }, inputs), (e: unknown) => e instanceof OpError && e.code === 'BAD_ARGS');
  assert.throws(() => runOp('attention.forward', args, { ...inputs, doc_ids: tensor('i32', [L - 1], new Int32Array(L - 1)) }), (e: unknown) => e instanceof OpError && /doc_ids/.test(e.message));
  const nan = Float64Array.from(inputs.q.data as Float64Array);
  nan[0] = NaN;
  assert.throws(() => runOp('attention.forward', args, { ...inputs, q: tensor('f64', inputs.q.shape, nan) }), (e: unknown) => e instanceof OpError && /non-finite/.test(e.message));
  assert.throws(() => runOp('attention.block_mask', { variant: 'anchor', block_size: 0 }, { doc_ids: inputs.doc_ids }), (e: unknown) => e instanceof OpError && e.code === 'BAD_ARGS');
});

test('positions / mask / block_mask ops follow the reference and generate cases for every variant', () => {
  const ids = tensor('i32', [6], Int32Array.from([0, 1, 1, 2, 2, 2]));
  assert.equal([...runOp('attention.positions', { variant: 'intra_doc_reset' }, { doc_ids: ids }).position_ids.data], [0, 0, 1, 0, 1, 2]);
  const m = runOp('attention.mask', { variant: 'anchor' }, { doc_ids: ids }).mask;
  assert.equal(m.shape, [6, 6]);
  assert.equal([...m.data.slice(30, 36)], [1, 0, 0, 1, 1, 1]);
  const b = runOp('attention.block_mask', { variant: 'anchor', block_size: 4 }, { doc_ids: ids }).kind;
  assert.equal(b.shape, [2, 2]);
  for (const name of ['attention.positions', 'attention.mask', 'attention.block_mask', 'attention.forward']) {
    const cases = getOp(name).generate({ n: 0, seed: 1, level: 1 });
    const variants = new Set(cases.map((c) => c.args.variant));
    assert.is(variants.size, 4, name);
  }
});

test.run();

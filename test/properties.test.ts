// The properties offered to other people's suites: each holds for a correct implementation
// (here, independent re-implementations or the reference) and catches a planted bug.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  attentionForwardProperty, blockMaskProperty, f32ToBf16Property, flexFlashProperty, lseMergeProperty, maskProperty, packingProperty, positionIdsProperty,
  ropeApplyHfProperty, ropeInverseProperty, ropeNormProperty, ropeRelativePositionProperty, type AttentionCase, type RopeVectorConfig,
} from '../properties/index.ts';
import { attentionForward, mergePartials, type AttnResult } from '../reference/attention.ts';
import { fromF32Bits } from '../reference/bf16.ts';
import { packDocuments } from '../reference/packing.ts';
import { blockKinds, type Variant } from '../reference/masks.ts';
import { bf16Value, fromF32, toF32 } from '../reference/bf16.ts';

// every property here is synchronous: fc.check returns its details directly
const check = (p: fc.IRawProperty<unknown[]>) => fc.check(p, { numRuns: 300, seed: 7 }) as fc.RunDetails<unknown[]>;
const fails = (p: fc.IRawProperty<unknown[]>) => check(p).failed;
const holds = (p: fc.IRawProperty<unknown[]>) => assert.not.ok(check(p).failed);

/** an independent mask: the variants' rules written out again */
function myMask(variant: Variant, ids: Int32Array, bug = ''): Uint8Array {
  const L = ids.length;
  const m = new Uint8Array(L * L);
  for (let q = 0; q < L; q++)
    for (let k = 0; k <= q; k++) {
      const same = ids[q] === ids[k];
      const anchor = variant === 'anchor' && ids[k] === 0 && bug !== 'no-anchor-column';
      m[q * L + k] = variant === 'full' || same || anchor ? 1 : 0;
    }
  if (bug === 'not-causal' && L > 1) m[1] = 1; // row 0 sees key 1
  return m;
}

test('maskProperty: an independent mask passes; a missing anchor column or a non-causal entry is caught', () => {
  holds(maskProperty((v, ids) => myMask(v, ids)));
  assert.ok(fails(maskProperty((v, ids) => myMask(v, ids, 'no-anchor-column'))));
  assert.ok(fails(maskProperty((v, ids) => myMask(v, ids, 'not-causal'))));
});

test('blockMaskProperty: the histogram block table passes; calling padded tiles full is caught', () => {
  holds(blockMaskProperty((v, ids, B) => blockKinds(v, ids, B).kind));
  const buggy = (v: Variant, ids: Int32Array, B: number) => {
    const { nb, kind } = blockKinds(v, ids, B);
    const k = kind.slice();
    if (ids.length % B && k[nb * nb - 1] === 1) k[nb * nb - 1] = 2; // the ragged last tile as full
    return k;
  };
  assert.ok(fails(blockMaskProperty(buggy)));
});

test('positionIdsProperty: an independent count passes; resetting only at contiguous starts is caught', () => {
  const mine = (v: Variant, ids: Int32Array, bug = false) => {
    const seen = new Map<number, number>();
    return Int32Array.from(ids, (d, t) => {
      if (v !== 'intra_doc_reset') return t;
      const n = bug && t > 0 && ids[t - 1] !== d ? 0 : (seen.get(d) ?? 0);
      seen.set(d, n + 1);
      return n;
    });
  };
  holds(positionIdsProperty((v, ids) => mine(v, ids)));
  assert.ok(fails(positionIdsProperty((v, ids) => mine(v, ids, true))));
});

test('ropeApplyHfProperty: transformers-style bf16 ops pass; one fused rounding (x·cos + rot(x)·sin rounded once) is caught', () => {
  const apply = (fused: boolean) => (x: Uint16Array, cos: Uint16Array, sin: Uint16Array, { H, T, D }: { H: number; T: number; D: number }, layout: 'half' | 'interleaved') => {
    const y = new Uint16Array(x.length);
    const half = D / 2;
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++)
        for (let j = 0; j < D; j++) {
          const row = (h * T + t) * D;
          const partner = layout === 'half' ? (j < half ? j + half : j - half) : j ^ 1;
          const sign = layout === 'half' ? (j < half ? -1 : 1) : j % 2 === 0 ? -1 : 1;
          const xc = toF32(x[row + j]) * toF32(cos[t * D + j]);
          const rs = sign * toF32(x[row + partner]) * toF32(sin[t * D + j]);
          y[row + j] = fromF32(fused ? Math.fround(xc + rs) : bf16Value(bf16Value(xc) + bf16Value(rs)));
        }
    return y;
  };
  holds(ropeApplyHfProperty(apply(false)));
  assert.ok(fails(ropeApplyHfProperty(apply(true))));
});

test('bf16 properties print a counterexample in hex: input bits and both results', () => {
  const r = check(f32ToBf16Property((u) => fromF32Bits(u) ^ (u === 0x3f808000 ? 1 : (u & 0xffff) === 0x8000 ? 1 : 0)));
  assert.ok(r.failed);
  assert.match(String(r.errorInstance), /f32 0x[0-9a-f]{8}: got 0x[0-9a-f]{4}, the oracle gives 0x[0-9a-f]{4}/);
});

/** an independent RoPE of one vector: f64 pow and libm cos/sin (rounded to f32 on the f32 path) */
const myRope =
  (path: 'f64' | 'f32', bug = '') =>
  (x: Float64Array, p: number, { dim, base, layout }: RopeVectorConfig): Float64Array => {
    const r = path === 'f32' ? Math.fround : (v: number) => v;
    const y = new Float64Array(dim);
    const half = dim / 2;
    const pos = bug === 'bf16-positions' ? bf16Value(p) : p; // position ids held in bf16
    for (let i = 0; i < half; i++) {
      const w = r(1 / r(Math.pow(base, (2 * i) / dim)));
      const a = r(w * pos);
      const c = r(Math.cos(a));
      const s = (bug === 'inverse-same-sign' ? 1 : 1) * r(Math.sin(a));
      const [j0, j1] = layout === 'half' ? [i, i + half] : [2 * i, 2 * i + 1];
      const minus = bug === 'no-minus' ? 1 : -1; // rotate_half = cat(−x2, x1)
      y[j0] = r(r(x[j0] * c) + r(minus * x[j1] * s));
      y[j1] = r(r(x[j1] * c) + r(x[j0] * s));
    }
    return y;
  };
/** its inverse: the rotation by −p */
const myUnrope = (path: 'f64' | 'f32', bug = '') => (x: Float64Array, p: number, cfg: RopeVectorConfig) => myRope(path)(x, bug === 'same-direction' ? p : -p, cfg);

test('RoPE properties (f64, f32): an independent rotation passes relative position, norm and inverse; bf16 positions, a missing minus and an inverse that rotates again are caught', () => {
  for (const path of ['f64', 'f32'] as const) {
    holds(ropeRelativePositionProperty(myRope(path), path));
    holds(ropeNormProperty(myRope(path), path));
    holds(ropeInverseProperty(myRope(path), myUnrope(path), path));
    assert.ok(fails(ropeRelativePositionProperty(myRope(path, 'bf16-positions'), path)), `${path}: bf16 positions`);
    assert.ok(fails(ropeNormProperty(myRope(path, 'no-minus'), path)), `${path}: rotate_half without the minus`);
    assert.ok(fails(ropeInverseProperty(myRope(path), myUnrope(path, 'same-direction'), path)), `${path}: inverse rotating again`);
  }
  // the hf path (bf16 cos/sin and ops) is not a f32 rotation: the f32 bounds catch it
  const hf = (x: Float64Array, p: number, cfg: RopeVectorConfig) => Float64Array.from(myRope('f32')(x, p, cfg), (v) => bf16Value(v));
  assert.ok(fails(ropeNormProperty(hf, 'f32')));
});

/** an independent attention: f64 softmax per row, the result stored in the path's precision */
const myAttention =
  (bug = '') =>
  ({ q, k, v, shape: { Hq, Hkv, L, D }, docIds, variant, precision }: AttentionCase) => {
    const out = new Float64Array(Hq * L * D);
    const lse = new Float64Array(Hq * L);
    const group = Hq / Hkv;
    for (let h = 0; h < Hq; h++) {
      const g = bug === 'gqa-modulo' ? h % Hkv : Math.floor(h / group);
      for (let i = 0; i < L; i++) {
        const keys: number[] = [];
        for (let j = 0; j <= i; j++) if (variant === 'full' || docIds[j] === docIds[i] || (variant === 'anchor' && docIds[j] === 0 && bug !== 'no-anchor')) keys.push(j);
        const s = keys.map((j) => {
          let a = 0;
          for (let d = 0; d < D; d++) a += q[(h * L + i) * D + d] * k[(g * L + j) * D + d];
          return a / Math.sqrt(D);
        });
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const l = e.reduce((a, b) => a + b, 0);
        lse[h * L + i] = m + Math.log(l);
        for (let d = 0; d < D; d++) out[(h * L + i) * D + d] = keys.reduce((acc, j, n) => acc + e[n] * v[(g * L + j) * D + d], 0) / l;
      }
    }
    const r = precision === 'f64' ? (x: number) => x : precision === 'f32' ? Math.fround : bf16Value;
    return { out: out.map(r), lse: precision === 'f64' ? lse : lse.map(Math.fround) };
  };

test('attentionForwardProperty: an independent f64 attention passes on every path; GQA heads mapped h % Hkv and a missing anchor column are caught', () => {
  holds(attentionForwardProperty(myAttention()));
  assert.ok(fails(attentionForwardProperty(myAttention('gqa-modulo'))));
  assert.ok(fails(attentionForwardProperty(myAttention('no-anchor'))));
});

test('lseMergeProperty: a log-sum-exp merge passes (ours and the reference); max instead of logaddexp, or averaging the outputs, is caught', () => {
  const merge = (bug = '') => (a: AttnResult, b: AttnResult, rows: number, D: number) => {
    const out = new Float64Array(rows * D);
    const lse = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      const m = Math.max(a.lse[i], b.lse[i]);
      const L = bug === 'max' ? m : m + Math.log(Math.exp(a.lse[i] - m) + Math.exp(b.lse[i] - m));
      lse[i] = L;
      for (let d = 0; d < D; d++) {
        const wa = bug === 'average' ? (b.lse[i] === -Infinity ? 1 : a.lse[i] === -Infinity ? 0 : 0.5) : Math.exp(a.lse[i] - L);
        const wb = bug === 'average' ? 1 - wa : Math.exp(b.lse[i] - L);
        out[i * D + d] = (wa ? wa * a.out[i * D + d] : 0) + (wb ? wb * b.out[i * D + d] : 0);
      }
    }
    return { out, lse };
  };
  holds(lseMergeProperty(merge()));
  holds(lseMergeProperty((a, b, rows, D) => mergePartials([a, b], rows, D)));
  assert.ok(fails(lseMergeProperty(merge('max'))));
  assert.ok(fails(lseMergeProperty(merge('average'))));
});

test('packingProperty: the oracle passes; positions that do not reset in continuation windows are caught', () => {
  holds(packingProperty(packDocuments));
  const buggy: typeof packDocuments = (docs, o) => packDocuments(docs, o).map((w, i) => (i > 0 && o.variant === 'intra_doc_reset' ? { ...w, positionIds: w.positionIds.map((p, t) => (w.docIds[t] === w.docIds[0] ? p + 1 : p)) } : w));
  assert.ok(fails(packingProperty(buggy)));
});

test('flexFlashProperty: the reference attention passes on every path; an attention that drops the anchor column is caught', () => {
  const ref = (c: AttentionCase) => attentionForward(c.q, c.k, c.v, c.shape, c.docIds, { variant: c.variant, precision: c.precision });
  holds(flexFlashProperty(ref));
  holds(flexFlashProperty(myAttention()));
  assert.ok(fails(flexFlashProperty(myAttention('no-anchor'))));
});

test.run();

// The properties offered to other people's suites: each holds for a correct implementation
// (here, independent re-implementations or the reference) and catches a planted bug.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { blockMaskProperty, maskProperty, positionIdsProperty, ropeApplyHfProperty } from '../properties/index.ts';
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

test.run();

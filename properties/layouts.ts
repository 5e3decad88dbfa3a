// fast-check arbitraries and properties for document layouts, masks and RoPE, for other
// people's suites: pass your implementation to a property and fc.assert it.
//   fc.assert(maskProperty((variant, docIds) => myMask(variant, docIds)))

import fc from 'fast-check';
import { blockMask, denseMask, positionIds, VARIANTS, type Variant } from '../reference/masks.ts';
import { ropeApply, ropeCosSin, ROPE_LAYOUTS, type RopeLayout } from '../reference/rope.ts';
import { fromF32, toF32 } from '../reference/bf16.ts';

/** a mask variant */
export const variantArb = (): fc.Arbitrary<Variant> => fc.constantFrom(...VARIANTS);

/**
 * a window's document ids: documents of random lengths (ids 1, 2, …), for `anchor` an anchor
 * (id 0) first, and sometimes a few tokens swapped so documents interleave
 */
export const docLayoutArb = (variant: Variant, maxL = 96): fc.Arbitrary<Int32Array> =>
  fc
    .tuple(fc.array(fc.integer({ min: 1, max: Math.max(1, maxL >> 2) }), { minLength: 1, maxLength: 8 }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 3 }))
    .map(([lengths, swaps]) => {
      const anchor = variant === 'anchor' ? 1 : 0;
      const ids: number[] = anchor ? [0] : [];
      lengths.forEach((n, d) => ids.push(...Array.from({ length: n }, () => d + 1)));
      const body = ids.length - anchor;
      for (const [a, b] of swaps) {
        const i = anchor + (a % body);
        const j = anchor + (b % body);
        [ids[i], ids[j]] = [ids[j], ids[i]];
      }
      return Int32Array.from(ids.slice(0, Math.max(maxL, 1)));
    });

/** a variant together with a layout for it */
export const maskCaseArb = (maxL = 96): fc.Arbitrary<{ variant: Variant; docIds: Int32Array }> =>
  variantArb().chain((variant) => docLayoutArb(variant, maxL).map((docIds) => ({ variant, docIds })));

const sameBytes = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);

/** someone's dense mask ([L·L], 1 = allowed, row-major: query row, key column) equals the oracle's */
export const maskProperty = (impl: (variant: Variant, docIds: Int32Array) => ArrayLike<number>) =>
  fc.property(maskCaseArb(), ({ variant, docIds }) => sameBytes(impl(variant, docIds), denseMask(variant, docIds)));

/** someone's FlexAttention block table ([nb·nb]: 0 empty, 1 partial, 2 full) equals the oracle's */
export const blockMaskProperty = (impl: (variant: Variant, docIds: Int32Array, blockSize: number) => ArrayLike<number>) =>
  fc.property(maskCaseArb(), fc.integer({ min: 1, max: 16 }), ({ variant, docIds }, B) => sameBytes(impl(variant, docIds, B), blockMask(variant, docIds, B).kind));

/** someone's RoPE position ids (intra_doc_reset counts from 0 in each document) equal the oracle's */
export const positionIdsProperty = (impl: (variant: Variant, docIds: Int32Array) => ArrayLike<number>) =>
  fc.property(maskCaseArb(), ({ variant, docIds }) => sameBytes(impl(variant, docIds), positionIds(variant, docIds)));

/** bf16 bit patterns of finite values of moderate size (|x| < 2^8), as RoPE inputs */
export const bf16ActivationArb = (n: number): fc.Arbitrary<Uint16Array> =>
  fc.array(fc.double({ min: -200, max: 200, noNaN: true }), { minLength: n, maxLength: n }).map((xs) => Uint16Array.from(xs, (x) => fromF32(x)));

/** a RoPE problem: x [H, T, D] as bf16 bits, positions [T], a layout and a base */
export const ropeCaseArb = () =>
  fc
    .record({
      H: fc.integer({ min: 1, max: 2 }),
      T: fc.integer({ min: 1, max: 6 }),
      halfD: fc.integer({ min: 1, max: 16 }),
      layout: fc.constantFrom(...ROPE_LAYOUTS),
      base: fc.constantFrom(1e4, 5e5, 1e6),
      start: fc.integer({ min: 0, max: 1 << 17 }),
    })
    .chain((c) => bf16ActivationArb(c.H * c.T * 2 * c.halfD).map((x) => ({ ...c, D: 2 * c.halfD, x, positions: Int32Array.from({ length: c.T }, (_, t) => c.start + t) })));

/**
 * someone's hf-path rope apply (transformers in bf16: y = bf16(bf16(x·cos) + bf16(rot(x)·sin))
 * with the oracle's bf16 cos/sin) is bit-exact: x, cos, sin and y as bf16 bits
 */
export const ropeApplyHfProperty = (impl: (x: Uint16Array, cos: Uint16Array, sin: Uint16Array, shape: { H: number; T: number; D: number }, layout: RopeLayout) => ArrayLike<number>) =>
  fc.property(ropeCaseArb(), ({ H, T, D, x, positions, layout, base }) => {
    const { cos, sin } = ropeCosSin(positions, { dim: D, base, path: 'hf', layout });
    const want = ropeApply(Float64Array.from(x, (b) => toF32(b)), H, T, D, cos, sin, { path: 'hf', layout });
    const bits = (v: ArrayLike<number>) => Uint16Array.from(v, (y) => fromF32(y)); // exact: these are bf16 values
    const got = impl(x, bits(cos), bits(sin), { H, T, D }, layout);
    return sameBytes(got, bits(want));
  });

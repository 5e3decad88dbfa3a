// fast-check properties of a rotation-based RoPE on the f64 and f32 paths, for other people's
// suites: pass your rotation of one head vector and fc.assert the property.
//   fc.assert(ropeRelativePositionProperty((x, p, cfg) => myRope(x, p, cfg), 'f32'))
//
// The bound (SPEC.md, "RoPE properties"): with u the path's unit roundoff, a rotation that
// computes inv_freq within 2.5 steps, the angle as one rounded product of it and the position,
// cos/sin within 1.5 ulps and y = x·cos ± x'·sin with a rounding per op satisfies
//   ‖R̃(p)x − R(p)x‖ ≤ ε(p)·‖x‖,   ε(p) = u·(7p + 3√2 + 4)·(1 + 2^-20)
// (7p: 5u of inv_freq, u of the product, u of the position's own rounding, times the angle
// ω·p ≤ p; 3√2: the cos/sin pair; 4: the two rounded products and the sum of each pair).

import fc from 'fast-check';
import { ropeRotate, ROPE_LAYOUTS, type RopeLayout } from '../reference/rope.ts';

/** a RoPE configuration a rotation receives */
export interface RopeVectorConfig {
  dim: number;
  base: number;
  layout: RopeLayout;
}
/** someone's RoPE of one head vector x [dim] at a position */
export type RopeVectorImpl = (x: Float64Array, position: number, cfg: RopeVectorConfig) => ArrayLike<number>;
export type ExactRopePath = 'f64' | 'f32';

const UNIT = { f64: 2 ** -53, f32: 2 ** -24 } as const;

/** ε(p): the relative 2-norm error of one rotated vector at position p on a path (see above) */
export const ropeRotationBound = (path: ExactRopePath, p: number): number => UNIT[path] * (7 * p + 3 * Math.SQRT2 + 4) * (1 + 2 ** -20);

/** a RoPE configuration: head dim, base, layout */
export const ropeConfigArb = (): fc.Arbitrary<RopeVectorConfig> =>
  fc.record({
    dim: fc.constantFrom(2, 4, 8, 16, 64, 128),
    base: fc.constantFrom(1e4, 5e5, 1e6, 1e7),
    layout: fc.constantFrom(...ROPE_LAYOUTS),
  });

/** positions: mostly where rounding errors are still small, some up to 2^20 */
const positionArb = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 4096 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 20 }) });

/**
 * a vector of `dim` values in [−4, 4], representable on the path, each 0 or of size ≥ 2^-20 so
 * no product underflows (the bound is relative; a subnormal result's error is not)
 */
export const ropeVectorArb = (dim: number, path: ExactRopePath): fc.Arbitrary<Float64Array> =>
  fc
    .array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: dim, maxLength: dim })
    .map((xs) => Float64Array.from(xs, (x) => (Math.abs(x) < 2 ** -20 ? 0 : path === 'f32' ? Math.fround(x) : x)));

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const norm = (a: ArrayLike<number>) => Math.sqrt(dot(a, a));
const fail = (msg: string): never => {
  throw new Error(msg);
};
const call = (impl: RopeVectorImpl, x: Float64Array, p: number, cfg: RopeVectorConfig): ArrayLike<number> => {
  const y = impl(Float64Array.from(x), p, cfg);
  if (y.length !== cfg.dim) fail(`the rotation returned ${y.length} values for dim ${cfg.dim}`);
  return y;
};

/**
 * the relative-position property: ⟨R̃(m+Δ)q, R̃(n+Δ)k⟩ − ⟨R̃(m)q, R̃(n)k⟩ stays within the error
 * the path's roundings allow, (ε(m) + ε(n) + ε(m)ε(n) + the same at m+Δ, n+Δ + 2·dim·2^-53)·‖q‖‖k‖
 */
export const ropeRelativePositionProperty = (impl: RopeVectorImpl, path: ExactRopePath) =>
  fc.property(
    ropeConfigArb().chain((cfg) => fc.tuple(fc.constant(cfg), ropeVectorArb(cfg.dim, path), ropeVectorArb(cfg.dim, path))),
    positionArb,
    positionArb,
    positionArb,
    ([cfg, q, k], m, n, delta) => {
      const e = (p: number) => ropeRotationBound(path, p);
      const pair = (a: number, b: number) => e(a) + e(b) + e(a) * e(b);
      const bound = (pair(m, n) + pair(m + delta, n + delta) + 2 * cfg.dim * 2 ** -53 * (1 + e(m + delta)) ** 2) * norm(q) * norm(k);
      const s0 = dot(call(impl, q, m, cfg), call(impl, k, n, cfg));
      const s1 = dot(call(impl, q, m + delta, cfg), call(impl, k, n + delta, cfg));
      const err = Math.abs(s1 - s0);
      if (!(err <= bound)) fail(`⟨R(m+Δ)q, R(n+Δ)k⟩ − ⟨R(m)q, R(n)k⟩ = ${err.toExponential(3)} > bound ${bound.toExponential(3)} (m ${m}, n ${n}, Δ ${delta}, ${JSON.stringify(cfg)}, ${path})`);
      return true;
    },
  );

/** the rotation preserves norms: |‖R̃(p)x‖ − ‖x‖| ≤ (ε(p) + dim·2^-53)·‖x‖ */
export const ropeNormProperty = (impl: RopeVectorImpl, path: ExactRopePath) =>
  fc.property(ropeConfigArb().chain((cfg) => fc.tuple(fc.constant(cfg), ropeVectorArb(cfg.dim, path))), positionArb, ([cfg, x], p) => {
    const nx = norm(x);
    const err = Math.abs(norm(call(impl, x, p, cfg)) - nx);
    const bound = (ropeRotationBound(path, p) + cfg.dim * 2 ** -53) * nx;
    if (!(err <= bound)) fail(`|‖R(p)x‖ − ‖x‖| = ${err.toExponential(3)} > bound ${bound.toExponential(3)} (p ${p}, ${JSON.stringify(cfg)}, ${path})`);
    return true;
  });

/**
 * someone's inverse undoes their rotation: ‖Ũ(p)R̃(p)x − x‖ ≤ ε(p)(2 + ε(p))·‖x‖ (each side
 * within ε of an exact rotation, R(−p)R(p) = I), plus the check's own 2-norm rounding
 */
export const ropeInverseProperty = (impl: RopeVectorImpl, inverse: RopeVectorImpl, path: ExactRopePath) =>
  fc.property(ropeConfigArb().chain((cfg) => fc.tuple(fc.constant(cfg), ropeVectorArb(cfg.dim, path))), positionArb, ([cfg, x], p) => {
    const y = call(inverse, Float64Array.from(call(impl, x, p, cfg)), p, cfg);
    const diff = Float64Array.from(x, (v, i) => y[i] - v);
    const e = ropeRotationBound(path, p);
    const err = norm(diff);
    const bound = (e * (2 + e) + cfg.dim * 2 ** -53) * norm(x);
    if (!(err <= bound)) fail(`‖U(p)R(p)x − x‖ = ${err.toExponential(3)} > bound ${bound.toExponential(3)} (p ${p}, ${JSON.stringify(cfg)}, ${path})`);
    return true;
  });

/** the oracle's rotation of one vector on a path (for comparing, and as an example impl) */
export const referenceRope =
  (path: ExactRopePath): RopeVectorImpl =>
  (x, p, cfg) =>
    ropeRotate(x, 1, 1, cfg.dim, [p], { ...cfg, path });

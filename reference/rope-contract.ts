// The derived tolerances of the rope ops against an implementation that uses a 1-ulp
// libm (PyTorch's Sleef / glibc pow, cos, sin) instead of correctly rounded ones.
// SPEC.md, "rope: contracts", has the derivations and the measured figures.

import type { RopePath } from './rope.ts';

/**
 * inv_freq (f32) steps from the oracle. default / dynamic / longrope: a pow within 1 ulp
 * of the exact value is at most 1 step from the correctly rounded one; the reciprocal of
 * two values 1 step apart (relative gap ≤ 2^-23) lands at most 2 steps apart. linear,
 * yarn and llama3 run up to two more correctly rounded f32 ops on that value
 * (÷factor, ×(1−ef), + …), each adding at most one step: 4.
 */
export function invFreqTolerance(scaling: Record<string, unknown> | undefined): number {
  const type = (scaling?.rope_type ?? scaling?.type ?? 'default') as string;
  return type === 'linear' || type === 'yarn' || type === 'llama3' ? 4 : 2;
}

/**
 * cos/sin steps from the oracle, GIVEN the oracle's inv_freq: a 1-ulp libm result is at
 * most one f32 step from the correctly rounded one; × attention_scaling s (≠ 1) maps a
 * one-step gap to < 2 steps of the product's binade, so ≤ 2 after rounding; the bf16 cast
 * is monotone and a gap of ≤ 2 f32 steps crosses at most one bf16 rounding boundary.
 * f64: not correctly rounded on either side (fdlibm vs another libm): ≤ 2 f64 ulps of
 * cos/sin of the same angle, plus the angle's own difference, bounded per element by
 * 8·2^-53·(1 + |angle|) absolute.
 */
export function cosSinUlpTolerance(path: RopePath, attentionScaling: number): number {
  if (path === 'hf') return 1;
  return Math.fround(attentionScaling) === 1 ? 1 : 2;
}
export const F64_COS_SIN_ABS = (angle: number): number => 8 * 2 ** -53 * (1 + Math.abs(angle));

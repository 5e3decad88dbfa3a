// Learning-rate schedules and global-norm gradient clipping.

import type { ParamValues } from '../reference/model/params.ts';

export type ScheduleKind = 'constant' | 'cosine';
export interface Schedule {
  lr: number;
  warmup: number;
  total: number;
  kind: ScheduleKind;
  /** cosine floor as a fraction of lr (default 0.1) */
  minRatio?: number;
}

/** lr at optimizer step s (0-based): linear warmup over `warmup` steps, then constant or cosine to minRatio·lr */
export function lrAt(s: number, sc: Schedule): number {
  if (sc.warmup > 0 && s < sc.warmup) return (sc.lr * (s + 1)) / sc.warmup;
  if (sc.kind === 'constant') return sc.lr;
  const span = Math.max(1, sc.total - sc.warmup);
  const frac = Math.min(1, (s - sc.warmup) / span);
  const min = sc.lr * (sc.minRatio ?? 0.1);
  return min + 0.5 * (sc.lr - min) * (1 + Math.cos(Math.PI * frac));
}

/** the global L2 norm of all gradients (accumulated in f64) */
export function globalNorm(grads: Map<string, ParamValues>): number {
  let s = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** scale gradients so their global norm is at most maxNorm (torch's clip_grad_norm_: coef = max/(norm+1e-6)); returns the norm before */
export function clipGradNorm(grads: Map<string, ParamValues>, maxNorm: number, r: (x: number) => number): number {
  const norm = globalNorm(grads);
  if (maxNorm > 0 && norm > maxNorm) {
    const coef = r(maxNorm / (norm + 1e-6));
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = r(g[i] * coef);
  }
  return norm;
}

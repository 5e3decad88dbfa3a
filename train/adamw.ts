// AdamW (Loshchilov & Hutter: decoupled weight decay), as torch.optim.AdamW's
// single-tensor path computes it, with every op rounded to the master dtype (f32
// masters: Math.fround after each op, so a resumed run is bit-identical):
//   p ← p·(1 − lr·wd)
//   m ← m + (g − m)·(1 − β1)            (torch's lerp_)
//   v ← v·β2 + (1 − β2)·g²
//   p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)

import { zerosLike, type ParamValues } from '../reference/model/params.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** decay every parameter, norm weights and biases included (the paper's DeepSpeed AdamW); default: matrices only */
  decayAll?: boolean;
}
export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

export interface AdamWState {
  step: number;
  /** the moments, held like their parameters (float32 storage for float32 masters: every value is rounded to float32) */
  m: Map<string, ParamValues>;
  v: Map<string, ParamValues>;
}

export function newAdamW(params: Map<string, ParamValues>): AdamWState {
  const z = () => new Map([...params].map(([k, p]) => [k, zerosLike(p)]));
  return { step: 0, m: z(), v: z() };
}

/** weight decay applies to matrices, not to norm weights or biases (the usual LLaMA recipe; see decayAll) */
export function decays(name: string): boolean {
  return !(name.endsWith('.bias') || name.endsWith('norm.weight'));
}

/** one AdamW step in place; `r` rounds to the master dtype (Math.fround for f32 masters) */
export function adamwStep(params: Map<string, ParamValues>, grads: Map<string, ParamValues>, st: AdamWState, lr: number, cfg: AdamWConfig, r: (x: number) => number): void {
  st.step++;
  const t = st.step;
  const b1 = r(cfg.beta1);
  const b2 = r(cfg.beta2);
  const bc1 = 1 - cfg.beta1 ** t;
  const bc2Sqrt = Math.sqrt(1 - cfg.beta2 ** t);
  const stepSize = r(lr / bc1);
  const eps = r(cfg.eps);
  for (const [name, p] of params) {
    const g = grads.get(name);
    if (!g) throw new Error(`adamw: no gradient for ${name}`);
    const m = st.m.get(name)!;
    const v = st.v.get(name)!;
    const decay = cfg.decayAll || decays(name) ? r(1 - r(lr * cfg.weightDecay)) : 1;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      p[i] = r(p[i] * decay);
      m[i] = r(m[i] + r(r(gi - m[i]) * r(1 - b1)));
      v[i] = r(r(v[i] * b2) + r(r(1 - b2) * r(gi * gi)));
      const denom = r(r(r(Math.sqrt(v[i])) / r(bc2Sqrt)) + eps);
      p[i] = r(p[i] - r(stepSize * r(m[i] / denom)));
    }
  }
}

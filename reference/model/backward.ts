// The hand-written backward pass of modelForward: every op's gradient, in reverse order,
// from the forward cache. No numeric differentiation. Gradients are rounded like the
// forward's results (one rounding per op, to the policy dtype); a tied LM head's gradient
// is added into the embedding's.

import { embeddingBackward } from './layers.ts';
import { fromHeads, modelForward, P, toHeads, type ForwardOptions, type ForwardResult } from './forward.ts';
import { storageOf, zerosLike, type Model, type ParamValues } from './params.ts';

/** gradients of every parameter given d(loss)/d(logits) [T, V] */
export function modelBackward(m: Model, fwd: ForwardResult, dlogits: Float64Array): Map<string, ParamValues> {
  const cfg = m.config;
  const c = fwd.cache;
  const { pol, backend: be, ropeCfg, cos, sin, docIds } = c;
  const { hiddenSize: d, numHeads: Hq, numKvHeads: Hkv, headDim: D, vocabSize: V, intermediateSize: I } = cfg;
  const T = fwd.T;
  if (c.layers.length !== cfg.numLayers) throw new Error('modelBackward: the forward ran with keepActivations: false (inference); run it with the default to take gradients');
  const grads = new Map<string, ParamValues>();
  const get = (name: string) => m.params.get(name === P.lmHead && cfg.tieWordEmbeddings ? P.embed : name)!;
  const shape = { Hq, Hkv, L: T, D };
  const attnOpts = c.attnOpts;

  // LM head and final norm
  const lm = be.linearBackward(dlogits, c.hn, T, d, get(P.lmHead), V, false, pol.act);
  const fn = be.rmsnormBackward(lm.dx, c.hFinal, c.rstdF, T, d, get(P.norm), pol);
  grads.set(P.norm, fn.dw);
  let dh = fn.dx;
  for (let l = cfg.numLayers - 1; l >= 0; l--) {
    const L = c.layers[l];
    const name = (s: string) => P.layer(l, s);
    const hasBias = (s: string) => m.params.has(name(s));
    const put = (s: string, g: Float64Array | null) => {
      if (g && hasBias(s)) grads.set(name(s), g);
    };
    // h3 = h2 + down(m): the residual passes dh through
    const down = be.linearBackward(dh, L.m, T, I, get(name('mlp.down_proj.weight')), d, hasBias('mlp.down_proj.bias'), pol.act);
    grads.set(name('mlp.down_proj.weight'), down.dW);
    put('mlp.down_proj.bias', down.db);
    const sw = be.swigluBackward(down.dx, L.gate, L.up, L.act, pol);
    const gp = be.linearBackward(sw.dgate, L.xn2, T, d, get(name('mlp.gate_proj.weight')), I, hasBias('mlp.gate_proj.bias'), pol.act);
    const upb = be.linearBackward(sw.dup, L.xn2, T, d, get(name('mlp.up_proj.weight')), I, hasBias('mlp.up_proj.bias'), pol.act);
    grads.set(name('mlp.gate_proj.weight'), gp.dW);
    put('mlp.gate_proj.bias', gp.db);
    grads.set(name('mlp.up_proj.weight'), upb.dW);
    put('mlp.up_proj.bias', upb.db);
    const dxn2 = new Float64Array(T * d);
    for (let i = 0; i < dxn2.length; i++) dxn2[i] = pol.act(gp.dx[i] + upb.dx[i]);
    const n2 = be.rmsnormBackward(dxn2, L.h2, L.rstd2, T, d, get(name('post_attention_layernorm.weight')), pol);
    grads.set(name('post_attention_layernorm.weight'), n2.dw);
    const dh2 = new Float64Array(T * d);
    for (let i = 0; i < dh2.length; i++) dh2[i] = pol.act(dh[i] + n2.dx[i]);
    // h2 = hIn + o_proj(attention)
    const ob = be.linearBackward(dh2, L.o, T, Hq * D, get(name('self_attn.o_proj.weight')), d, hasBias('self_attn.o_proj.bias'), pol.act);
    grads.set(name('self_attn.o_proj.weight'), ob.dW);
    put('self_attn.o_proj.bias', ob.db);
    const dOut = toHeads(ob.dx, T, Hq, D);
    const ab = be.attentionBackward(L.q, L.k, L.v, L.attnOut, L.lse, dOut, shape, docIds, attnOpts);
    const dqLin = fromHeads(be.ropeApplyBackward(ab.dq, Hq, T, D, cos, sin, ropeCfg), T, Hq, D);
    const dkLin = fromHeads(be.ropeApplyBackward(ab.dk, Hkv, T, D, cos, sin, ropeCfg), T, Hkv, D);
    const dvLin = fromHeads(ab.dv, T, Hkv, D);
    const qb = be.linearBackward(dqLin, L.xn1, T, d, get(name('self_attn.q_proj.weight')), Hq * D, hasBias('self_attn.q_proj.bias'), pol.act);
    const kb = be.linearBackward(dkLin, L.xn1, T, d, get(name('self_attn.k_proj.weight')), Hkv * D, hasBias('self_attn.k_proj.bias'), pol.act);
    const vb = be.linearBackward(dvLin, L.xn1, T, d, get(name('self_attn.v_proj.weight')), Hkv * D, hasBias('self_attn.v_proj.bias'), pol.act);
    grads.set(name('self_attn.q_proj.weight'), qb.dW);
    put('self_attn.q_proj.bias', qb.db);
    grads.set(name('self_attn.k_proj.weight'), kb.dW);
    put('self_attn.k_proj.bias', kb.db);
    grads.set(name('self_attn.v_proj.weight'), vb.dW);
    put('self_attn.v_proj.bias', vb.db);
    const dxn1 = new Float64Array(T * d);
    // autograd adds the three uses of xn1 as their gradients arrive: v's, then k's, then q's
    for (let i = 0; i < dxn1.length; i++) dxn1[i] = pol.act(pol.act(vb.dx[i] + kb.dx[i]) + qb.dx[i]);
    const n1 = be.rmsnormBackward(dxn1, L.hIn, L.rstd1, T, d, get(name('input_layernorm.weight')), pol);
    grads.set(name('input_layernorm.weight'), n1.dw);
    const dhIn = new Float64Array(T * d);
    for (let i = 0; i < dhIn.length; i++) dhIn[i] = pol.act(dh2[i] + n1.dx[i]);
    dh = dhIn;
  }
  // every add is rounded to the policy dtype, so the policy's weight storage holds it exactly
  const dE = zerosLike(storageOf(pol.weightDtype), V * d);
  embeddingBackward(dh, c.ids, dE, d, pol.act);
  if (cfg.tieWordEmbeddings) for (let i = 0; i < dE.length; i++) dE[i] = pol.act(dE[i] + lm.dW[i]);
  else grads.set(P.lmHead, lm.dW);
  grads.set(P.embed, dE);
  // named-parameter order, as the checkpoint
  return new Map([...m.params.keys()].map((k) => [k, grads.get(k)!]));
}

export interface LossGrad {
  loss: number;
  count: number;
  /** by parameter name; a weight gradient may be in float32 storage under the f32 and bf16 policies (its values are the policy dtype's) */
  grads: Map<string, ParamValues>;
  fwd: ForwardResult;
}

/** forward + cross-entropy + backward: the loss (mean over labels ≠ -100) and every gradient */
export function modelLossGrad(m: Model, inputIds: ArrayLike<number>, labels: ArrayLike<number>, opts: ForwardOptions): LossGrad {
  if (labels.length !== inputIds.length) throw new RangeError(`modelLossGrad: ${labels.length} labels for ${inputIds.length} tokens`);
  const fwd = modelForward(m, inputIds, opts);
  const ce = fwd.cache.backend.crossEntropy(fwd.logits, fwd.T, fwd.V, labels, fwd.cache.pol);
  const grads = ce.count ? modelBackward(m, fwd, ce.dlogits) : new Map([...m.params].map(([k, v]) => [k, new Float64Array(v.length)]));
  return { loss: ce.loss, count: ce.count, grads, fwd };
}

// Tolerances for comparing two attention implementations that round at the same points but
// sum in different orders (SPEC.md, "Attention / tolerances"). Derived per (head, query row)
// from the inputs; first-order error analysis, with u the unit roundoff of the arithmetic.
//
//   S_i   = scale · max over the row's allowed keys j of Σ_d |q_i,d|·|k_j,d|   (≥ |s_ij|)
//   ε_s   = (D+2)·u·S_i                       one implementation's logit error (dot + scale)
//           + 2·2^-9·S_i on bf16_eager        (its two bf16 roundings of the logits)
//   η     = 2ε_s + 4u·S_i + (L+4)u            relative error of one normalised weight
//                                             (s − m, exp, the row sum)
//   out   : |got − want| ≤ 2·V·(2η + (L+1)u)  V = max|v of the row's kv head| (P·V sum, division)
//   lse   : |got − want| ≤ 2·(ε_s + 2u·S_i + (L+3)u + u·|lse|)
// The factor 2 is because both sides carry an error of that size against the exact value.
// bf16 outputs use flash-attn's rule instead (flashRule below).

import { attentionForwardRows, inputRounding, roundedInputs, type AttnOptions, type AttnShape } from './attention.ts';
import { isAllowed } from './masks.ts';

export const UNIT_ROUNDOFF = { f64: 2 ** -53, f32: 2 ** -24, bf16: 2 ** -8 } as const;

export function forwardBounds(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  lse: ArrayLike<number>,
  shape: AttnShape,
  docIds: ArrayLike<number>,
  opts: AttnOptions,
): { out: Float64Array; lse: Float64Array } {
  return forwardBoundsRows(q, k, v, lse, shape, Int32Array.from({ length: shape.L }, (_, i) => i), docIds, opts);
}

/**
 * The bounds of some query rows only: q [Hq, R, D] holds the queries of window rows `rows`,
 * lse [Hq, R] the oracle's LSE of those rows; the bounds are [Hq, R], each equal to the full
 * forwardBounds entry of that row.
 */
export function forwardBoundsRows(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  lse: ArrayLike<number>,
  shape: AttnShape,
  rows: ArrayLike<number>,
  docIds: ArrayLike<number>,
  opts: AttnOptions,
): { out: Float64Array; lse: Float64Array } {
  const { Hq, Hkv, L, D } = shape;
  const R = rows.length;
  const rin = inputRounding(opts.precision);
  // the path's inputs, rounded once (no copy when they already are)
  q = roundedInputs(q, opts.precision);
  k = roundedInputs(k, opts.precision);
  const u = opts.precision === 'f64' ? UNIT_ROUNDOFF.f64 : UNIT_ROUNDOFF.f32;
  const scale = Math.abs(opts.scale ?? 1 / Math.sqrt(D));
  const group = Hq / Hkv;
  const vMax = new Float64Array(Hkv);
  for (let g = 0; g < Hkv; g++) for (let x = g * L * D; x < (g + 1) * L * D; x++) vMax[g] = Math.max(vMax[g], Math.abs(rin(v[x])));
  const out = new Float64Array(Hq * R);
  const lseTol = new Float64Array(Hq * R);
  for (let h = 0; h < Hq; h++) {
    const g = Math.floor(h / group);
    for (let r = 0; r < R; r++) {
      const i = rows[r];
      let S = 0;
      for (let j = 0; j <= i; j++) {
        if (!isAllowed(opts.variant, docIds, i, j)) continue;
        let a = 0;
        const qo = (h * R + r) * D;
        const ko = (g * L + j) * D;
        for (let d = 0; d < D; d++) a += Math.abs(q[qo + d] * k[ko + d]);
        S = Math.max(S, scale * a * (1 + 2 ** -40)); // the f64 sum's own error, generously
      }
      const eps = (D + 2) * u * S + (opts.precision === 'bf16_eager' ? 2 * 2 ** -9 * S : 0);
      const eta = 2 * eps + 4 * u * S + (L + 4) * u;
      out[h * R + r] = 2 * vMax[g] * (2 * eta + (L + 1) * u);
      lseTol[h * R + r] = 2 * (eps + 2 * u * S + (L + 3) * u + u * Math.abs(lse[h * R + r]));
    }
  }
  return { out, lse: lseTol };
}

/** elements of `got` outside the per-row bound `tol` ([rows], each row `width` elements wide) around `want` */
export function outsideRowBound(got: ArrayLike<number>, want: ArrayLike<number>, tol: ArrayLike<number>, width: number): { i: number; error: number; bound: number }[] {
  const bad: { i: number; error: number; bound: number }[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (g === w) continue; // equal infinities (an empty row's lse)
    const bound = tol[Math.floor(i / width)];
    if (!(Math.abs(g - w) <= bound)) bad.push({ i, error: Math.abs(g - w), bound });
  }
  return bad;
}

/**
 * flash-attn's rule (tests/test_flash_attn.py): an implementation's max error against the f64
 * reference may be at most `factor` times the max error of the oracle's own output on the same
 * path. Returns the offending elements (those whose error exceeds the allowance) and the numbers.
 */
export function flashRule(got: ArrayLike<number>, oracle: ArrayLike<number>, ref: ArrayLike<number>, factor = 2): { bad: { i: number; error: number; bound: number }[]; oracleErr: number; gotErr: number } {
  let oracleErr = 0;
  let gotErr = 0;
  for (let i = 0; i < ref.length; i++) {
    oracleErr = Math.max(oracleErr, Math.abs(oracle[i] - ref[i]));
    const e = Math.abs(got[i] - ref[i]);
    gotErr = e > gotErr || e !== e ? e : gotErr;
  }
  const bad: { i: number; error: number; bound: number }[] = [];
  const bound = factor * oracleErr;
  for (let i = 0; i < ref.length; i++) {
    const error = Math.abs(got[i] - ref[i]);
    if (!(error <= bound)) bad.push({ i, error, bound });
  }
  return { bad, oracleErr, gotErr };
}

/** the f64 reference a bf16 / f32 path is judged against: f64 arithmetic on the path's rounded inputs */
export function f64Reference(q: Float64Array, k: Float64Array, v: Float64Array, shape: AttnShape, docIds: ArrayLike<number>, opts: AttnOptions): Float64Array {
  return f64ReferenceRows(q, k, v, shape, Int32Array.from({ length: shape.L }, (_, i) => i), docIds, opts);
}

/** f64Reference of some query rows: q [Hq, R, D] the queries of window rows `rows`; out [Hq, R, D] */
export function f64ReferenceRows(q: Float64Array, k: Float64Array, v: Float64Array, shape: AttnShape, rows: ArrayLike<number>, docIds: ArrayLike<number>, opts: AttnOptions): Float64Array {
  const p = opts.precision;
  return attentionForwardRows(roundedInputs(q, p), roundedInputs(k, p), roundedInputs(v, p), shape, rows, docIds, { ...opts, precision: 'f64', exactQK: false }).out;
}

// RoPE in bf16 against position: for bases 1e4, 1e6, 5e7 and positions 0…131072, the
// error of transformers' bf16 cos/sin (f32 angle, f32 cos/sin, bf16 cast) against the
// exact values, and the relative-position violation |<R(m+Δ)q, R(n+Δ)k> − <R(m)q, R(n)k>|
// on the hf path. Every number is computed here.

import { join } from 'node:path';
import { writeFileAtomic } from '../io/lines.ts';
import { linePlot, type Series } from '../io/svg-plot.ts';
import { bf16Value } from '../reference/bf16.ts';
import { ropeCosSin, ropeInvFreq, ropeRotate, type RopeConfig } from '../reference/rope.ts';
import { cosSinOfProduct } from '../reference/rope-trig.ts';
import { Rng } from '../reference/rng.ts';

const D = 128;
const BASES = [1e4, 1e6, 5e7];
const TABLE_POSITIONS = [0, 1, 16, 256, 4096, 16384, 65536, 131072];
const PAIRS = 48;

/** positions 0, then ~4 per octave up to 2^17 */
function plotPositions(): number[] {
  const ps = new Set<number>([0]);
  for (let e = 0; e <= 68; e++) ps.add(Math.round(2 ** (e / 4)));
  return [...ps].filter((p) => p <= 131072).sort((a, b) => a - b);
}

/** max over frequencies of |bf16 cos − cos|, |bf16 sin − sin| at one position (exact angle inv_freq·pos, f64 inv_freq) */
function cosSinError(base: number, pos: number): number {
  const hf = ropeCosSin([pos], { dim: D, base, path: 'hf', layout: 'half' });
  const { invFreq } = ropeInvFreq({ dim: D, base, path: 'f64', layout: 'half' });
  let worst = 0;
  for (let i = 0; i < D / 2; i++) {
    const e = cosSinOfProduct(invFreq[i], pos);
    worst = Math.max(worst, Math.abs(hf.cos[i] - e.cos), Math.abs(hf.sin[i] - e.sin));
  }
  return worst;
}

/** mean over seeded bf16 q, k pairs of |<R(m+Δ)q, R(n+Δ)k> − <R(m)q, R(n)k>| / (|q||k|), hf path */
function violation(base: number, delta: number, seed: number): number {
  const rng = new Rng(seed);
  const cfg: RopeConfig = { dim: D, base, path: 'hf', layout: 'half' };
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
  let sum = 0;
  for (let k = 0; k < PAIRS; k++) {
    const q = Float64Array.from({ length: D }, () => bf16Value(rng.normal()));
    const kk = Float64Array.from({ length: D }, () => bf16Value(rng.normal()));
    const m = rng.int(0, 15);
    const n = rng.int(0, 15);
    const s0 = dot(ropeRotate(q, 1, 1, D, [m], cfg), ropeRotate(kk, 1, 1, D, [n], cfg));
    const s1 = dot(ropeRotate(q, 1, 1, D, [m + delta], cfg), ropeRotate(kk, 1, 1, D, [n + delta], cfg));
    sum += Math.abs(s1 - s0) / Math.sqrt(dot(q, q) * dot(kk, kk));
  }
  return sum / PAIRS;
}

export function ropeReport(seed = 1): { lines: string[]; svgs: { name: string; svg: string }[] } {
  const lines: string[] = [];
  lines.push(`RoPE on transformers' bf16 path (d = ${D}): f32 inv_freq and angle, f32 cos/sin, cast to bf16, rotation in bf16.`);
  lines.push(`cos/sin error = max over the ${D / 2} frequencies of |bf16 value − exact value|;`);
  lines.push(`violation = mean over ${PAIRS} bf16 (q, k) pairs of |<R(m+Δ)q, R(n+Δ)k> − <R(m)q, R(n)k>| / (|q||k|), m, n < 16.`);
  lines.push('');
  const head = ['Δ = position'.padEnd(14), ...BASES.map((b) => `err ${b.toExponential(0)}`.padStart(12)), ...BASES.map((b) => `viol ${b.toExponential(0)}`.padStart(12))];
  lines.push(head.join(''));
  for (const p of TABLE_POSITIONS) {
    const errs = BASES.map((b) => cosSinError(b, p).toExponential(2).padStart(12));
    const viols = BASES.map((b) => violation(b, p, seed).toExponential(2).padStart(12));
    lines.push([String(p).padEnd(14), ...errs, ...viols].join(''));
  }
  const xs = plotPositions().filter((p) => p > 0);
  const series: Series[] = [];
  for (const b of BASES) series.push({ name: `cos/sin error, base ${b.toExponential(0)}`, x: xs, y: xs.map((p) => cosSinError(b, p)) });
  for (const b of BASES) series.push({ name: `violation, base ${b.toExponential(0)}`, x: xs, y: xs.map((p) => violation(b, p, seed)) });
  const svg = linePlot(series, { title: 'bf16 RoPE: cos/sin error and relative-position violation vs position', xLabel: 'position (= shift Δ)', yLabel: 'error', logX: true, logY: true });
  lines.push('');
  const ratios = BASES.map((b) => `${b.toExponential(0)}: ×${(violation(b, 131072, seed) / violation(b, 1, seed)).toFixed(2)}`);
  const worst = BASES.map((b) => `${b.toExponential(0)}: ${(cosSinError(b, 131072) / 2 ** -9).toFixed(2)}`);
  lines.push(`violation at Δ = 131072 relative to Δ = 1: ${ratios.join(', ')}`);
  lines.push(`cos/sin error at 131072 in units of the bf16 cast's 2^-9: ${worst.join(', ')} (the f32 angle, spacing 2^-6 there, adds to the cast)`);
  return { lines, svgs: [{ name: 'rope-demo.svg', svg }] };
}

/** `anchor-oracle demo rope [--out DIR]`: the table, and the plot written to DIR/rope-demo.svg */
export async function ropeDemo(opts: { out?: string } = {}): Promise<string[]> {
  const { lines, svgs } = ropeReport();
  for (const s of svgs) {
    const path = join(opts.out ?? '.', s.name);
    writeFileAtomic(path, s.svg);
    lines.push(`plot written to ${path}`);
  }
  return lines;
}

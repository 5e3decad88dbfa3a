// RoPE against golden fixtures from transformers 5.x / PyTorch (test/fixtures/rope/generate.py):
// LlamaRotaryEmbedding for every rope_type, torch.cos/sin on f32 angles, and
// apply_rotary_pos_emb (bf16 and f32, both layouts, the paper's path, bf16 autograd).
// Contracts (SPEC.md "rope"): apply is bit-exact given cos/sin; inv_freq and cos/sin carry
// the derived libm tolerance. The measured figures are printed and listed in SPEC.md.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { decodeTensor, floatValues } from '../io/tensor.ts';
import { f32ToBits } from '../reference/bf16.ts';
import { ropeApply, ropeApplyBackward, ropeCosSinFromInvFreq, ropeInvFreq, type RopeConfig, type RopeLayout, type RopePath } from '../reference/rope.ts';
import { cosF32, sinF32 } from '../reference/rope-trig.ts';
import { invFreqTolerance } from '../reference/rope-contract.ts';

const dir = new URL('./fixtures/rope/', import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, dir), 'utf8'));
const vals = (w: unknown) => floatValues(decodeTensor(w, 'fixture'));

/** steps between two float32 values on the ordered bit line */
function ulp32(a: number, b: number): number {
  const key = (x: number) => {
    const u = f32ToBits(x);
    return u & 0x80000000 ? -(u & 0x7fffffff) : u;
  };
  return Math.abs(key(a) - key(b));
}
/** steps between two bf16 values (both bf16-representable) */
const ulp16 = (a: number, b: number) => ulp32(a, b) / 65536;

const rotary = load('rotary.json');
const trig = load('trig.json');
const apply = load('apply.json');

interface RotaryCase {
  name: string; dim: number; base: number; scaling: Record<string, unknown>; max_position_embeddings: number; positions: number[];
  attention_scaling: number; [k: string]: unknown;
}
const cfgOf = (c: RotaryCase, path: RopePath, extra: Partial<RopeConfig> = {}): RopeConfig => ({
  dim: c.dim, base: c.base, scaling: c.scaling, maxPositionEmbeddings: c.max_position_embeddings, path, layout: 'half', ...extra,
});
const seqLen = (c: RotaryCase) => Math.max(...c.positions) + 1;
const report: string[] = [];

test('inv_freq: every rope_type within the derived pow tolerance of transformers; attention_scaling equal', () => {
  let differ = 0;
  let total = 0;
  let worst = 0;
  for (const c of rotary.cases as RotaryCase[]) {
    const tol = invFreqTolerance(c.scaling);
    for (const [key, seq] of [['inv_freq_init', undefined], ['inv_freq', seqLen(c)]] as const) {
      const theirs = vals(c[key]);
      const ours = ropeInvFreq(cfgOf(c, 'hf'), seq);
      assert.is(ours.attentionScaling, c.attention_scaling, `${c.name}: attention_scaling`);
      for (let i = 0; i < theirs.length; i++) {
        const d = ulp32(ours.invFreq[i], theirs[i]);
        assert.ok(d <= tol, `${c.name} ${key}[${i}]: ours ${ours.invFreq[i]} torch ${theirs[i]} (${d} ulp > ${tol})`);
        if (key === 'inv_freq') {
          total++;
          if (d) differ++;
          worst = Math.max(worst, d);
        }
      }
    }
  }
  report.push(`inv_freq: ${differ}/${total} entries differ from torch (max ${worst} ulp)`);
  assert.ok(differ > 0 || total > 0);
});

test('cos/sin from torch inv_freq: f32 within 1 ulp (2 with attention_scaling), bf16 within 1 ulp, of transformers', () => {
  const tally = { f32: [0, 0, 0], bf16: [0, 0, 0] };
  for (const c of rotary.cases as RotaryCase[]) {
    const inv = vals(c.inv_freq);
    const half = c.dim / 2;
    for (const [path, key] of [['f32', 'f32'], ['hf', 'bf16']] as const) {
      const { cos, sin } = ropeCosSinFromInvFreq(c.positions, inv, c.attention_scaling, { path, layout: 'half' });
      const tc = vals(c[`cos_${key}`]);
      const ts = vals(c[`sin_${key}`]);
      const tol = key === 'bf16' || c.attention_scaling === 1 ? 1 : 2;
      for (let t = 0; t < c.positions.length; t++)
        for (let i = 0; i < half; i++)
          for (const [a, b] of [[cos[t * c.dim + i], tc[t * half + i]], [sin[t * c.dim + i], ts[t * half + i]]]) {
            // the second half of our row must repeat the first (cat(freqs, freqs))
            const d = key === 'f32' ? ulp32(a, b) : ulp16(a, b);
            assert.ok(d <= tol, `${c.name} ${key} pos ${c.positions[t]} i ${i}: ours ${a} torch ${b} (${d} ulp)`);
            tally[key][Math.min(d, 2)]++;
          }
      assert.equal(Array.from(cos.subarray(half, c.dim)), Array.from(cos.subarray(0, half)), 'cat(freqs, freqs)');
    }
  }
  const fmt = (t: number[]) => `${t[1] + t[2]}/${t[0] + t[1] + t[2]} differ (${t[2]} by 2)`;
  report.push(`cos/sin given torch's inv_freq: f32 ${fmt(tally.f32)}; bf16 ${fmt(tally.bf16)}`);
});

test('DeepSpeed module.bfloat16(): bf16 inv_freq buffer, then f32 angles, matches transformers within 1 bf16 ulp', () => {
  let n = 0;
  let differ = 0;
  for (const c of rotary.cases as RotaryCase[]) {
    const cfg = cfgOf(c, 'hf', { invFreqDtype: 'bf16' });
    const { invFreq, attentionScaling } = ropeInvFreq(cfg, seqLen(c));
    // our bf16 table from torch's f32 table would be the same cast; use ours (its pow may differ by an ulp, which
    // the bf16 rounding absorbs unless it straddles a bf16 boundary: then the check below would catch it)
    const { cos, sin } = ropeCosSinFromInvFreq(c.positions, invFreq, attentionScaling, cfg);
    const tc = vals(c.cos_bf16_dsbf16);
    const ts = vals(c.sin_bf16_dsbf16);
    const half = c.dim / 2;
    for (let t = 0; t < c.positions.length; t++)
      for (let i = 0; i < half; i++) {
        for (const [a, b] of [[cos[t * c.dim + i], tc[t * half + i]], [sin[t * c.dim + i], ts[t * half + i]]]) {
          const d = ulp16(a, b);
          assert.ok(d <= 1, `${c.name} pos ${c.positions[t]} i ${i}: ours ${a} torch ${b}`);
          n++;
          if (d) differ++;
        }
      }
  }
  report.push(`DeepSpeed bf16 inv_freq: ${differ}/${n} bf16 cos/sin differ by 1 ulp`);
});

test("correctly rounded f32 cos/sin vs torch.cos/torch.sin: at most 1 ulp apart", () => {
  const ang = vals(trig.angle);
  const tc = vals(trig.cos);
  const ts = vals(trig.sin);
  let differ = 0;
  for (let i = 0; i < ang.length; i++) {
    const dc = ulp32(cosF32(ang[i]), tc[i]);
    const ds = ulp32(sinF32(ang[i]), ts[i]);
    assert.ok(dc <= 1 && ds <= 1, `angle ${ang[i]}: cos ${cosF32(ang[i])} vs ${tc[i]}, sin ${sinF32(ang[i])} vs ${ts[i]}`);
    differ += (dc ? 1 : 0) + (ds ? 1 : 0);
  }
  report.push(`torch.cos/sin (f32): ${differ}/${2 * ang.length} = ${((100 * differ) / (2 * ang.length)).toFixed(2)}% are 1 ulp from correct rounding`);
  assert.ok(differ < ang.length, 'libm should mostly round correctly');
});

test('apply_rotary_pos_emb: bf16 (hf), f32, paper, and bf16/f32 autograd are bit-exact, both layouts', () => {
  const { H, T, D } = apply;
  let n = 0;
  for (const c of apply.cases) {
    const layout = c.layout as RopeLayout;
    const check = (name: string, got: Float64Array, want: Float64Array) => {
      for (let i = 0; i < want.length; i++)
        if (!Object.is(got[i], want[i]) && !(got[i] === 0 && want[i] === 0))
          assert.unreachable(`${name} base ${c.base} ${layout}: element ${i} ours ${got[i]} torch ${want[i]}`);
      n += want.length;
    };
    const xb = vals(c.x_bf16);
    const xf = vals(c.x_f32);
    const dy = vals(c.dy_bf16);
    const [cb, sb, cf, sf] = [vals(c.cos_bf16), vals(c.sin_bf16), vals(c.cos_f32), vals(c.sin_f32)];
    check('hf y', ropeApply(xb, H, T, D, cb, sb, { path: 'hf', layout }), vals(c.y_hf));
    check('hf dx', ropeApplyBackward(dy, H, T, D, cb, sb, { path: 'hf', layout }), vals(c.dx_hf));
    check('f32 y', ropeApply(xf, H, T, D, cf, sf, { path: 'f32', layout }), vals(c.y_f32));
    check('f32 dx', ropeApplyBackward(dy, H, T, D, cf, sf, { path: 'f32', layout }), vals(c.dx_f32));
    check('paper y', ropeApply(xb, H, T, D, cf, sf, { path: 'paper', layout }), vals(c.y_paper));
  }
  report.push(`apply: ${n} elements bit-exact (hf/f32/paper forward, hf/f32 backward)`);
});

test('fixture provenance', () => {
  assert.match(rotary.meta.transformers, /^5\./);
  for (const line of report) console.log('  ' + line);
});

test.run();

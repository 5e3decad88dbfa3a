// Golden vectors from PyTorch and ml_dtypes (test/fixtures/bf16/generate.py): an independent
// source. NaNs are compared by class (torch writes every NaN as 0xFFFF, ml_dtypes keeps the sign).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as A from '../reference/bf16-arith.ts';
import * as B from '../reference/bf16.ts';

const g = JSON.parse(readFileSync(new URL('./fixtures/bf16/golden.json', import.meta.url), 'utf8'));
const bytes = (s: string) => {
  const b = Buffer.from(s, 'base64');
  const copy = new ArrayBuffer(b.length);
  new Uint8Array(copy).set(b);
  return copy;
};
const u16 = (s: string) => new Uint16Array(bytes(s));
const same = (a: number, b: number) => a === b || (B.isNaN16(a) && B.isNaN16(b));

test(`f32 → bf16 equals torch .to(bfloat16) and ml_dtypes bit for bit (torch ${g.versions.torch}, ml_dtypes ${g.versions.ml_dtypes})`, () => {
  const u = new Uint32Array(bytes(g.f32_bits));
  const t = u16(g.torch_from_f32);
  const m = u16(g.ml_dtypes_from_f32);
  let nans = 0;
  for (let i = 0; i < u.length; i++) {
    const ours = B.fromF32Bits(u[i]);
    if (B.isNaN16(ours)) {
      nans++;
      assert.ok(B.isNaN16(t[i]) && B.isNaN16(m[i]), B.hex32(u[i]));
      assert.is(m[i] & 0x8000, ours & 0x8000, `ml_dtypes keeps the NaN sign: ${B.hex32(u[i])}`);
      assert.is(B.fromF32Bits(u[i], { profile: 'pytorch' }), 0x7fc0);
    } else {
      assert.is(ours, t[i], `torch ${B.hex32(u[i])}`);
      assert.is(ours, m[i], `ml_dtypes ${B.hex32(u[i])}`);
    }
  }
  assert.ok(nans > 100, 'the fixture has NaNs');
});

test('f64 → bf16: torch and ml_dtypes go via float32, which is the pytorch profile; ieee differs only on double-rounding traps', () => {
  const x = new Float64Array(bytes(g.f64));
  const t = u16(g.torch_from_f64);
  const m = u16(g.ml_dtypes_from_f64);
  let differ = 0;
  for (let i = 0; i < x.length; i++) {
    const p = B.fromF64(x[i], { profile: 'pytorch' });
    assert.ok(same(p, t[i]), `torch ${x[i]}`);
    assert.ok(same(p, m[i]), `ml_dtypes ${x[i]}`);
    if (!same(p, B.fromF64(x[i]))) {
      differ++;
      // only where f32 rounding lands exactly on a bf16 midpoint (or past overflow)
      const f = B.f32ToBits(Math.fround(x[i]));
      assert.ok((f & 0xffff) === 0x8000 || !Number.isFinite(Math.fround(x[i])), `unexpected difference at ${x[i]}`);
    }
  }
  assert.ok(differ > 0, 'the fixture contains double-rounding traps');
  assert.is(B.fromF64(1 + 2 ** -8 + 2 ** -30), 0x3f81);
  assert.is(t[0], 0x3f80); // torch: via f32
});

test('add/sub/mul/div equal torch and ml_dtypes bf16 arithmetic (every profile agrees off NaN)', () => {
  const a = u16(g.a);
  const b = u16(g.b);
  for (const op of A.BINARY_OPS) {
    const t = u16(g.torch[op]);
    const m = u16(g.ml_dtypes[op]);
    for (let i = 0; i < a.length; i++) {
      const ours = A.binary(op, a[i], b[i]);
      assert.ok(same(ours, t[i]), `${op}(${B.hex16(a[i])}, ${B.hex16(b[i])}) = ${B.hex16(ours)}, torch ${B.hex16(t[i])}`);
      assert.ok(same(ours, m[i]), `${op} ml_dtypes`);
      assert.ok(same(A.binary(op, a[i], b[i], 'pytorch'), t[i]));
    }
  }
});

test('sqrt equals torch.sqrt; the pytorch fma equals torch.addcmul (bf16, CPU)', () => {
  const a = u16(g.a);
  const b = u16(g.b);
  const c = u16(g.c);
  const s = u16(g.torch_sqrt);
  const f = u16(g.torch_addcmul);
  let fmaDiffers = 0;
  for (let i = 0; i < a.length; i++) {
    assert.ok(same(A.sqrt(a[i]), s[i]), `sqrt ${B.hex16(a[i])}`);
    const ours = A.fma(a[i], b[i], c[i], 'pytorch');
    assert.ok(same(ours, f[i]), `addcmul(${B.hex16(c[i])}, ${B.hex16(a[i])}, ${B.hex16(b[i])}) = ${B.hex16(f[i])}, ours ${B.hex16(ours)}`);
    if (!same(ours, A.fma(a[i], b[i], c[i]))) fmaDiffers++;
  }
  console.log(`  addcmul (two roundings in f32) differs from the single-rounding fma on ${fmaDiffers} of ${a.length} random triples`);
});

test.run();

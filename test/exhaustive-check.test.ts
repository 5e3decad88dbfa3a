// The exhaustive check's independent formulation agrees with the fast path on sampled blocks,
// and catches wrong fast paths (truncation, ties away from zero, NaN → Inf), so a run of
// `npm run exhaustive` reporting 0 mismatches means something.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bulkFromF32 } from '../reference/bf16.ts';
import { checkBlock, independent } from '../bench/exhaustive-check.ts';

const HIS = [0x0000, 0x0001, 0x007f, 0x0080, 0x3f80, 0x3f81, 0x7f7f, 0x7f80, 0x7f81, 0x7fc0, 0x8000, 0xbf80, 0xff7f, 0xff80, 0xffff];

function blockOutput(hi: number, round: (u: number) => number): Uint16Array {
  const out = new Uint16Array(0x10000);
  for (let lo = 0; lo < 0x10000; lo++) out[lo] = round(((hi << 16) | lo) >>> 0);
  return out;
}

test('the fast bulk path passes the block check on edge blocks', () => {
  for (const hi of HIS) {
    const u = new Uint32Array(0x10000).map((_, lo) => ((hi << 16) | lo) >>> 0);
    const out = bulkFromF32(new Float32Array(u.buffer));
    assert.is(checkBlock(hi, out, 0), 0, `block 0x${hi.toString(16)}`);
    for (let lo = 0; lo < 0x10000; lo += 97) assert.is(out[lo], independent(u[lo]));
  }
});

test('the block check catches truncation, ties away from zero, and NaN payloads turned into Inf', () => {
  const truncate = (u: number) => u >>> 16;
  const tiesAway = (u: number) => ((u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 0x40 : (u + 0x8000) >>> 16);
  const nanToInf = (u: number) => (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  assert.ok(checkBlock(0x3f80, blockOutput(0x3f80, truncate), 0) > 0);
  assert.ok(checkBlock(0x3f80, blockOutput(0x3f80, tiesAway), 0) > 0);
  assert.ok(checkBlock(0x7f80, blockOutput(0x7f80, nanToInf), 0) > 0);
});

test.run();

// safetensors: round trips for every dtype, a file written by the python safetensors
// package (the model fixtures), and hostile / truncated files, each of which must give a
// clear OpError, never a crash or a huge allocation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { OpError } from '../io/errors.ts';
import { f16ToNumber, numberToF16, parseSafetensors, readSafetensorsFile, serializeSafetensors, stFromValues, stValues, type StTensor } from '../io/safetensors.ts';

const enc = (header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): Uint8Array => {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
};
function rejects(bytes: Uint8Array, pattern: RegExp): void {
  try {
    parseSafetensors(bytes, 'x.safetensors');
  } catch (e) {
    assert.ok(e instanceof OpError, `not an OpError: ${e}`);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`accepted; expected ${pattern}`);
}

test('round trip of every dtype, metadata and 8-byte data alignment', () => {
  const tensors = new Map<string, StTensor>([
    ['a', stFromValues([1.5, -2, 3.25], 'F32', [3])],
    ['b', stFromValues([0.1, 1 / 3, -65504, 2 ** -24], 'F16', [2, 2])],
    ['c', stFromValues([0.1, 1 / 3, 256, 257], 'BF16', [4])],
    ['d', stFromValues([-7, 2 ** 31 - 1], 'I32', [2])],
    ['e', stFromValues([-(2 ** 40), 5], 'I64', [1, 2])],
    ['f', stFromValues([Math.PI], 'F64', [])],
    ['g', stFromValues([], 'F32', [0, 3])],
  ]);
  const bytes = serializeSafetensors(tensors, { format: 'pt' });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is((8 + n) % 8, 0);
  const back = parseSafetensors(bytes);
  assert.equal(back.metadata, { format: 'pt' });
  for (const [k, t] of tensors) {
    const u = back.tensors.get(k)!;
    assert.is(u.dtype, t.dtype);
    assert.equal(u.shape, t.shape);
    assert.equal(Array.from(stValues(u)), Array.from(stValues(t)), k);
  }
  assert.equal(Array.from(stValues(back.tensors.get('c')!)), [0.10009765625, 0.333984375, 256, 256]); // bf16 RNE (paper.md §8.5)
  assert.equal(Array.from(stValues(back.tensors.get('b')!)), [0.0999755859375, 0.333251953125, -65504, 2 ** -24]);
});

test('f16 conversion: exhaustive decode/encode round trip and ties to even', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = f16ToNumber(h);
    if (v !== v) continue;
    assert.is(numberToF16(v), h, `0x${h.toString(16)}`);
  }
  assert.is(numberToF16(1 + 2 ** -11), 0x3c00); // tie → even
  assert.is(numberToF16(1 + 3 * 2 ** -11), 0x3c02);
  assert.is(numberToF16(65520), 0x7c00);
  assert.is(numberToF16(2 ** -25), 0); // tie at the smallest subnormal → 0
});

test('reads the model fixture written by the python safetensors package', () => {
  const f = readSafetensorsFile(join(import.meta.dirname, 'fixtures', 'model', 'llama', 'model.safetensors'));
  const e = f.tensors.get('model.embed_tokens.weight')!;
  assert.is(e.dtype, 'F32');
  assert.equal(e.shape, [48, 32]);
});

const goodData = new Uint8Array(8);
const entry = (o: Record<string, unknown>) => ({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...o } });

test('hostile: truncated before the header length', () => rejects(new Uint8Array(5), /shorter than the 8-byte header length/));
test('hostile: header length huge (2^63)', () => rejects(enc(entry({}), goodData, 2n ** 63n), /exceeds the .*limit/));
test('hostile: header length past the end (truncated file)', () => rejects(enc(entry({}), goodData, 1000n), /runs past the end of the file/));
test('hostile: non-JSON header', () => rejects(enc('{"t": nope}', goodData), /not valid UTF-8 JSON/));
test('hostile: header not an object', () => rejects(enc('[1,2]', goodData), /must be a JSON object/));
test('hostile: offsets out of bounds (truncated data)', () => rejects(enc(entry({ data_offsets: [0, 8] }), new Uint8Array(4)), /out of bounds/));
test('hostile: dtype/shape disagree with the byte span', () => rejects(enc(entry({ shape: [3] }), goodData), /needs 12 bytes but data_offsets span 8/));
test('hostile: huge shape does not allocate', () => rejects(enc(entry({ shape: [2 ** 40, 2 ** 40] }), goodData), /needs \d+ bytes/));
test('hostile: unknown dtype', () => rejects(enc(entry({ dtype: 'F8_E4M3' }), goodData), /unsupported dtype/));
test('hostile: negative / non-integer shape', () => rejects(enc(entry({ shape: [-2] }), goodData), /shape must be/));
test('hostile: reversed offsets', () => rejects(enc(entry({ data_offsets: [8, 0] }), goodData), /reversed/));
test('hostile: overlapping tensors', () =>
  rejects(
    enc({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, goodData),
    /overlap/,
  ));
test('hostile: hole and trailing bytes', () => {
  rejects(enc({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, goodData), /hole of 4 bytes/);
  rejects(enc({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, goodData), /4 trailing bytes/);
});
test('hostile: bad metadata and missing file', () => {
  rejects(enc({ __metadata__: { a: 1 } }), /__metadata__\.a must be a string/);
  try {
    readSafetensorsFile('/nonexistent/model.safetensors');
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof OpError && /cannot open/.test(e.message));
  }
});
test.run();

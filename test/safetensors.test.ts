// safetensors: round trips for every dtype, a file written by the python safetensors
// package (the model fixtures), and hostile / truncated files, each of which must give a
// clear OpError, never a crash or a huge allocation — through both the in-memory parser
// and the by-offset reader. Also the streaming writer. Files larger than 2 GiB are in
// safetensors-large.test.ts.
import { tensorFromValues } from '../train/model-files.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpError } from '../io/errors.ts';
import {
  f16ToNumber,
  numberToF16,
  openSafetensors,
  parseSafetensors,
  readSafetensorsFile,
  SafetensorsWriter,
  serializeSafetensors,
} from '../io/safetensors.ts';
import { floatValues, type AnyDType, type Tensor } from '../io/tensor.ts';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
/** write bytes to a fresh file in the test folder */
const toFile = (bytes: Uint8Array): string => {
  const path = join(dir, `f${fileNo++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
};
const bytesOf = (t: Tensor<AnyDType>) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

const enc = (header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): Uint8Array => {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
};
function expectOpError(run: () => unknown, pattern: RegExp, what: string): void {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof OpError, `${what}: not an OpError: ${e}`);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`${what} accepted; expected ${pattern}`);
}
/** both readers must refuse the bytes: parsed in memory, and opened by offset from a file */
function rejects(bytes: Uint8Array, pattern: RegExp): void {
  expectOpError(() => parseSafetensors(bytes, 'x.safetensors'), pattern, 'parseSafetensors');
  const path = toFile(bytes);
  expectOpError(() => openSafetensors(path).close(), pattern, 'openSafetensors');
  // the error names the file it came from
  const pathPattern = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  expectOpError(() => readSafetensorsFile(path), new RegExp(`^safetensors ${pathPattern}: .*${pattern.source}`), 'readSafetensorsFile');
}

test('round trip of every dtype, metadata and 8-byte data alignment', () => {
  const tensors = new Map<string, Tensor<AnyDType>>([
    ['a', tensorFromValues([1.5, -2, 3.25], 'f32', [3])],
    ['b', tensorFromValues([0.1, 1 / 3, -65504, 2 ** -24], 'f16', [2, 2])],
    ['c', tensorFromValues([0.1, 1 / 3, 256, 257], 'bf16', [4])],
    ['d', tensorFromValues([-7, 2 ** 31 - 1], 'i32', [2])],
    ['e', tensorFromValues([-(2 ** 40), 5], 'i64', [1, 2])],
    ['f', tensorFromValues([Math.PI], 'f64', [])],
    ['g', tensorFromValues([], 'f32', [0, 3])],
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
    assert.equal(Array.from(floatValues(u)), Array.from(floatValues(t)), k);
  }
  assert.equal(Array.from(floatValues(back.tensors.get('c')!)), [0.10009765625, 0.333984375, 256, 256]); // bf16 RNE
  assert.equal(Array.from(floatValues(back.tensors.get('b')!)), [0.0999755859375, 0.333251953125, -65504, 2 ** -24]);
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
  const f = readSafetensorsFile(join(import.meta.dirname, '..', 'checkpoints', 'llama', 'model.safetensors'));
  const e = f.tensors.get('model.embed_tokens.weight')!;
  assert.is(e.dtype, 'f32');
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

// ------------------------------------------------------------------ by offset
const mixed = (): [string, Tensor<AnyDType>][] => [
  ['w', tensorFromValues([1.5, -2, 3.25, 0.1, 7, -8], 'f32', [2, 3])],
  ['ids', tensorFromValues([0, 1, 254, 255, 7], 'u8', [5])],
  ['h', tensorFromValues([0.1, 1 / 3, 256, 257], 'bf16', [4])],
  ['n', tensorFromValues([-(2 ** 40), 5], 'i64', [2])],
  ['empty', tensorFromValues([], 'f64', [0, 3])],
  ['pi', tensorFromValues([Math.PI], 'f64', [])],
];

test('openSafetensors reads the same header and tensors as parseSafetensors', () => {
  const bytes = serializeSafetensors(mixed(), { format: 'pt' });
  const path = toFile(bytes);
  const parsed = parseSafetensors(bytes);
  const r = openSafetensors(path);
  try {
    assert.is(r.path, path);
    assert.equal(r.metadata, { format: 'pt' });
    assert.is(r.dataStart, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)));
    assert.equal([...r.entries.keys()], [...parsed.tensors.keys()]);
    for (const [name, want] of parsed.tensors) {
      const e = r.entries.get(name)!;
      assert.equal(bytes.subarray(r.dataStart + e.begin, r.dataStart + e.end), bytesOf(want), `${name} offsets`);
      const got = r.read(name);
      assert.is(got.dtype, want.dtype);
      assert.equal(got.shape, want.shape);
      assert.is(got.data.constructor, want.data.constructor, name);
      assert.equal(bytesOf(got), bytesOf(want), name);
    }
    assert.equal(Array.from(r.read('ids').data as Uint8Array), [0, 1, 254, 255, 7]);
    // into a caller's buffer, e.g. shared with workers
    const shared = new Uint8Array(new SharedArrayBuffer(r.entries.get('w')!.end - r.entries.get('w')!.begin));
    r.readInto('w', shared);
    assert.equal(Array.from(new Float32Array(shared.buffer)), [1.5, -2, 3.25, Math.fround(0.1), 7, -8]);
    expectOpError(() => r.read('nope', 'case line 3'), /\(case line 3\): no tensor "nope"/, 'unknown tensor');
    expectOpError(() => r.readInto('w', new Uint8Array(4)), /is 24 bytes, the target buffer 4/, 'wrong target size');
  } finally {
    r.close();
  }
  expectOpError(() => r.read('w'), /after close/, 'read after close');
  // readSafetensorsFile (now by offset) gives what parse gives
  const whole = readSafetensorsFile(path);
  assert.equal(whole.metadata, parsed.metadata);
  assert.equal([...whole.tensors.keys()], [...parsed.tensors.keys()]);
  for (const [name, t] of parsed.tensors) assert.equal(bytesOf(whole.tensors.get(name)!), bytesOf(t), name);
});

/** a file whose header declares `small` (F32 [2]) then `big` (U8 [bigLen]); only the header and small are written, the rest is a sparse hole */
function sparseFile(bigLen: number): { path: string; dataStart: number } {
  const header = Buffer.from(
    JSON.stringify({ small: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, big: { dtype: 'U8', shape: [bigLen], data_offsets: [8, 8 + bigLen] } }),
  );
  const head = enc(header.toString(), new Uint8Array(new Float32Array([2.5, -1]).buffer));
  const path = join(dir, `sparse${fileNo++}.safetensors`);
  writeFileSync(path, head);
  truncateSync(path, head.length + bigLen); // extends with a hole: no disk used
  return { path, dataStart: 8 + header.length };
}

test('openSafetensors reads only the header and the asked-for tensor, not the 1 GiB data section', () => {
  const { path, dataStart } = sparseFile(2 ** 30);
  const before = process.memoryUsage().arrayBuffers;
  const r = openSafetensors(path);
  try {
    assert.is(r.dataStart, dataStart);
    assert.is(r.entries.get('big')!.end, 8 + 2 ** 30);
    assert.equal(Array.from(floatValues(r.read('small'))), [2.5, -1]);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 16 << 20, `arrayBuffers grew by ${grown} bytes`);
  } finally {
    r.close();
  }
});

test('a file that shrinks after open: a short read is an error, not zeros', () => {
  const { path } = sparseFile(1 << 20);
  const r = openSafetensors(path);
  try {
    truncateSync(path, r.dataStart + 8 + 1000);
    expectOpError(() => r.read('big'), /tensor "big": file shrank\/truncated since it was opened \(read 1000 of 1048576 bytes\)/, 'shrunk file');
    assert.equal(Array.from(floatValues(r.read('small'))), [2.5, -1]);
  } finally {
    r.close();
  }
});

test('openSafetensors: not a regular file', () => {
  expectOpError(() => openSafetensors(dir), /not a regular file/, 'directory');
  expectOpError(() => openSafetensors(join(dir, 'missing.safetensors')), /cannot open \(ENOENT\)/, 'missing');
});

// ------------------------------------------------------------------ streaming writer
/** names in the test folder that look like a writer's temporary files */
const tempFiles = () => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

test('SafetensorsWriter: same bytes as serializeSafetensors, read back by both readers, no temp files left', () => {
  // 12 MiB crosses the 8 MiB copy chunk
  const big = tensorFromValues(Float32Array.from({ length: 3 << 20 }, (_, i) => (i % 1000) - 500.25), 'f32', [3 << 10, 1 << 10]);
  const list: [string, Tensor<AnyDType>][] = [...mixed(), ['big', big], ['tail', tensorFromValues([9, 8, 7], 'u8', [3])]];
  const meta = { format: 'pt', note: 'sidecar' };
  const path = join(dir, 'written.safetensors');
  const w = new SafetensorsWriter(path, meta);
  for (const [name, t] of list) {
    // a view into a larger buffer, to check the writer honours byteOffset
    const padded = new Uint8Array(t.data.byteLength + 3);
    padded.set(bytesOf(t), 3);
    w.add(name, t.dtype, t.shape, padded.subarray(3));
  }
  assert.ok(tempFiles().length > 0, 'data goes to a temporary file as it comes');
  w.finish();
  assert.equal(tempFiles(), []);
  const written = readFileSync(path);
  const expected = serializeSafetensors(list, meta);
  assert.is(written.length, expected.length);
  assert.ok(Buffer.compare(written, expected) === 0, 'bytes differ from serializeSafetensors');
  const back = parseSafetensors(written);
  assert.equal(back.metadata, meta);
  for (const [name, t] of list) {
    assert.is(back.tensors.get(name)!.dtype, t.dtype);
    assert.equal(back.tensors.get(name)!.shape, t.shape);
    assert.equal(bytesOf(back.tensors.get(name)!), bytesOf(t), name);
  }
  const r = openSafetensors(path);
  try {
    assert.equal(bytesOf(r.read('big')), bytesOf(big));
    assert.equal(Array.from(floatValues(r.read('tail'))), [9, 8, 7]);
  } finally {
    r.close();
  }
  expectOpError(() => w.add('more', 'u8', [1], new Uint8Array(1)), /add after the writer was finished/, 'add after finish');
  w.abort(); // after finish: must not touch the written file
  assert.is(readFileSync(path).length, expected.length);
});

test('SafetensorsWriter: an empty file is valid', () => {
  const path = join(dir, 'none.safetensors');
  const w = new SafetensorsWriter(path);
  w.finish();
  assert.ok(Buffer.compare(readFileSync(path), serializeSafetensors([])) === 0);
  assert.is(openSafetensors(path).entries.size, 0);
});

test('SafetensorsWriter: refuses bad tensors, and abort leaves the old target and no temp files', () => {
  const path = join(dir, 'kept.safetensors');
  writeFileSync(path, 'old');
  const w = new SafetensorsWriter(path);
  w.add('a', 'bf16', [2], new Uint8Array(4));
  expectOpError(() => w.add('a', 'bf16', [2], new Uint8Array(4)), /tensor "a": added twice/, 'duplicate');
  expectOpError(() => w.add('b', 'f32', [3], new Uint8Array(8)), /tensor "b": f32 \[3\] needs 12 bytes, data has 8/, 'wrong length');
  expectOpError(() => w.add('c', 'u8', [1, 1, 1, 1, 1, 1, 1, 1, 1], new Uint8Array(1)), /shape must be up to 8/, 'rank 9');
  expectOpError(() => w.add('d', 'BOOL' as 'u8', [1], new Uint8Array(1)), /unsupported dtype "BOOL"/, 'BOOL');
  expectOpError(() => w.add('__metadata__', 'u8', [1], new Uint8Array(1)), /not a usable tensor name/, '__metadata__');
  w.add('e', 'u8', [2 << 20], new Uint8Array(2 << 20)); // still usable after refusals
  assert.is(tempFiles().length, 1);
  w.abort();
  w.abort();
  assert.equal(tempFiles(), []);
  assert.is(readFileSync(path, 'utf8'), 'old');
  expectOpError(() => w.finish(), /finish after the writer was aborted/, 'finish after abort');
});

test.run();

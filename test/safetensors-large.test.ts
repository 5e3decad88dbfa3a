// safetensors at the edges of the OS: a file past 2 GiB read by offset (sparse, so it
// costs no disk and no time), and the streaming writer meeting a file-size limit, which
// must end in a WriteError with no temporary files and the old target untouched.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OpError } from '../io/errors.ts';
import { openSafetensors } from '../io/safetensors.ts';
import { floatValues } from '../io/tensor.ts';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-large-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a tensor past 2 GiB into the file reads back by offset', () => {
  const zerosLen = 2 ** 31 + 2 ** 27; // the tail starts beyond what an int32 position can hold
  const tail = new Float32Array([1.25, -3, 65504, 2 ** -20]);
  const header = Buffer.from(
    JSON.stringify({
      zeros: { dtype: 'U8', shape: [zerosLen], data_offsets: [0, zerosLen] },
      tail: { dtype: 'F32', shape: [4], data_offsets: [zerosLen, zerosLen + 16] },
    }),
  );
  const dataStart = 8 + header.length;
  const path = join(dir, 'big.safetensors');
  const fd = openSync(path, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, header, 0, header.length, 8);
    ftruncateSync(fd, dataStart + zerosLen + 16); // the zeros are a hole: no disk used
    const tailBytes = new Uint8Array(tail.buffer);
    assert.is(writeSync(fd, tailBytes, 0, 16, dataStart + zerosLen), 16);
  } finally {
    closeSync(fd);
  }
  const r = openSafetensors(path);
  try {
    assert.is(r.dataStart, dataStart);
    assert.ok(r.dataStart + r.entries.get('tail')!.begin > 2 ** 31);
    assert.equal(Array.from(floatValues(r.read('tail'))), Array.from(tail));
    const shared = new Uint8Array(new SharedArrayBuffer(16));
    r.readInto('tail', shared);
    assert.equal(Array.from(new Float32Array(shared.buffer)), Array.from(tail));
  } finally {
    r.close();
  }
  // the same file cut 4 bytes short is refused at open, before any data is read
  const cut = openSync(path, 'r+');
  ftruncateSync(cut, dataStart + zerosLen + 12);
  closeSync(cut);
  try {
    openSafetensors(path);
    assert.unreachable('accepted a truncated file');
  } catch (e) {
    assert.ok(e instanceof OpError, String(e));
    assert.match(e.message, /tensor "tail": data_offsets \[2281701376, 2281701392\] out of bounds \(data section is 2281701388 bytes\): truncated\?/);
  }
});

test('SafetensorsWriter under a file-size limit: short writes end in a WriteError naming the file and leave nothing behind', () => {
  // a child process with RLIMIT_FSIZE of 1 MiB (node ignores SIGXFSZ, so writes past it fail with EFBIG)
  const module = pathToFileURL(join(import.meta.dirname, '..', 'io', 'safetensors.ts')).href;
  const script = `
    import { SafetensorsWriter } from ${JSON.stringify(module)};
    const outcome = (run) => { try { run(); return 'ok'; } catch (e) { return e.constructor.name + ' ' + e.message; } };
    const dir = process.argv[1];
    // the tensor itself does not fit in the temporary data file
    const a = new SafetensorsWriter(dir + '/a.safetensors');
    const inAdd = outcome(() => { a.add('s', 'u8', [8], new Uint8Array(8)); a.add('big', 'u8', [3 << 19], new Uint8Array(3 << 19)); });
    // the data fits, but header + data does not: fails while writing the final file
    const b = new SafetensorsWriter(dir + '/b.safetensors');
    const inFinish = outcome(() => { b.add('fits', 'u8', [(1 << 20) - 8], new Uint8Array((1 << 20) - 8)); b.finish(); });
    console.log(JSON.stringify({ inAdd, inFinish }));
  `;
  const out = join(dir, 'limited');
  mkdirSync(out);
  writeFileSync(join(out, 'b.safetensors'), 'old');
  const child = spawnSync('bash', ['-c', 'ulimit -f 1024 && exec "$0" --import tsx --input-type=module -e "$1" "$2"', process.execPath, script, out], {
    cwd: join(import.meta.dirname, '..'),
    encoding: 'utf8',
  });
  assert.is(child.status, 0, child.stderr);
  const { inAdd, inFinish } = JSON.parse(child.stdout.trim().split('\n').pop()!);
  assert.match(inAdd, /^WriteError cannot write .*\/a\.safetensors: EFBIG .* after 1048568 of 1572864 bytes$/);
  assert.match(inFinish, /^WriteError cannot write .*\/b\.safetensors: EFBIG .* after \d+ of \d+ bytes$/);
  assert.equal(readdirSync(out), ['b.safetensors']); // no temp files, no partial a
  assert.is(readFileSync(join(out, 'b.safetensors'), 'utf8'), 'old');
});

test.run();

// Text lines in (for the data readers), and whole files written atomically with every byte checked.

import { createReadStream, mkdirSync, renameSync, openSync, writeSync, closeSync, fsyncSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { createInterface } from 'node:readline';

/** the lines of a file (or stdin for "-" / undefined), blank lines skipped, with 1-based line numbers */
export async function* readLines(path?: string): AsyncGenerator<{ line: string; lineNo: number }> {
  const input = !path || path === '-' ? process.stdin : createReadStream(path, { encoding: 'utf8' });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (line.trim() === '') continue;
    yield { line, lineNo };
  }
}

/** an output that could not be written (full disk, read-only folder): the CLI exits 2 */
export class WriteError extends Error {}

export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code} (${err.message.replace(/^[A-Z]+: /, '').split(',')[0]})` : String(err.message ?? e);
}

/** write every byte (writeSync may write fewer than asked); retry while a pipe is full */
export function writeAll(fd: number, data: Uint8Array, what: string): void {
  let off = 0;
  while (off < data.length) {
    let n: number;
    try {
      n = writeSync(fd, data, off, data.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      throw new WriteError(`cannot write ${what}: ${errnoText(e)} after ${off} of ${data.length} bytes`);
    }
    if (n <= 0) throw new WriteError(`cannot write ${what}: wrote ${off} of ${data.length} bytes`);
    off += n;
  }
}

/**
 * Write a file atomically: the content goes to a temporary sibling, is flushed, and
 * is renamed over the target, so a reader never sees a half-written file.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path) || '.', { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeAll(fd, typeof content === 'string' ? Buffer.from(content, 'utf8') : content, path);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

// Streaming JSON Lines input and atomic file output.

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
      writeSync(fd, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
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

/** an output sink: stdout, or a file written atomically when closed */
export class LineSink {
  private chunks: string[] = [];
  constructor(private readonly path?: string) {}
  write(obj: unknown): void {
    const s = JSON.stringify(obj) + '\n';
    if (this.path && this.path !== '-') this.chunks.push(s);
    else process.stdout.write(s);
  }
  close(): void {
    if (this.path && this.path !== '-') writeFileAtomic(this.path, this.chunks.join(''));
  }
}


// Text lines in (for the data readers); files written atomically, every byte checked, and
// temporary files removed when a run is interrupted.

import { closeSync, createReadStream, fsyncSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
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

/** the most one read or write call moves (Node's calls take 32-bit lengths) */
export const MAX_IO_CALL = 1 << 30;

/**
 * write every byte (writeSync may write fewer than asked), at `position` or the current one;
 * retry while a pipe is full; a failure is a WriteError naming `what` and how far it got
 */
export function writeAll(fd: number, data: Uint8Array, what: string, position?: number): void {
  let off = 0;
  while (off < data.length) {
    let n: number;
    try {
      n = writeSync(fd, data, off, Math.min(data.length - off, MAX_IO_CALL), position === undefined ? null : position + off);
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

// ------------------------------------------------------------------ temporary files
/** temporary files of writes in progress, removed if the process is interrupted (Ctrl-C, kill) */
const temporaries = new Set<string>();
let handlersInstalled = false;

/** remember a temporary file until `untrack`: an interrupted run removes it */
export function track(tmp: string): void {
  temporaries.add(tmp);
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const)
    process.on(signal, () => {
      for (const t of temporaries) rmSync(t, { force: true, recursive: true });
      process.exit(code);
    });
}
export function untrack(tmp: string): void {
  temporaries.delete(tmp);
}

/** let the event loop run (signal handlers among it): long loops call this between items */
export const yieldToEvents = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let tmpCount = 0;
/** a name for a temporary sibling of `path` (the same folder, so the final rename is atomic) */
export function temporaryName(path: string, tag = ''): string {
  return join(dirname(path) || '.', `.${basename(path)}.${process.pid}.${tmpCount++}${tag}.tmp`);
}

/**
 * Where a write to `path` goes: the path itself for a new or regular file; the file a symlink
 * points to (the link stays); a folder, device, FIFO or socket is refused before any work.
 */
export function outputPath(path: string): string {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return path; // a new file
  }
  if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = realpathSync(path);
    } catch {
      return path; // a dangling link: replaced by the file
    }
    return outputPath(target);
  }
  if (st.isDirectory()) throw new WriteError(`cannot write ${path}: it is a folder; give a file name`);
  if (!st.isFile()) throw new WriteError(`cannot write ${path}: not a regular file (a device, FIFO or socket); give a file name`);
  return path;
}

/**
 * A file written atomically: bytes go to a temporary sibling (every write checked), and
 * `commit` flushes it and renames it over the target, so a reader never sees a half-written
 * file; `abort` (or an interruption) removes the temporary file and leaves the target as it was.
 */
export class AtomicFile {
  readonly path: string;
  readonly tmp: string;
  private fd: number | undefined;
  constructor(path: string, tag = '') {
    this.path = outputPath(path);
    this.tmp = temporaryName(this.path, tag);
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (e) {
      throw new WriteError(`cannot write ${path}: ${errnoText(e)}`);
    }
    track(this.tmp);
  }
  write(data: Uint8Array): void {
    if (this.fd === undefined) throw new WriteError(`cannot write ${this.path}: already closed`);
    writeAll(this.fd, data, this.path);
  }
  commit(): void {
    if (this.fd === undefined) throw new WriteError(`cannot write ${this.path}: already closed`);
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = undefined;
      renameSync(this.tmp, this.path);
      untrack(this.tmp);
    } catch (e) {
      this.abort();
      throw e instanceof WriteError ? e : new WriteError(`cannot write ${this.path}: ${errnoText(e)}`);
    }
  }
  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.tmp, { force: true });
    untrack(this.tmp);
  }
}

/** write a whole file atomically (its folder is created when missing) */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path) || '.', { recursive: true });
  const f = new AtomicFile(path);
  try {
    f.write(typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    f.commit();
  } catch (e) {
    f.abort();
    throw e;
  }
}

// Binary sidecars: tensors stored in a safetensors file beside a JSON Lines file instead of
// inline base64. A tensor on the wire then reads
//   {"dtype": "bf16", "shape": [8, 131072, 128], "file": "cases.safetensors", "key": "c17.in.q"}
// with the file path relative to the JSON Lines file's folder. Readers read each tensor by
// offset (never the whole sidecar); writers stream tensors to disk as they come.

import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { OpError } from './errors.ts';
import { openSafetensors, SafetensorsWriter, type StReader } from './safetensors.ts';
import type { DType } from './tensor.ts';


/** the sidecar a JSON Lines path gets: cases.jsonl → cases.safetensors in the same folder */
export function sidecarPathFor(jsonlPath: string): string {
  const ext = extname(jsonlPath);
  const stem = basename(jsonlPath, ext === '.jsonl' || ext === '.json' || ext === '.ndjson' ? ext : '');
  return join(dirname(jsonlPath), `${stem}.safetensors`);
}

/** sidecars open at once (a merged file may name hundreds: the least recently used is closed) */
const MAX_OPEN = 16;

/** open sidecars of one JSON Lines file, each opened once (while among the last MAX_OPEN used) and closed at the end */
export class SidecarCache {
  private readonly open = new Map<string, StReader>();
  constructor(
    /** the folder sidecar paths are relative to (the JSON Lines file's; stdin: the working folder) */
    readonly baseDir: string,
  ) {}

  reader(file: unknown, where: string): StReader {
    if (typeof file !== 'string' || file === '') throw new OpError('BAD_TENSOR', `${where}: "file" must be a non-empty string (a safetensors path relative to the JSON Lines file)`);
    const path = isAbsolute(file) ? file : resolve(this.baseDir, file);
    let r = this.open.get(path);
    if (r) {
      // most recently used last: the first is the one to close when too many are open
      this.open.delete(path);
      this.open.set(path, r);
    } else {
      if (this.open.size >= MAX_OPEN) {
        const [oldest, reader] = this.open.entries().next().value!;
        reader.close();
        this.open.delete(oldest);
      }
      try {
        r = openSafetensors(path);
      } catch (e) {
        throw e instanceof OpError ? new OpError('BAD_TENSOR', `${where}: ${e.message}`) : e;
      }
      this.open.set(path, r);
    }
    return r;
  }

  close(): void {
    for (const r of this.open.values()) r.close();
    this.open.clear();
  }
}

/** one sidecar being written next to a JSON Lines output; created on the first tensor */
export class SidecarOut {
  private writer?: SafetensorsWriter;
  readonly path: string;
  private readonly used = new Set<string>();
  constructor(jsonlPath: string) {
    this.path = sidecarPathFor(jsonlPath);
  }
  /** store a tensor under a key (made unique) and return the reference the line carries */
  add(key: string, dtype: DType, shape: number[], bytes: Uint8Array): { file: string; key: string } {
    this.writer ??= new SafetensorsWriter(this.path);
    let k = key;
    for (let n = 2; this.used.has(k); n++) k = `${key}#${n}`;
    this.used.add(k);
    this.writer.add(k, dtype, shape, bytes);
    return { file: basename(this.path), key: k };
  }
  finish(): void {
    this.writer?.finish();
  }
  abort(): void {
    this.writer?.abort();
  }
}

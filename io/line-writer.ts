// Streaming JSON Lines output. A result or case line can hold tensors of any size, so a line
// is never built as one string: its small parts go through JSON.stringify, and each tensor is
// written as base64 in chunks (inline) or appended to a safetensors sidecar (see sidecar.ts).
// A file output is written to a temporary sibling, every write checked, flushed and renamed
// into place on close; on failure nothing half-written is left under the final name.

import { AtomicFile, writeAll, WriteError } from './lines.ts';
import { SidecarOut } from './sidecar.ts';
import { bytesOf, type Tensor } from './tensor.ts';

export type TensorMode = 'inline' | 'sidecar';

const B64_CHUNK = 3 << 20; // a multiple of 3: chunks encode without padding
const FLUSH_AT = 1 << 20;

export function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && typeof (v as Tensor).dtype === 'string' && Array.isArray((v as Tensor).shape) && ArrayBuffer.isView((v as Tensor).data);
}

export class JsonlWriter {
  /** the output file (none: standard output) */
  private readonly file?: AtomicFile;
  private readonly sidecar?: SidecarOut;
  private pending = '';
  private ordinal = 0;
  private closed = false;
  lines = 0;

  /** `path` undefined or "-": stdout (inline tensors only) */
  constructor(path: string | undefined, mode: TensorMode = 'inline') {
    const toFile = path !== undefined && path !== '-';
    if (mode === 'sidecar' && !toFile) throw new WriteError('sidecar tensors need an output file (--out FILE)');
    if (!toFile) return;
    this.file = new AtomicFile(path);
    if (mode === 'sidecar') this.sidecar = new SidecarOut(this.file.path);
  }

  /** bytes to the file, or to standard output */
  private emit(b: Uint8Array): void {
    if (this.file) this.file.write(b);
    else writeAll(1, b, 'standard output');
  }

  private put(s: string): void {
    this.pending += s;
    if (this.pending.length >= FLUSH_AT) this.flush();
  }
  private flush(): void {
    if (!this.pending) return;
    const b = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    this.emit(b);
  }

  /** one line: a JSON object whose values may contain tensors (at any depth) */
  write(obj: Record<string, unknown>): void {
    this.value(obj, []);
    this.put('\n');
    this.ordinal++;
    this.lines++;
  }

  private value(v: unknown, path: string[]): void {
    if (isTensor(v)) return this.tensor(v, path);
    if (Array.isArray(v)) {
      this.put('[');
      v.forEach((x, i) => {
        if (i) this.put(',');
        this.value(x, [...path, String(i)]);
      });
      this.put(']');
      return;
    }
    if (typeof v === 'object' && v !== null) {
      this.put('{');
      let first = true;
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined) continue;
        this.put(`${first ? '' : ','}${JSON.stringify(k)}:`);
        first = false;
        this.value(x, [...path, k]);
      }
      this.put('}');
      return;
    }
    this.put(JSON.stringify(v) ?? 'null');
  }

  private tensor(t: Tensor, path: string[]): void {
    const head = `{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},`;
    const bytes = bytesOf(t);
    if (this.sidecar) {
      const ref = this.sidecar.add(`c${this.ordinal}.${path.join('.')}`, t.dtype, t.shape, bytes);
      this.put(`${head}"file":${JSON.stringify(ref.file)},"key":${JSON.stringify(ref.key)}}`);
      return;
    }
    this.put(`${head}"b64":"`);
    this.flush();
    for (let off = 0; off < bytes.length; off += B64_CHUNK) {
      const part = Buffer.from(bytes.buffer, bytes.byteOffset + off, Math.min(B64_CHUNK, bytes.length - off));
      this.emit(Buffer.from(part.toString('base64'), 'latin1'));
    }
    this.put('"}');
  }

  /** finish: flush, and for a file fsync and rename into place (the sidecar first) */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
      this.closed = true;
      this.sidecar?.finish();
      this.file?.commit();
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** give up: remove the temporary files, leave any earlier file under the final name alone */
  abort(): void {
    this.closed = true;
    this.file?.abort();
    this.sidecar?.abort();
  }
}

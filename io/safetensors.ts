// safetensors read and write (huggingface/safetensors format): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the tensor bytes. Offsets are relative to the
// end of the header. Every field is validated before any tensor memory is allocated, so
// a hostile or truncated file gets an OpError naming the problem, never a crash or an
// allocation larger than the file itself.
//
// Files are read by offset (openSafetensors): only the header is read up front and each
// tensor's bytes when asked for, so a file larger than memory (a binary sidecar of many
// GB) can be used. SafetensorsWriter writes one the same way, a tensor at a time.

import { BYTES, numel, typedArray, type AnyDType, type Tensor } from './tensor.ts';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { OpError } from './errors.ts';
import { AtomicFile, errnoText, MAX_IO_CALL, outputPath, temporaryName, track, untrack, writeAll, writeFileAtomic, WriteError } from './lines.ts';

/** safetensors' dtype names (the file header's words) for each Tensor dtype */
const ST_NAME: Record<AnyDType, string> = { f64: 'F64', f32: 'F32', bf16: 'BF16', f16: 'F16', i64: 'I64', i32: 'I32', u8: 'U8' };
const DTYPE_OF = new Map(Object.entries(ST_NAME).map(([d, n]) => [n, d as AnyDType]));
/** the header dtype names this reader and writer support */
const ST_DTYPES: readonly string[] = Object.values(ST_NAME);

export interface StFile {
  tensors: Map<string, Tensor<AnyDType>>;
  metadata: Record<string, string>;
}
/** one validated header entry; begin/end are byte offsets into the data section */
export interface StEntry {
  dtype: AnyDType;
  shape: number[];
  begin: number;
  end: number;
}

/** a header larger than this is refused (the Rust crate's limit is 100 MB) */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_RANK = 8;
/** fs.readSync / writeSync take the length as an int32, so no single call may move more */
/** SafetensorsWriter copies its data into the final file in pieces of this size */
const COPY_CHUNK = 8 << 20;

const bad = (where: string, msg: string) => new OpError('BAD_TENSOR', `safetensors ${where}: ${msg}`);
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Check the 8-byte header length at the start of a file of `fileLen` bytes and return
 * it. `prefix` holds the file's first bytes (at least 8 when fileLen ≥ 8).
 */
function checkHeaderLength(prefix: Uint8Array, fileLen: number, where: string): number {
  if (fileLen < 8) throw bad(where, `file is ${fileLen} bytes, shorter than the 8-byte header length`);
  const n64 = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) throw bad(where, `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n < 2) throw bad(where, `header length ${n} is too small for a JSON object`);
  if (8 + n > fileLen) throw bad(where, `header length ${n} runs past the end of the file (${fileLen} bytes): truncated?`);
  return n;
}

/** a shape the reader accepts: up to MAX_RANK safe non-negative integers */
const isShape = (shape: unknown): shape is number[] =>
  Array.isArray(shape) && shape.length <= MAX_RANK && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
/** bytes a tensor of this dtype and shape takes; BigInt because numel may overflow a double for hostile shapes */
const byteSize = (dtype: AnyDType, shape: number[]): bigint => shape.reduce((a, d) => a * BigInt(d), 1n) * BigInt(BYTES[dtype]);

/**
 * Validate the JSON header (the N bytes after the length) of a file whose data section
 * is `dataLen` bytes: entries well formed, sizes agreeing with dtype × shape, and the
 * tensors tiling the data section exactly. Entries keep the header's order.
 */
export function validateHeader(
  headerBytes: Uint8Array,
  dataLen: number,
  where: string,
): { entries: Map<string, StEntry>; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw bad(where, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad(where, 'header must be a JSON object');
  const metadata: Record<string, string> = {};
  const entries = new Map<string, StEntry>();
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(where, '__metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw bad(where, `__metadata__.${k} must be a string`);
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(where, `tensor "${name}": entry must be an object`);
    const e = v as Record<string, unknown>;
    const dtype = typeof e.dtype === 'string' ? DTYPE_OF.get(e.dtype) : undefined;
    if (!dtype) throw bad(where, `tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${ST_DTYPES.join(', ')})`);
    if (!isShape(e.shape))
      throw bad(where, `tensor "${name}": shape must be up to ${MAX_RANK} non-negative integers, got ${JSON.stringify(e.shape)}`);
    const shape = e.shape;
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(where, `tensor "${name}": data_offsets must be two non-negative integers, got ${JSON.stringify(off)}`);
    const [begin, end] = off as number[];
    if (begin > end) throw bad(where, `tensor "${name}": data_offsets [${begin}, ${end}] are reversed`);
    if (end > dataLen) throw bad(where, `tensor "${name}": data_offsets [${begin}, ${end}] out of bounds (data section is ${dataLen} bytes): truncated?`);
    const need = byteSize(dtype, shape);
    if (need !== BigInt(end - begin))
      throw bad(where, `tensor "${name}": ${dtype} shape [${shape}] needs ${need} bytes but data_offsets span ${end - begin}`);
    entries.set(name, { dtype, shape, begin, end });
  }
  // tensors must tile the data section: sorted by offset, no overlap, no hole
  const sorted = [...entries].sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const [name, e] of sorted) {
    if (e.begin < pos) throw bad(where, `tensor "${name}": data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${pos})`);
    if (e.begin > pos) throw bad(where, `tensor "${name}": a hole of ${e.begin - pos} bytes before it at offset ${pos}`);
    pos = e.end;
  }
  if (pos !== dataLen) throw bad(where, `${dataLen - pos} trailing bytes after the last tensor`);
  return { entries, metadata };
}

/**
 * Fill `target` from `fd` starting at byte `position`. Returns the bytes read, which is
 * less than target.length only when the file ended first.
 */
function readFully(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, Math.min(target.length - done, MAX_IO_CALL), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** a safetensors file opened for reading by offset: only its header is in memory */
export interface StReader {
  readonly path: string;
  readonly entries: ReadonlyMap<string, StEntry>;
  readonly metadata: Record<string, string>;
  /** file offset of the data section (8 + header length); entry offsets are relative to it */
  readonly dataStart: number;
  /** read one tensor into fresh, aligned memory; `where` (e.g. the case line asking) is added to errors */
  read(name: string, where?: string): Tensor<AnyDType>;
  /** read one tensor's bytes into `target`, which must be exactly its size (e.g. a view of a SharedArrayBuffer) */
  readInto(name: string, target: Uint8Array, where?: string): void;
  close(): void;
}

class SafetensorsReader implements StReader {
  private fd: number | undefined;
  constructor(
    readonly path: string,
    fd: number,
    readonly entries: Map<string, StEntry>,
    readonly metadata: Record<string, string>,
    readonly dataStart: number,
  ) {
    this.fd = fd;
  }

  private label(where?: string): string {
    return where ? `${this.path} (${where})` : this.path;
  }

  private entry(name: string, where?: string): StEntry {
    const e = this.entries.get(name);
    if (!e) throw bad(this.label(where), `no tensor "${name}" in the file`);
    return e;
  }

  read(name: string, where?: string): Tensor<AnyDType> {
    const e = this.entry(name, where);
    let buf: ArrayBuffer;
    try {
      buf = new ArrayBuffer(e.end - e.begin); // fresh, so the typed view is aligned
    } catch {
      throw bad(this.label(where), `tensor "${name}": cannot allocate ${e.end - e.begin} bytes`);
    }
    this.readInto(name, new Uint8Array(buf), where);
    return { dtype: e.dtype, shape: [...e.shape], data: typedArray(e.dtype, buf) }; // own shape: the caller may change it
  }

  readInto(name: string, target: Uint8Array, where?: string): void {
    const e = this.entry(name, where);
    const len = e.end - e.begin;
    if (target.byteLength !== len)
      throw new OpError('BAD_ARGS', `safetensors ${this.label(where)}: tensor "${name}" is ${len} bytes, the target buffer ${target.byteLength}`);
    if (this.fd === undefined) throw new OpError('BAD_ARGS', `safetensors ${this.label(where)}: read of tensor "${name}" after close`);
    let got: number;
    try {
      got = readFully(this.fd, target, this.dataStart + e.begin);
    } catch (err) {
      throw bad(this.label(where), `tensor "${name}": read failed (${errno(err)})`);
    }
    // the header was checked against the file's size at open, so a short read means it changed since
    if (got < len) throw bad(this.label(where), `tensor "${name}": file shrank/truncated since it was opened (read ${got} of ${len} bytes)`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** open a .safetensors file and validate its header, reading nothing of the data section */
export function openSafetensors(path: string): StReader {
  let fd: number;
  try {
    // stat first: opening a FIFO for reading would wait for a writer forever
    if (!statSync(path).isFile()) throw new OpError('BAD_ARGS', `safetensors ${path}: not a regular file`);
    fd = openSync(path, 'r');
  } catch (e) {
    if (e instanceof OpError) throw e;
    throw new OpError('BAD_ARGS', `safetensors ${path}: cannot open (${errno(e)})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new OpError('BAD_ARGS', `safetensors ${path}: not a regular file`);
    const size = st.size;
    const prefix = new Uint8Array(8);
    const got = size >= 8 ? readFully(fd, prefix, 0) : 0;
    // a file that shrank between fstat and read is treated as being that short
    const n = checkHeaderLength(prefix, got < 8 ? got : size, path);
    const headerBytes = new Uint8Array(n); // n ≤ MAX_HEADER_BYTES and 8 + n ≤ size, checked above
    const gotHeader = readFully(fd, headerBytes, 8);
    if (gotHeader < n) throw bad(path, `file shrank/truncated while reading the header (read ${gotHeader} of ${n} bytes)`);
    const { entries, metadata } = validateHeader(headerBytes, size - 8 - n, path);
    return new SafetensorsReader(path, fd, entries, metadata, 8 + n);
  } catch (e) {
    closeSync(fd);
    if (e instanceof OpError) throw e;
    throw bad(path, `read failed (${errno(e)})`);
  }
}

/** read and validate a .safetensors file, every tensor by offset */
export function readSafetensorsFile(path: string): StFile {
  const reader = openSafetensors(path);
  try {
    const tensors = new Map<string, Tensor<AnyDType>>();
    for (const name of reader.entries.keys()) tensors.set(name, reader.read(name));
    return { tensors, metadata: reader.metadata };
  } finally {
    reader.close();
  }
}

/** parse and validate safetensors bytes; `where` names the source in errors */
export function parseSafetensors(bytes: Uint8Array, where = '<bytes>'): StFile {
  const n = checkHeaderLength(bytes, bytes.length, where);
  const { entries, metadata } = validateHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, where);
  const tensors = new Map<string, Tensor<AnyDType>>();
  for (const [name, e] of entries) {
    const copy = new ArrayBuffer(e.end - e.begin); // aligned copy of exactly the validated span
    new Uint8Array(copy).set(bytes.subarray(8 + n + e.begin, 8 + n + e.end));
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: typedArray(e.dtype, copy) });
  }
  return { tensors, metadata };
}

/**
 * The length prefix and JSON header for tensors laid out back to back in the given
 * order, padded with spaces so the data starts 8-aligned. Shared by both writers so
 * they produce the same bytes.
 */
function encodeHeader(list: { name: string; dtype: AnyDType; shape: number[]; byteLength: number }[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let pos = 0;
  for (const t of list) {
    header[t.name] = { dtype: ST_NAME[t.dtype], shape: t.shape, data_offsets: [pos, pos + t.byteLength] };
    pos += t.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8) json += ' '; // pad so the data starts 8-aligned
  const out = Buffer.alloc(8 + Buffer.byteLength(json));
  out.writeBigUInt64LE(BigInt(out.length - 8), 0);
  out.write(json, 8, 'utf8');
  return out;
}

/** serialize tensors (in the given order) and metadata to safetensors bytes */
export function serializeSafetensors(tensors: Map<string, Tensor<AnyDType>> | [string, Tensor<AnyDType>][], metadata: Record<string, string> = {}): Uint8Array {
  const list = tensors instanceof Map ? [...tensors.entries()] : tensors;
  let dataLen = 0;
  for (const [name, t] of list) {
    const len = t.data.byteLength;
    const need = numel(t.shape) * BYTES[t.dtype];
    if (need !== len) throw new OpError('BAD_TENSOR', `safetensors write: tensor "${name}" ${t.dtype} [${t.shape}] needs ${need} bytes, data has ${len}`);
    dataLen += len;
  }
  const hb = encodeHeader(
    list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, byteLength: t.data.byteLength })),
    metadata,
  );
  const out = new Uint8Array(hb.length + dataLen);
  out.set(hb, 0);
  let at = hb.length;
  for (const [, t] of list) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** write a .safetensors file atomically */
export function writeSafetensorsFile(path: string, tensors: Map<string, Tensor<AnyDType>> | [string, Tensor<AnyDType>][], metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/**
 * Write all of `bytes` to `fd` at `position`, looping over short writes. Throws an
 * OpError naming `file` and how many bytes got written when the OS refuses more.
 */
/**
 * Write a .safetensors file a tensor at a time without holding the data in memory:
 * `add` appends each tensor's bytes to a temporary data file beside the target, and
 * `finish` writes the header and copies the data after it into a second temporary file
 * that is flushed and renamed over the target, so a reader never sees a partial file.
 * On any failure (or `abort`) the temporary files are removed and the target is left
 * as it was.
 */
export class SafetensorsWriter {
  private readonly dataTmp: string;
  private dataFd: number | undefined;
  private dataLen = 0;
  private readonly list: { name: string; dtype: AnyDType; shape: number[]; byteLength: number }[] = [];
  private readonly names = new Set<string>();
  private state: 'open' | 'finished' | 'aborted' = 'open';

  constructor(
    readonly path: string,
    private readonly metadata: Record<string, string> = {},
  ) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new OpError('BAD_ARGS', `safetensors write ${path}: __metadata__.${k} must be a string`);
    this.dataTmp = temporaryName(outputPath(path), '.data');
    try {
      mkdirSync(dirname(path) || '.', { recursive: true });
      // w+: written by add, read back by finish
      this.dataFd = openSync(this.dataTmp, 'w+');
    } catch (e) {
      throw new WriteError(`cannot write ${path}: ${errnoText(e)}`);
    }
    track(this.dataTmp);
  }

  /** append one tensor; `data` holds its raw little-endian bytes */
  add(name: string, dtype: AnyDType, shape: number[], data: Uint8Array): void {
    const fd = this.openFd('add');
    const refuse = (msg: string) => new OpError('BAD_TENSOR', `safetensors write ${this.path}: tensor "${name}": ${msg}`);
    if (typeof name !== 'string' || name === '__metadata__') throw refuse('not a usable tensor name');
    if (this.names.has(name)) throw refuse('added twice');
    if (!(dtype in ST_NAME)) throw refuse(`unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(ST_NAME).join(', ')})`);
    // refuse what openSafetensors would refuse to read back
    if (!isShape(shape)) throw refuse(`shape must be up to ${MAX_RANK} non-negative integers, got ${JSON.stringify(shape)}`);
    const need = byteSize(dtype, shape);
    if (need !== BigInt(data.byteLength)) throw refuse(`${dtype} [${shape}] needs ${need} bytes, data has ${data.byteLength}`);
    this.guard(() => writeAll(fd, data, this.path, this.dataLen));
    this.names.add(name);
    this.list.push({ name, dtype, shape: [...shape], byteLength: data.byteLength });
    this.dataLen += data.byteLength;
  }

  /** write the target file: header, then the data copied in chunks; removes the temporary files */
  finish(): void {
    const dataFd = this.openFd('finish');
    const header = encodeHeader(this.list, this.metadata);
    if (header.length - 8 > MAX_HEADER_BYTES) {
      this.abort();
      throw new OpError('BAD_TENSOR', `safetensors write ${this.path}: header of ${header.length - 8} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    }
    this.guard(() => {
      const out = new AtomicFile(this.path);
      try {
        out.write(header);
        const chunk = new Uint8Array(Math.min(COPY_CHUNK, Math.max(this.dataLen, 1)));
        for (let pos = 0; pos < this.dataLen; ) {
          const piece = chunk.subarray(0, Math.min(chunk.length, this.dataLen - pos));
          const got = readFully(dataFd, piece, pos);
          if (got < piece.length) throw new WriteError(`cannot write ${this.path}: its temporary data file shrank (read ${pos + got} of ${this.dataLen} bytes)`);
          out.write(piece);
          pos += piece.length;
        }
        out.commit();
      } catch (e) {
        out.abort();
        throw e;
      }
    });
    this.closeData();
    rmSync(this.dataTmp, { force: true });
    untrack(this.dataTmp);
    this.state = 'finished';
  }

  /** drop everything written so far; the target is untouched. Safe to call more than once */
  abort(): void {
    if (this.state === 'finished') return;
    this.state = 'aborted';
    this.closeData();
    rmSync(this.dataTmp, { force: true });
    untrack(this.dataTmp);
  }

  private openFd(what: string): number {
    if (this.state !== 'open' || this.dataFd === undefined)
      throw new OpError('BAD_ARGS', `safetensors write ${this.path}: ${what} after the writer was ${this.state}`);
    return this.dataFd;
  }

  private closeData(): void {
    if (this.dataFd !== undefined) closeSync(this.dataFd);
    this.dataFd = undefined;
  }

  /** run an I/O step; on failure remove the temporary files so no partial output survives */
  private guard(step: () => void): void {
    try {
      step();
    } catch (e) {
      this.abort();
      if (e instanceof OpError || e instanceof WriteError) throw e;
      throw new WriteError(`cannot write ${this.path}: ${errnoText(e)}`);
    }
  }
}

// ------------------------------------------------------------------ values

/** IEEE half bits → value (exact) */
export function f16ToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1024 + f) * 2 ** (e - 25);
}

/** value → IEEE half bits, one round-to-nearest-even from the exact value */
export function numberToF16(x: number): number {
  if (x !== x) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | 0x7c00;
  // binade exponent e (2^e ≤ a < 2^(e+1)), clamped at the subnormal floor −14
  let e = -14;
  if (a >= 2 ** -14) {
    e = Math.floor(Math.log2(a));
    if (2 ** e > a) e--;
    else if (2 ** (e + 1) <= a) e++;
  }
  const m = a / 2 ** (e - 10); // exact: a power-of-two scaling
  let r = Math.floor(m);
  const frac = m - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  if (e === -14 && r < 1024) return sign | r; // subnormal
  if (r === 2048) {
    r = 1024;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (r - 1024);
}



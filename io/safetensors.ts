// safetensors read and write (huggingface/safetensors format): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the tensor bytes. Offsets are relative to the
// end of the header. Every field is validated before any tensor memory is allocated, so
// a hostile or truncated file gets an OpError naming the problem, never a crash or an
// allocation larger than the file itself.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { OpError } from './errors.ts';
import { writeFileAtomic } from './lines.ts';
import { bf16Value } from '../reference/bf16.ts';

export const ST_DTYPES = ['F64', 'F32', 'BF16', 'F16', 'I64', 'I32'] as const;
export type StDType = (typeof ST_DTYPES)[number];
const SIZE: Record<StDType, number> = { F64: 8, F32: 4, BF16: 2, F16: 2, I64: 8, I32: 4 };

export interface StTensor {
  dtype: StDType;
  shape: number[];
  /** F64: Float64Array, F32: Float32Array, BF16/F16: Uint16Array bits, I32: Int32Array, I64: BigInt64Array */
  data: Float64Array | Float32Array | Uint16Array | Int32Array | BigInt64Array;
}
export interface StFile {
  tensors: Map<string, StTensor>;
  metadata: Record<string, string>;
}

/** a header larger than this is refused (the Rust crate's limit is 100 MB) */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_RANK = 8;

const bad = (where: string, msg: string) => new OpError('BAD_TENSOR', `safetensors ${where}: ${msg}`);

/** read and validate a .safetensors file */
export function readSafetensorsFile(path: string): StFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new OpError('BAD_ARGS', `safetensors ${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    // read the whole file: its size bounds the allocation, whatever the header claims
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return parseSafetensors(buf.subarray(0, off), path);
  } finally {
    closeSync(fd);
  }
}

/** parse and validate safetensors bytes; `where` names the source in errors */
export function parseSafetensors(bytes: Uint8Array, where = '<bytes>'): StFile {
  if (bytes.length < 8) throw bad(where, `file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) throw bad(where, `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n < 2) throw bad(where, `header length ${n} is too small for a JSON object`);
  if (8 + n > bytes.length) throw bad(where, `header length ${n} runs past the end of the file (${bytes.length} bytes): truncated?`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw bad(where, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad(where, 'header must be a JSON object');
  const dataLen = bytes.length - 8 - n;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: StDType; shape: number[]; begin: number; end: number }[] = [];
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
    if (typeof e.dtype !== 'string' || !(ST_DTYPES as readonly string[]).includes(e.dtype))
      throw bad(where, `tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${ST_DTYPES.join(', ')})`);
    const dtype = e.dtype as StDType;
    if (!Array.isArray(e.shape) || e.shape.length > MAX_RANK || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(where, `tensor "${name}": shape must be up to ${MAX_RANK} non-negative integers, got ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(where, `tensor "${name}": data_offsets must be two non-negative integers, got ${JSON.stringify(off)}`);
    const [begin, end] = off as number[];
    if (begin > end) throw bad(where, `tensor "${name}": data_offsets [${begin}, ${end}] are reversed`);
    if (end > dataLen) throw bad(where, `tensor "${name}": data_offsets [${begin}, ${end}] out of bounds (data section is ${dataLen} bytes): truncated?`);
    // numel may overflow a double for hostile shapes; compare in BigInt
    const need = shape.reduce((a, d) => a * BigInt(d), 1n) * BigInt(SIZE[dtype]);
    if (need !== BigInt(end - begin))
      throw bad(where, `tensor "${name}": ${dtype} shape [${shape}] needs ${need} bytes but data_offsets span ${end - begin}`);
    entries.push({ name, dtype, shape, begin, end });
  }
  // tensors must tile the data section: sorted by offset, no overlap, no hole
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin < pos) throw bad(where, `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${pos})`);
    if (e.begin > pos) throw bad(where, `tensor "${e.name}": a hole of ${e.begin - pos} bytes before it at offset ${pos}`);
    pos = e.end;
  }
  if (pos !== dataLen) throw bad(where, `${dataLen - pos} trailing bytes after the last tensor`);
  const tensors = new Map<string, StTensor>();
  for (const e of entries) {
    const copy = new ArrayBuffer(e.end - e.begin); // aligned copy of exactly the validated span
    new Uint8Array(copy).set(bytes.subarray(8 + n + e.begin, 8 + n + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: typedView(e.dtype, copy) });
  }
  return { tensors, metadata };
}

function typedView(dtype: StDType, buf: ArrayBuffer): StTensor['data'] {
  switch (dtype) {
    case 'F64':
      return new Float64Array(buf);
    case 'F32':
      return new Float32Array(buf);
    case 'BF16':
    case 'F16':
      return new Uint16Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'I64':
      return new BigInt64Array(buf);
  }
}

/** serialize tensors (in the given order) and metadata to safetensors bytes */
export function serializeSafetensors(tensors: Map<string, StTensor> | [string, StTensor][], metadata: Record<string, string> = {}): Uint8Array {
  const list = tensors instanceof Map ? [...tensors.entries()] : tensors;
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let pos = 0;
  for (const [name, t] of list) {
    const len = t.data.byteLength;
    const need = t.shape.reduce((a, d) => a * d, 1) * SIZE[t.dtype];
    if (need !== len) throw new OpError('BAD_TENSOR', `safetensors write: tensor "${name}" ${t.dtype} [${t.shape}] needs ${need} bytes, data has ${len}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + len] };
    pos += len;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8) json += ' '; // pad so the data starts 8-aligned
  const hb = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hb.length + pos);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let at = 8 + hb.length;
  for (const [, t] of list) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** write a .safetensors file atomically */
export function writeSafetensorsFile(path: string, tensors: Map<string, StTensor> | [string, StTensor][], metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

// ------------------------------------------------------------------ values
const f32s = new Float32Array(1);
const u32s = new Uint32Array(f32s.buffer);

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

/** the tensor's element values as a Float64Array (exact for every float dtype) */
export function stValues(t: StTensor): Float64Array {
  const n = t.data.length;
  const out = new Float64Array(n);
  switch (t.dtype) {
    case 'F64':
    case 'F32':
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = (t.data as Float64Array)[i];
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) {
        u32s[0] = (t.data as Uint16Array)[i] << 16;
        out[i] = f32s[0];
      }
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToNumber((t.data as Uint16Array)[i]);
      break;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number((t.data as BigInt64Array)[i]);
      break;
  }
  return out;
}

/** build a tensor of `dtype` from values (F32: fround; BF16: RNE via f32; F16: one RNE; ints: must be integers) */
export function stFromValues(values: ArrayLike<number>, dtype: StDType, shape: number[]): StTensor {
  const n = values.length;
  if (shape.reduce((a, d) => a * d, 1) !== n) throw new Error(`stFromValues: ${n} values for shape [${shape}]`);
  let data: StTensor['data'];
  switch (dtype) {
    case 'F64':
      data = Float64Array.from(values);
      break;
    case 'F32':
      data = Float32Array.from(values);
      break;
    case 'BF16': {
      const d = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        f32s[0] = bf16Value(values[i]);
        d[i] = u32s[0] >>> 16;
      }
      data = d;
      break;
    }
    case 'F16': {
      const d = new Uint16Array(n);
      for (let i = 0; i < n; i++) d[i] = numberToF16(values[i]);
      data = d;
      break;
    }
    case 'I32':
      data = Int32Array.from(values);
      break;
    case 'I64':
      data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
      break;
  }
  return { dtype, shape: [...shape], data };
}

// The one Tensor type, on the wire and in files. On the wire: {"dtype", "shape", "b64"} with
// little-endian row-major bytes (FORMAT.md, "Tensors"); safetensors files (io/safetensors.ts)
// hold the same tensors. In memory a tensor is a typed array of its dtype; bf16 and f16 stay
// uint16 bits so NaN payloads and signed zeros survive.

import { bf16BitsToValue, bf16BitsToValues } from './bf16-codec.ts';
import { endianness } from 'node:os';
import { OpError } from './errors.ts';
import { Base64Bytes, fmtBytes, type Budget } from './json-stream.ts';
import { SidecarCache } from './sidecar.ts';
import { f16ToNumber } from './safetensors.ts';

/** the wire's dtypes (FORMAT.md) */
export const DTYPES = ['bf16', 'f32', 'f64', 'i32', 'i64', 'u8'] as const;
export type DType = (typeof DTYPES)[number];
/** every dtype a Tensor may hold: the wire's, and f16, which only safetensors files carry (a wire tensor of f16 is refused) */
export type AnyDType = DType | 'f16';

export interface DataOf {
  bf16: Uint16Array;
  f16: Uint16Array;
  f32: Float32Array;
  f64: Float64Array;
  i32: Int32Array;
  i64: BigInt64Array;
  u8: Uint8Array;
}
export type AnyData = DataOf[AnyDType];
export interface Tensor<D extends AnyDType = DType> {
  dtype: D;
  shape: number[];
  data: DataOf[D];
}
export interface WireTensor {
  dtype: string;
  shape: number[];
  b64: string;
}

export const BYTES: Record<AnyDType, number> = { bf16: 2, f16: 2, f32: 4, f64: 8, i32: 4, i64: 8, u8: 1 };

if (endianness() !== 'LE') throw new Error('anchor-oracle assumes a little-endian host (the wire format is little-endian)');

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** a typed array of a dtype over a fresh buffer of n elements, or over a given (aligned) buffer */
export function typedArray(dtype: AnyDType, src: number | ArrayBuffer, offset = 0, length?: number): AnyData {
  const b = src as ArrayBuffer;
  switch (dtype) {
    case 'bf16':
    case 'f16': return typeof src === 'number' ? new Uint16Array(src) : new Uint16Array(b, offset, length);
    case 'f32': return typeof src === 'number' ? new Float32Array(src) : new Float32Array(b, offset, length);
    case 'f64': return typeof src === 'number' ? new Float64Array(src) : new Float64Array(b, offset, length);
    case 'i32': return typeof src === 'number' ? new Int32Array(src) : new Int32Array(b, offset, length);
    case 'i64': return typeof src === 'number' ? new BigInt64Array(src) : new BigInt64Array(b, offset, length);
    case 'u8': return typeof src === 'number' ? new Uint8Array(src) : new Uint8Array(b, offset, length);
  }
}

export function alloc<D extends DType>(dtype: D, shape: number[]): Tensor<D> {
  return { dtype, shape: [...shape], data: typedArray(dtype, numel(shape)) as DataOf[D] };
}

export function tensor<D extends DType>(dtype: D, shape: number[], data: DataOf[D]): Tensor<D> {
  if (data.length !== numel(shape)) throw new Error(`tensor: ${data.length} elements for shape [${shape}]`);
  return { dtype, shape: [...shape], data };
}

/** t[i] along the first axis, as a view (no copy) */
export function slice0(t: Tensor, i: number): Tensor {
  const inner = numel(t.shape.slice(1));
  return { dtype: t.dtype, shape: t.shape.slice(1), data: t.data.subarray(i * inner, (i + 1) * inner) } as Tensor;
}

/** a view of a tensor's bytes */
export function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

export function encodeTensor(t: Tensor): WireTensor {
  return { dtype: t.dtype, shape: t.shape, b64: Buffer.from(bytesOf(t)).toString('base64') };
}

/** where tensors of a line come from: its sidecars, and how to allocate (shared for workers) */
export interface TensorSource {
  sidecars?: SidecarCache;
  shared?: boolean;
  /** the line's memory budget: sidecar tensors are counted against it before they are read */
  budget?: Budget;
}

/** why a base64 string is not valid (a loop, not a regex: the string may be hundreds of MB) */
function base64Problem(s: string): string | undefined {
  if (s.length % 4) return `length ${s.length} is not a multiple of 4`;
  const pads = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  for (let i = 0; i < s.length - pads; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
    if (!ok) return `${JSON.stringify(s[i])} at character ${i}`;
  }
  return undefined;
}

/** the most dimensions a tensor may have (as in safetensors sidecars) */
export const MAX_RANK = 8;
/** the largest size of one dimension */
export const MAX_DIM = 2 ** 31;

/** the most bytes one tensor may hold: its bytes are one typed-array view (2^32 − 1 elements of a byte) */
export const MAX_TENSOR_BYTES = 2 ** 32 - 1;

/** decode and validate a wire tensor (inline b64, or a sidecar file/key); `where` names it in errors ("in.x") */
export function decodeTensor(w: unknown, where: string, src: TensorSource = {}): Tensor {
  if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new OpError('BAD_TENSOR', `${where}: expected a tensor object {dtype, shape, b64} or {dtype, shape, file, key}`);
  const o = w as Record<string, unknown>;
  if (typeof o.dtype !== 'string' || !(DTYPES as readonly string[]).includes(o.dtype))
    throw new OpError('BAD_TENSOR', `${where}: unknown dtype ${JSON.stringify(o.dtype)} (expected one of ${DTYPES.join(', ')})`);
  const dtype = o.dtype as DType;
  if (!Array.isArray(o.shape) || o.shape.length > MAX_RANK || !o.shape.every((d) => Number.isInteger(d) && d >= 0 && d <= MAX_DIM))
    throw new OpError('BAD_TENSOR', `${where}: shape must be an array of at most ${MAX_RANK} non-negative integers, got ${JSON.stringify(o.shape)}`);
  const shape = o.shape as number[];
  const n = numel(shape);
  const expected = n * BYTES[dtype];
  if (expected > MAX_TENSOR_BYTES)
    throw new OpError('BAD_TENSOR', `${where}: ${dtype} [${shape}] is ${fmtBytes(expected)}; one tensor holds at most 4 GiB (split the case: fewer heads or rows)`);
  const inline = Object.hasOwn(o, 'b64');
  if (inline && (Object.hasOwn(o, 'file') || Object.hasOwn(o, 'key'))) throw new OpError('BAD_TENSOR', `${where}: give either b64 (inline) or file and key (sidecar), not both`);
  if (!inline) {
    if (!Object.hasOwn(o, 'file') && !Object.hasOwn(o, 'key')) throw new OpError('BAD_TENSOR', `${where}: a tensor needs b64 (inline) or file and key (sidecar)`);
    if (!src.sidecars) throw new OpError('BAD_TENSOR', `${where}: sidecar tensors need a case file on disk (not available here)`);
    if (typeof o.key !== 'string') throw new OpError('BAD_TENSOR', `${where}: "key" must be a string naming a tensor in the sidecar`);
    const reader = src.sidecars.reader(o.file, where);
    const e = reader.entries.get(o.key);
    if (!e) throw new OpError('BAD_TENSOR', `${where}: sidecar ${String(o.file)} has no tensor "${o.key}"`);
    if (e.dtype !== dtype || e.shape.join() !== shape.join())
      throw new OpError('BAD_TENSOR', `${where}: the line says ${dtype} [${shape}] but sidecar tensor "${o.key}" is ${e.dtype} [${e.shape}]`);
    src.budget?.reserve(expected, () => `a ${dtype} [${shape}] sidecar tensor (${fmtBytes(expected)})`);
    const bytes = new Uint8Array(src.shared ? new SharedArrayBuffer(expected) : new ArrayBuffer(expected));
    reader.readInto(o.key, bytes);
    return { dtype, shape, data: typedArray(dtype, bytes.buffer as ArrayBuffer) } as Tensor;
  }
  let bytes: Uint8Array;
  if (o.b64 instanceof Base64Bytes) {
    // decoded while the line was read (io/json-stream.ts)
    if (o.b64.invalid) throw new OpError('BAD_TENSOR', `${where}: b64 is ${o.b64.invalid}`);
    if (o.b64.length !== expected || !o.b64.bytes)
      throw new OpError('BAD_TENSOR', `${where}: ${dtype} shape [${shape}] needs ${expected} bytes but b64 holds ${o.b64.length}`);
    bytes = o.b64.bytes;
  } else {
    if (typeof o.b64 !== 'string') throw new OpError('BAD_TENSOR', `${where}: b64 must be a string`);
    const problem = base64Problem(o.b64);
    if (problem) throw new OpError('BAD_TENSOR', `${where}: b64 is not valid base64 (${problem})`);
    const actual = (o.b64.length / 4) * 3 - (o.b64.endsWith('==') ? 2 : o.b64.endsWith('=') ? 1 : 0);
    if (actual !== expected) throw new OpError('BAD_TENSOR', `${where}: ${dtype} shape [${shape}] needs ${expected} bytes but b64 holds ${actual}`);
    bytes = new Uint8Array(src.shared ? new SharedArrayBuffer(expected) : new ArrayBuffer(expected)); // aligned
    bytes.set(Buffer.from(o.b64, 'base64'));
  }
  if (bytes.byteOffset % BYTES[dtype]) bytes = bytes.slice(); // typed arrays need aligned offsets
  return { dtype, shape, data: typedArray(dtype, bytes.buffer as ArrayBuffer, bytes.byteOffset, n) } as Tensor;
}

/** element i as a JS number (bf16 decoded, i64 converted) */
export function elementValue(t: Tensor, i: number): number {
  if (t.dtype === 'bf16') return bf16BitsToValue((t.data as Uint16Array)[i]);
  const v = t.data[i];
  return typeof v === 'bigint' ? Number(v) : v;
}

/** the raw bit pattern of element i as an unsigned BigInt (for exact comparison and hex) */
export function elementBits(t: Tensor, i: number): bigint {
  const b = bytesOf(t);
  const size = BYTES[t.dtype];
  let v = 0n;
  for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[i * size + k]);
  return v;
}

export function hexBits(t: Tensor, i: number): string {
  return '0x' + elementBits(t, i).toString(16).toUpperCase().padStart(BYTES[t.dtype] * 2, '0');
}

/** integer values of an i32/i64 tensor as numbers (checked to be safe integers) */
export function intValues(t: Tensor, where: string): number[] {
  if (t.dtype !== 'i32' && t.dtype !== 'i64') throw new OpError('BAD_TENSOR', `${where}: expected i32 or i64, got ${t.dtype}`);
  const data = t.data as ArrayLike<number | bigint>;
  return Array.from({ length: data.length }, (_, i) => {
    const v = data[i];
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new OpError('BAD_TENSOR', `${where}: value ${v} is not a safe integer`);
    return n;
  });
}


/** a tensor's values as a fresh Float64Array (exact for every float dtype; i64 converted) */
export function floatValues(t: Tensor<AnyDType>): Float64Array {
  if (t.dtype === 'bf16') return bf16BitsToValues(t.data as Uint16Array);
  if (t.dtype === 'f16') return Float64Array.from(t.data as Uint16Array, f16ToNumber);
  if (t.dtype === 'i64') return Float64Array.from(t.data as BigInt64Array, Number);
  return Float64Array.from(t.data as Exclude<AnyData, BigInt64Array>);
}

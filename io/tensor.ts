// Tensors on the wire: {"dtype", "shape", "b64"} with little-endian row-major bytes
// (shared/conformance-format: "Tensors"). In memory a tensor is a typed array of
// its dtype; bf16 stays uint16 bits so NaN payloads and signed zeros survive.

import { endianness } from 'node:os';
import { OpError } from './errors.ts';

export const DTYPES = ['bf16', 'f32', 'f64', 'i32', 'i64', 'u8'] as const;
export type DType = (typeof DTYPES)[number];

export interface DataOf {
  bf16: Uint16Array;
  f32: Float32Array;
  f64: Float64Array;
  i32: Int32Array;
  i64: BigInt64Array;
  u8: Uint8Array;
}
export type AnyData = DataOf[DType];
export interface Tensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: DataOf[D];
}
export interface WireTensor {
  dtype: string;
  shape: number[];
  b64: string;
}

export const BYTES: Record<DType, number> = { bf16: 2, f32: 4, f64: 8, i32: 4, i64: 8, u8: 1 };

if (endianness() !== 'LE') throw new Error('anchor-oracle assumes a little-endian host (the wire format is little-endian)');

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** a typed array of a dtype over a fresh buffer of n elements, or over a given (aligned) buffer */
function typedArray(dtype: DType, src: number | ArrayBuffer): AnyData {
  switch (dtype) {
    case 'bf16': return new Uint16Array(src as ArrayBuffer);
    case 'f32': return new Float32Array(src as ArrayBuffer);
    case 'f64': return new Float64Array(src as ArrayBuffer);
    case 'i32': return new Int32Array(src as ArrayBuffer);
    case 'i64': return new BigInt64Array(src as ArrayBuffer);
    case 'u8': return new Uint8Array(src as ArrayBuffer);
  }
}

export function alloc<D extends DType>(dtype: D, shape: number[]): Tensor<D> {
  return { dtype, shape: [...shape], data: typedArray(dtype, numel(shape)) as DataOf[D] };
}

export function tensor<D extends DType>(dtype: D, shape: number[], data: DataOf[D]): Tensor<D> {
  if (data.length !== numel(shape)) throw new Error(`tensor: ${data.length} elements for shape [${shape}]`);
  return { dtype, shape: [...shape], data };
}

/** a view of a tensor's bytes */
export function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

export function encodeTensor(t: Tensor): WireTensor {
  return { dtype: t.dtype, shape: t.shape, b64: Buffer.from(bytesOf(t)).toString('base64') };
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** decode and validate a wire tensor; `where` names it in errors ("in.x") */
export function decodeTensor(w: unknown, where: string): Tensor {
  if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new OpError('BAD_TENSOR', `${where}: expected a tensor object {dtype, shape, b64}`);
  const o = w as Record<string, unknown>;
  if (typeof o.dtype !== 'string' || !(DTYPES as readonly string[]).includes(o.dtype))
    throw new OpError('BAD_TENSOR', `${where}: unknown dtype ${JSON.stringify(o.dtype)} (expected one of ${DTYPES.join(', ')})`);
  const dtype = o.dtype as DType;
  if (!Array.isArray(o.shape) || !o.shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 2 ** 31))
    throw new OpError('BAD_TENSOR', `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(o.shape)}`);
  const shape = o.shape as number[];
  if (typeof o.b64 !== 'string') throw new OpError('BAD_TENSOR', `${where}: b64 must be a string`);
  if (!B64.test(o.b64)) throw new OpError('BAD_TENSOR', `${where}: b64 is not valid base64`);
  const n = numel(shape);
  const expected = n * BYTES[dtype];
  const actual = (o.b64.length / 4) * 3 - (o.b64.endsWith('==') ? 2 : o.b64.endsWith('=') ? 1 : 0);
  if (actual !== expected)
    throw new OpError('BAD_TENSOR', `${where}: ${dtype} shape [${shape}] needs ${expected} bytes but b64 holds ${actual}`);
  const buf = Buffer.from(o.b64, 'base64');
  const copy = new ArrayBuffer(expected); // aligned copy
  new Uint8Array(copy).set(buf);
  const data = typedArray(dtype, copy);
  return { dtype, shape, data } as Tensor;
}

/** element i as a JS number (bf16 decoded, i64 converted) */
export function elementValue(t: Tensor, i: number): number {
  if (t.dtype === 'bf16') {
    const u = new Uint32Array(1);
    u[0] = (t.data as Uint16Array)[i] << 16;
    return new Float32Array(u.buffer)[0];
  }
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

/** float values of an f32/f64/bf16 tensor as a Float64Array (exact) */
export function floatValues(t: Tensor): Float64Array {
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = elementValue(t, i);
  return out;
}

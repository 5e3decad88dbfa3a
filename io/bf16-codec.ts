// bf16 storage ↔ float values, the one codec: a bf16 value is the upper half of a float32's bits,
// so decoding is a shift into a float32 and storing a value that already IS a bf16 value is the
// reverse (exact: the lower half is zero). Rounding an arbitrary value to bf16 is semantics and
// lives in the reference (reference/bf16.ts fromF32 / fromF64 / bf16Value).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 bits → its exact value (every bf16 value is a float32 value) */
export function bf16BitsToValue(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** bf16 bits → values, in bulk (into `out` when given) */
export function bf16BitsToValues<T extends Float64Array | Float32Array = Float64Array>(bits: ArrayLike<number>, out?: T): T {
  const o = (out ?? new Float64Array(bits.length)) as T;
  if (o instanceof Float32Array) {
    const w = new Uint32Array(o.buffer, o.byteOffset, o.length);
    for (let i = 0; i < bits.length; i++) w[i] = bits[i] << 16;
  } else for (let i = 0; i < bits.length; i++) o[i] = bf16BitsToValue(bits[i]);
  return o;
}

/** values that are bf16 values (already rounded) → their bits; a value that is not one loses its lower float32 half */
export function bf16ValuesToBits(values: ArrayLike<number>, out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    out[i] = u32[0] >>> 16;
  }
  return out;
}

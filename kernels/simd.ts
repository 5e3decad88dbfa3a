// Runs codegen's wasm SIMD lowerings (generated/<kernel>.simd.ts, `@simd` in the kernel
// source) for the webasm backend: one module instance per kernel over one memory of its own
// (grown, never shrunk), the arrays copied in, the cells computed, the output copied out.
// The call takes the same arguments and gives the same layout as the gpu.js kernel it
// replaces (kernels/runtime.ts), so every plan runs unchanged.
//
// Memory: a guard, the arrays one after another (16-byte aligned), the output, a guard. X is
// padded to a multiple of the kernel's lanes and rows to whole cells, so the last cells read
// past their arrays' ends, and both branches of a lane-varying if run for every lane, so a lane
// may read just before an array (x[j − 1] at j = 0): those reads land in a neighbour or a guard,
// their results are discarded, and an index that still reached outside memory would trap, which
// is reported, never wrong bits.

import { OpError } from '../io/errors.ts';
import type { GeneratedKernel, SimdKernel } from './types.ts';
import type { KernelArg } from './runtime.ts';

// the build's libs (ES2022, Node's types) declare no WebAssembly namespace (lib.dom does); Node has it
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
};

const PAGE = 65536;
const align16 = (n: number): number => (n + 15) & ~15;

export class SimdRunner {
  private readonly memory = new WebAssembly.Memory({ initial: 1 });
  private readonly instances = new Map<string, (...a: number[]) => void>();

  private fn(s: SimdKernel): (...a: number[]) => void {
    let f = this.instances.get(s.name);
    if (!f) {
      const module = new WebAssembly.Module(Buffer.from(s.wasm, 'base64'));
      f = new WebAssembly.Instance(module, { env: { mem: this.memory } }).exports.kernel as (...a: number[]) => void;
      this.instances.set(s.name, f);
    }
    return f;
  }

  /**
   * run s with the arguments gpu.js's kernel k would take (k.params order without `one`, plus
   * its @constants) over output [X], [X, Y] or [X, Y, Z]; returns the cells, components interleaved
   */
  run(s: SimdKernel, k: GeneratedKernel, args: KernelArg[], output: number[], constants?: Record<string, number>): Float32Array {
    const named: Record<string, KernelArg> = { ...constants };
    k.params.slice(0, -1).forEach((p, i) => (named[p] = args[i]));
    const X = output[0];
    const Y = output[1] ?? 1;
    const Z = output[2] ?? 1;
    const Xp = Math.ceil(X / s.lanes) * s.lanes;
    const C = s.components;
    // rows past the end read at most rows·(a row stride, one of the int arguments) further, lanes
    // past X at most `lanes`; a lane-varying if runs both branches for every lane, so a lane may
    // read a little before its array too (x[j − 1] at j = 0): guards before and after the arrays
    let widest = 0;
    for (const p of s.params) {
      const v = named[p.name];
      if (p.type === 'int' && typeof v === 'number') widest = Math.max(widest, Math.abs(v));
    }
    const guard = align16(4 * (s.rows * widest + s.lanes) + 64);
    // layout
    let at = guard;
    const place: { off: number; data: Float32Array }[] = [];
    const values = s.params.map((p) => {
      const v = named[p.name];
      if (p.type === 'array') {
        if (!(v instanceof Float32Array)) throw new OpError('BAD_ARGS', `kernel ${s.name}: ${p.name} must be a Float32Array`);
        place.push({ off: at, data: v });
        const off = at;
        at = align16(at + 4 * v.length);
        return off;
      }
      if (typeof v !== 'number') throw new OpError('BAD_ARGS', `kernel ${s.name}: ${p.name} must be a number`);
      return v;
    });
    const out = at;
    const outLen = Z * Y * Xp * C;
    const need = out + 4 * outLen + guard;
    if (need > 2 ** 32 - PAGE) throw new OpError('BAD_ARGS', `kernel ${s.name}: ${need} bytes do not fit a 4 GiB wasm memory; split the call`);
    const have = this.memory.buffer.byteLength;
    if (need > have) this.memory.grow(Math.ceil((need - have) / PAGE));
    const f32 = new Float32Array(this.memory.buffer);
    for (const p of place) f32.set(p.data, p.off / 4);
    try {
      this.fn(s)(...values, out, Xp, Y, 0, Y, Z);
    } catch (e) {
      throw new OpError('INTERNAL', `kernel ${s.name} (wasm SIMD): ${(e as Error).message}`);
    }
    const res = new Float32Array(this.memory.buffer, out, outLen);
    if (Xp === X) return res.slice();
    const r = new Float32Array(Z * Y * X * C);
    for (let y = 0; y < Z * Y; y++) r.set(res.subarray(y * Xp * C, (y * Xp + X) * C), y * X * C);
    return r;
  }
}

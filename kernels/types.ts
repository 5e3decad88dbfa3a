// The shape of a generated kernel module (generated/<kernel>.<backend>.ts).

export type BackendName = 'webasm' | 'cpu' | 'webgl2' | 'headlessgl' | 'webgpu';
export const BACKEND_NAMES: readonly BackendName[] = ['webasm', 'cpu', 'webgl2', 'headlessgl', 'webgpu'];

/** the backends codegen lowers kernels for (generated/<kernel>.<flavor>.ts) */
export type KernelFlavor = Exclude<BackendName, 'webgpu'>;
/**
 * which generated lowering each backend runs: webgpu runs webasm's (IEEE float32 as written;
 * gpu.js translates it to WGSL), every other backend its own
 */
export const KERNEL_FLAVOR: Record<BackendName, KernelFlavor> = { webasm: 'webasm', cpu: 'cpu', webgl2: 'webgl2', headlessgl: 'headlessgl', webgpu: 'webasm' };

export interface GeneratedKernel {
  name: string;
  backend: KernelFlavor;
  /** the reference kernel file it was generated from */
  source: string;
  /** the reference function the kernel must agree with */
  reference: string;
  /** parameter names, in order; the last is always `one` (the runtime passes 1.0) */
  params: string[];
  /** numbers per output cell: 1, or n (2 … 4) for a kernel returning [a, b, …]; cell-major, stride n */
  components: number;
  /**
   * `@rows R`: each cell computes R rows (R·y + c, c = 0 … R − 1) and returns them as its R
   * components; the host pads the row count to a multiple of R and de-interleaves. Absent: 1.
   */
  rows?: number;
  /** `@constants`: integer sizes passed as gpu.js compile-time constants (named like args), not params */
  constants?: string[];
  /** the gpu.js kernel function, plain JavaScript */
  kernel: string;
  /** helper functions the kernel calls (gpu.addFunction) */
  helpers: string[];
  /** GLSL native functions (webgl2 only) */
  native: { name: string; glsl: string }[];
}

/**
 * A kernel's wasm SIMD lowering (`@simd V`, codegen/simd.ts; generated/<kernel>.simd.ts): one
 * function computing the cells (x, y), y0 ≤ y < y1, 0 ≤ x < X, `lanes` consecutive x at a time,
 * with the same float32 operations in the same order as the gpu.js lowerings (same bits). The
 * webasm backend runs it in place of gpu.js's lowering (kernels/simd.ts).
 */
export interface SimdKernel {
  name: string;
  source: string;
  reference: string;
  /** the kernel's parameters in source order; an array is passed as a byte offset into the module's memory */
  params: { name: string; type: 'array' | 'int' | 'float' }[];
  /** numbers per output cell, interleaved (as GeneratedKernel.components) */
  components: number;
  /** `@rows`: rows per cell (as GeneratedKernel.rows) */
  rows: number;
  /** x cells per step: X is padded to a multiple of this */
  lanes: number;
  /** the module, WebAssembly text (flat instructions) */
  wat: string;
  /** the module's binary, base64 */
  wasm: string;
}

/// <reference lib="dom" />
// The explorer's WebGL2 check: the project's generated ropeApply kernel (gpu.js WebGL2,
// generated/ropeApply.webgl2.ts) run in the page on the seeded x with the reference's
// cos/sin. The arguments are laid out by kernels/ops.ts ropeApply itself (f32 arrays, the
// path code, the layout flag); this file only supplies a KernelBackend that runs the kernel
// with gpu.js's browser build (the global GPU, inlined by explorer/html.ts when it is asked
// to) the way kernels/browser.ts does: natives first, helpers, createKernel with
// KERNEL_SETTINGS, called with (...args, 1).
//
// explorer/html.ts bundles this with generated/index.ts replaced by a one-kernel index
// (ropeApply's webgl2 kernel), so the page does not carry every generated kernel.

import { f32ToBits } from '../reference/bf16.ts';
import { ropeApply, type RopeKernelPath } from '../kernels/ops.ts';
import { flattenOutput, KERNEL_SETTINGS, type KernelArg, type KernelBackend } from '../kernels/runtime.ts';
import type { GeneratedKernel } from '../kernels/types.ts';
import type { RopeLayout } from '../reference/rope.ts';

/** why the kernel cannot run in this page, or the renderer it runs on */
export type GlProbe = { ok: true; renderer: string } | { ok: false; reason: string };

interface GlState {
  probe: GlProbe;
  backend?: KernelBackend;
}
let state: GlState | undefined;

declare const GPU: any;

function probe(): { probe: GlProbe; canvas?: HTMLCanvasElement; context?: WebGL2RenderingContext } {
  // gpu.js's build sets the global GPU; Chromium has a GPU of its own (WebGPU's), without createKernel
  if (typeof GPU !== 'function' || typeof GPU.prototype?.createKernel !== 'function') return { probe: { ok: false, reason: 'this page was built without gpu.js (explorerHtml({ webgl2: false }), or gpu.js was not installed)' } };
  let canvas: HTMLCanvasElement;
  let context: WebGL2RenderingContext | null = null;
  try {
    canvas = document.createElement('canvas');
    context = canvas.getContext('webgl2');
  } catch {
    context = null;
  }
  if (!context) return { probe: { ok: false, reason: 'this browser gives the page no WebGL2 context' } };
  const dbg = context.getExtension('WEBGL_debug_renderer_info');
  const renderer = String((dbg ? context.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : context.getParameter(context.RENDERER)) ?? 'unknown renderer');
  return { probe: { ok: true, renderer }, canvas: canvas!, context };
}

function open(): GlState {
  if (state) return state;
  const p = probe();
  if (!p.probe.ok) return (state = { probe: p.probe });
  let gpu: any;
  try {
    gpu = new GPU({ mode: 'webgl2', canvas: p.canvas, context: p.context });
  } catch (e) {
    return (state = { probe: { ok: false, reason: `gpu.js did not open WebGL2 (${e instanceof Error ? e.message.split('\n')[0] : String(e)})` } });
  }
  const kernels = new Map<string, (...a: unknown[]) => unknown>();
  const added = new Set<string>();
  const backend: KernelBackend = {
    name: 'webgl2',
    description: `gpu.js webgl2 in this page (${p.probe.renderer})`,
    flushesSubnormals: true,
    async run(k: GeneratedKernel, args: KernelArg[], output: number[]): Promise<Float32Array> {
      const key = `${k.name}|${output.join('x')}`;
      let fn = kernels.get(key);
      if (!fn) {
        // gpu.js takes native functions only before its first kernel; this page runs one kernel
        for (const n of k.native)
          if (!added.has(n.name)) {
            gpu.addNativeFunction(n.name, n.glsl, { returnType: 'Number', argumentTypes: { x: 'Number' } });
            added.add(n.name);
          }
        for (const h of k.helpers)
          if (!added.has(h)) {
            gpu.addFunction(h);
            added.add(h);
          }
        fn = gpu.createKernel(k.kernel, { ...KERNEL_SETTINGS, output }) as (...a: unknown[]) => unknown;
        kernels.set(key, fn);
      }
      return flattenOutput(fn(...args, 1), output, k.components);
    },
    async close() {
      gpu.destroy();
    },
  };
  return (state = { probe: p.probe, backend });
}

/** whether (and where) the page can run the kernel; probes once */
export function glProbe(): GlProbe {
  return open().probe;
}

export interface GlResult {
  renderer: string;
  /** the kernel's output, float32 */
  y: Float32Array;
  /** elements whose float32 bits equal the reference's */
  same: number;
  /** the largest difference in ulps of the output's format (bf16 for hf / paper, f32 for f32) */
  maxUlp: number;
}

/** ordered integer of a float's bits in its format, so that neighbours differ by 1 */
function ordered(v: number, bf16: boolean): number {
  const b = f32ToBits(v) >>> (bf16 ? 16 : 0);
  const sign = bf16 ? 0x8000 : 0x80000000;
  return b >= sign ? -(b - sign) : b;
}

/** ulps between two values stored in the format (NaN against anything not NaN: Infinity) */
export function ulpDiff(a: number, b: number, bf16: boolean): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  return Math.abs(ordered(a, bf16) - ordered(b, bf16));
}

/**
 * R̃(p)x by the generated kernel on one head, one position (H = T = 1): x, cos and sin as the
 * reference has them, compared with the reference's rx. Throws when the page has no WebGL2.
 */
export async function ropeOnGl(x: ArrayLike<number>, cos: ArrayLike<number>, sin: ArrayLike<number>, rx: ArrayLike<number>, path: RopeKernelPath, layout: RopeLayout): Promise<GlResult> {
  const st = open();
  if (!st.probe.ok || !st.backend) throw new Error(st.probe.ok ? 'no backend' : st.probe.reason);
  const D = x.length;
  const y = await ropeApply(x, 1, 1, D, cos, sin, path, layout, st.backend);
  const bf16 = path !== 'f32';
  let same = 0;
  let maxUlp = 0;
  for (let j = 0; j < D; j++) {
    if (f32ToBits(y[j]) === f32ToBits(rx[j])) same++;
    maxUlp = Math.max(maxUlp, ulpDiff(y[j], rx[j], bf16));
  }
  return { renderer: st.probe.renderer, y, same, maxUlp };
}

// The kernel runtime: opens a gpu.js backend and runs generated kernels on it.
//
//   webasm      gpu.js WebAssembly mode in Node (the default: IEEE float32, SIMD, no install)
//   cpu         gpu.js cpu mode in Node (kernels are fround-wrapped JS)
//   webgl2      gpu.js WebGL2 in headless Chromium (playwright-core + Debian's chromium)
//   headlessgl  gpu.js WebGL1 through the `gl` native module (needs its build and an X display)
//
// Choose with openBackend(name) or the ANCHOR_BACKEND environment variable. Every run is
// async (the browser backend answers over a page bridge); arrays go in and come out as
// flat Float32Arrays, output dims are [x] / [x, y] / [x, y, z] (x fastest).

import { createRequire } from 'node:module';
import { OpError } from '../io/errors.ts';
import { BACKEND_NAMES, type BackendName, type GeneratedKernel } from './types.ts';

export type KernelArg = Float32Array | number;

export interface KernelBackend {
  readonly name: BackendName;
  /** one line naming the device (renderer, mode) */
  readonly description: string;
  /** whether float32 subnormal inputs and results are flushed to zero (GL backends) */
  readonly flushesSubnormals: boolean;
  /** run kernel k over an output grid; args in k.params order, without the trailing `one` */
  run(k: GeneratedKernel, args: KernelArg[], output: number[]): Promise<Float32Array>;
  /**
   * webasm only: whether asynchronous runs split each kernel's cells over gpu.js's worker
   * threads (asyncMode; results are identical). Off unless ANCHOR_THREADS=1; runSync never does.
   */
  threads?: boolean;
  /** the same, synchronously: present where gpu.js runs in this process (webasm, cpu, headlessgl) */
  runSync?(k: GeneratedKernel, args: KernelArg[], output: number[]): Float32Array;
  close(): Promise<void>;
}

/** how to enable a backend that is not available here */
export const INSTALL_HINT: Record<BackendName, string> = {
  webasm: 'needs WebAssembly (Node ≥ 20 has it)',
  cpu: 'always available',
  webgl2: 'install Chromium (`apt-get install -y chromium`, or run .ci/system-deps) and `npm install` (playwright-core); set CHROMIUM_PATH if it is not /usr/bin/chromium',
  headlessgl:
    'build the optional `gl` module: `apt-get install -y pkg-config libx11-dev libxext-dev libxi-dev libgl-dev xvfb xauth libgl1-mesa-dri libglx-mesa0`, set "gl": true under allowScripts in package.json, `npm rebuild gl`, and run under `xvfb-run -a`',
};

export class BackendUnavailable extends OpError {
  constructor(
    readonly backend: string,
    reason: string,
  ) {
    super('BAD_ARGS', `kernel backend "${backend}" is not available: ${reason}. To enable it: ${INSTALL_HINT[backend as BackendName] ?? `choose one of ${BACKEND_NAMES.join(', ')}`}`);
  }
}

export function defaultBackendName(): BackendName {
  const env = process.env.ANCHOR_BACKEND;
  if (!env) return 'webasm';
  if (!(BACKEND_NAMES as readonly string[]).includes(env)) throw new BackendUnavailable(env, `unknown backend (ANCHOR_BACKEND=${env}); choose one of ${BACKEND_NAMES.join(', ')}`);
  return env as BackendName;
}

const require = createRequire(import.meta.url);

/** gpu.js, an optional peer dependency of the package: missing, a message that says how to get it */
function gpujs(backend: string): { GPU: any } {
  try {
    return require('gpu.js');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    throw new BackendUnavailable(backend, 'the kernels need gpu.js 2.24.1, an optional peer dependency: npm install gpu.js@2.24.1');
  }
}

/** flatten gpu.js results (Float32Array, or nested arrays of rows) into one Float32Array */
export function flattenOutput(r: unknown, output: number[], components = 1): Float32Array {
  const n = output.reduce((a, b) => a * b, 1) * components;
  if (r instanceof Float32Array && r.length === n) return r;
  // gpu.js shapes 2D/3D results as rows that are views of one fresh buffer of exactly n floats
  let leaf: unknown = r;
  while (Array.isArray(leaf)) leaf = leaf[0];
  if (leaf instanceof Float32Array && leaf.buffer.byteLength === n * 4 && leaf.byteOffset === 0) return new Float32Array(leaf.buffer);
  const out = new Float32Array(n);
  let o = 0;
  const walk = (v: unknown): void => {
    if (v instanceof Float32Array || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
      out.set(v as Float32Array, o);
      o += (v as Float32Array).length;
    } else if (Array.isArray(v)) for (const x of v) walk(x);
    else out[o++] = v as number;
  };
  walk(r);
  if (o !== n) throw new Error(`kernel output has ${o} values, expected ${n}`);
  return out;
}

export const KERNEL_SETTINGS = { tactic: 'precision', precision: 'single', loopMaxIterations: 1 << 24, dynamicArguments: true } as const;

/** gpu.js in this process (webasm, cpu, headlessgl) */
class NodeBackend implements KernelBackend {
  readonly flushesSubnormals: boolean;
  readonly description: string;
  private kernels = new Map<string, (...a: unknown[]) => unknown>();
  private helpersAdded = new Set<string>();
  private gpu: any;
  threads = false;
  constructor(readonly name: 'webasm' | 'cpu' | 'headlessgl') {
    const { GPU } = gpujs(name);
    if (name === 'headlessgl' && !GPU.isHeadlessGLSupported) throw new BackendUnavailable(name, 'gpu.js reports no headless-gl context (the `gl` module is not built, or there is no X display)');
    if (name === 'webasm' && !GPU.isWebAssemblySupported) throw new BackendUnavailable(name, 'gpu.js reports no WebAssembly support');
    this.gpu = new GPU({ mode: name });
    this.flushesSubnormals = name === 'headlessgl';
    this.threads = name === 'webasm' && process.env.ANCHOR_THREADS === '1';
    this.description = `gpu.js ${name} in Node ${process.version}`;
  }
  async run(k: GeneratedKernel, args: KernelArg[], output: number[]): Promise<Float32Array> {
    // webasm with threads: gpu.js splits a kernel's cells over worker threads (asyncMode)
    if (this.threads && this.name === 'webasm') return flattenOutput(await this.kernel(k, args, output, true)(...args, 1), output, k.components);
    return this.runSync(k, args, output);
  }
  runSync(k: GeneratedKernel, args: KernelArg[], output: number[]): Float32Array {
    return flattenOutput(this.kernel(k, args, output, false)(...args, 1), output, k.components);
  }
  private kernel(k: GeneratedKernel, args: KernelArg[], output: number[], threaded: boolean): (...a: unknown[]) => any {
    if (k.backend !== this.name) throw new Error(`kernel ${k.name} was generated for ${k.backend}, not ${this.name}`);
    if (args.length !== k.params.length - 1) throw new OpError('BAD_ARGS', `kernel ${k.name} takes ${k.params.length - 1} arguments (${k.params.slice(0, -1).join(', ')}), got ${args.length}`);
    const key = `${k.name}|${output.join('x')}|${threaded}`;
    let fn = this.kernels.get(key);
    if (!fn) {
      for (const h of k.helpers) {
        if (this.helpersAdded.has(h)) continue;
        this.gpu.addFunction(h);
        this.helpersAdded.add(h);
      }
      fn = this.gpu.createKernel(k.kernel, { ...KERNEL_SETTINGS, output, ...(threaded ? { asyncMode: true } : {}) });
      // webasm shapes an Array(n) result as one subarray per cell; its flat stride-n data is
      // what the host wants, so that kernel returns it as is
      const inner = (fn as any).kernel;
      if (this.name === 'webasm' && k.components > 1 && inner && typeof inner._shapeOutput === 'function') inner._shapeOutput = (data: Float32Array) => data;
      this.kernels.set(key, fn!);
    }
    return fn!;
  }
  async close(): Promise<void> {
    this.gpu.destroy();
    this.kernels.clear();
  }
}

const open = new Map<BackendName, Promise<KernelBackend>>();

/** open (once per process) the named backend, or the ANCHOR_BACKEND / default one */
export function openBackend(name: string = defaultBackendName()): Promise<KernelBackend> {
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) return Promise.reject(new BackendUnavailable(name, 'unknown backend'));
  const b = name as BackendName;
  let p = open.get(b);
  if (!p) {
    p = (async (): Promise<KernelBackend> => {
      if (b === 'webgl2') {
        const { BrowserBackend } = await import('./browser.ts');
        return BrowserBackend.launch();
      }
      return syncOpen.get(b) ?? new NodeBackend(b);
    })();
    open.set(b, p);
    p.catch(() => open.delete(b));
  }
  return p;
}

/**
 * open a backend that runs synchronously (webasm, cpu, headlessgl; not webgl2, which answers
 * over the browser bridge), once per process
 */
export function openBackendSync(name: string = defaultBackendName()): KernelBackend & { runSync: NonNullable<KernelBackend['runSync']> } {
  if (name === 'webgl2') throw new BackendUnavailable(name, 'webgl2 runs in the browser and is asynchronous only (use openBackend)');
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) throw new BackendUnavailable(name, 'unknown backend');
  let b = syncOpen.get(name);
  if (!b) {
    b = new NodeBackend(name as 'webasm' | 'cpu' | 'headlessgl');
    syncOpen.set(name, b);
    open.set(name as BackendName, Promise.resolve(b));
  }
  return b;
}
const syncOpen = new Map<string, NodeBackend>();

/** close every backend this process opened (browsers, GL contexts) */
export async function closeBackends(): Promise<void> {
  const all = [...open.values()];
  open.clear();
  syncOpen.clear();
  for (const p of all) await (await p.catch(() => undefined))?.close();
}

/** which backends can be opened here, with the reason for each one that cannot */
export async function probeBackends(names: readonly BackendName[] = BACKEND_NAMES): Promise<{ name: BackendName; ok: boolean; reason: string }[]> {
  const out: { name: BackendName; ok: boolean; reason: string }[] = [];
  for (const name of names) {
    try {
      const b = await openBackend(name);
      out.push({ name, ok: true, reason: b.description });
    } catch (e) {
      out.push({ name, ok: false, reason: (e as Error).message });
    }
  }
  return out;
}

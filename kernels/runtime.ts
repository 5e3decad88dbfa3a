// The kernel runtime: opens a gpu.js backend and runs generated kernels on it.
//
//   webasm      gpu.js WebAssembly mode in Node (the default: IEEE float32, SIMD, no install)
//   cpu         gpu.js cpu mode in Node (kernels are fround-wrapped JS)
//   webgl2      gpu.js WebGL2 in headless Chromium (playwright-core + Debian's chromium)
//   headlessgl  gpu.js WebGL1 through the `gl` native module (needs its build and an X display)
//   webgpu      gpu.js WebGPU mode in Node through Dawn's bindings (the `dawn-webgpu` alias of
//               the `webgpu` package) on a Vulkan driver; runs webasm's generated kernels as WGSL
//
// On webasm, a kernel that codegen also lowered to wasm SIMD (`@simd`: generated/<kernel>.simd.ts)
// runs that lowering (kernels/simd.ts): the same float32 operations in the same order, so the
// same bits, at several times gpu.js's speed; gpu.js's lowering of it still runs on webgpu.
//
// Choose with openBackend(name) or the ANCHOR_BACKEND environment variable; `auto` picks
// webgpu when Dawn finds a hardware adapter and webasm otherwise. Every run is
// async (the browser backend answers over a page bridge); arrays go in and come out as
// flat Float32Arrays, output dims are [x] / [x, y] / [x, y, z] (x fastest).

import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { OpError } from '../io/errors.ts';
import { BACKEND_NAMES, KERNEL_FLAVOR, type BackendName, type GeneratedKernel, type SimdKernel } from './types.ts';
import { SimdRunner } from './simd.ts';
import { SIMD } from '../generated/index.ts';

export type KernelArg = Float32Array | number;
/** a kernel's arguments by parameter name (its generated `params`, without the trailing `one`) */
export type NamedArgs = Readonly<Record<string, KernelArg>>;

/** named arguments in k.params order (without `one`); throws naming a missing or an unknown name */
export function orderArgs(k: GeneratedKernel, named: NamedArgs): KernelArg[] {
  const params = k.params.slice(0, -1);
  const consts = k.constants ?? [];
  const all = [...params, ...consts];
  const missing = all.filter((p) => !Object.hasOwn(named, p));
  const extra = Object.keys(named).filter((n) => !all.includes(n));
  if (missing.length || extra.length)
    throw new OpError('BAD_ARGS', `kernel ${k.name} takes (${params.join(', ')}${consts.length ? `; constants ${consts.join(', ')}` : ''})${missing.length ? `; missing: ${missing.join(', ')}` : ''}${extra.length ? `; unknown: ${extra.join(', ')}` : ''}`);
  return params.map((p) => named[p]);
}

/** a kernel's `@constants` values from its named arguments (integers), or undefined when it has none */
export function constantArgs(k: GeneratedKernel, named: NamedArgs): Record<string, number> | undefined {
  if (!k.constants?.length) return undefined;
  const out: Record<string, number> = {};
  for (const c of k.constants) {
    const v = named[c];
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new OpError('BAD_ARGS', `kernel ${k.name}: constant ${c} must be an integer, got ${typeof v === 'number' ? v : 'an array'}`);
    out[c] = v;
  }
  return out;
}
/** the kernel-cache key part of constant values */
const constantsKey = (c: Record<string, number> | undefined): string => (c ? Object.entries(c).map(([k, v]) => `${k}=${v}`).join(',') : '');

export interface KernelBackend {
  readonly name: BackendName;
  /** one line naming the device (renderer, mode) */
  readonly description: string;
  /** whether float32 subnormal inputs and results are flushed to zero (GL backends) */
  readonly flushesSubnormals: boolean;
  /**
   * run kernel k over an output grid; args in k.params order, without the trailing `one`;
   * constants: k.constants' values (constantArgs), compiled in: one compiled kernel is cached
   * per (kernel, output, constants)
   */
  run(k: GeneratedKernel, args: KernelArg[], output: number[], constants?: Record<string, number>): Promise<Float32Array>;
  /**
   * webasm only: whether asynchronous runs split each kernel's cells over gpu.js's worker
   * threads (asyncMode; results are identical). Off unless ANCHOR_THREADS=1; runSync never does.
   */
  threads?: boolean;
  /** the same, synchronously: present where gpu.js runs in this process (webasm, cpu, headlessgl; not webgpu, whose readback is async) */
  runSync?(k: GeneratedKernel, args: KernelArg[], output: number[], constants?: Record<string, number>): Float32Array;
  close(): Promise<void>;
}

/** how to enable a backend that is not available here */
export const INSTALL_HINT: Record<BackendName, string> = {
  webasm: 'needs WebAssembly (Node ≥ 20 has it)',
  cpu: 'always available',
  webgl2: 'install Chromium (`apt-get install -y chromium`, or run .ci/system-deps) and `npm install` (playwright-core); set CHROMIUM_PATH if it is not /usr/bin/chromium',
  headlessgl:
    'build the optional `gl` module: `apt-get install -y pkg-config libx11-dev libxext-dev libxi-dev libgl-dev xvfb xauth libgl1-mesa-dri libglx-mesa0`, set "gl": true under allowScripts in package.json, `npm rebuild gl`, and run under `xvfb-run -a`',
  webgpu:
    '`npm install dawn-webgpu@npm:webgpu@0.6.2` (Dawn\'s Node bindings), the Vulkan loader and a Vulkan driver: `apt-get install -y libvulkan1` plus a GPU\'s driver, or mesa-vulkan-drivers from bookworm-backports (lavapipe), or Chromium (its SwiftShader, /usr/lib/chromium/vk_swiftshader_icd.json, is used when VK_ICD_FILENAMES is unset); .ci/system-deps installs them',
};

export class BackendUnavailable extends OpError {
  constructor(
    readonly backend: string,
    reason: string,
  ) {
    super('BAD_ARGS', `kernel backend "${backend}" is not available: ${reason}. To enable it: ${INSTALL_HINT[backend as BackendName] ?? `choose one of ${BACKEND_NAMES.join(', ')}`}`);
  }
}

/** a backend name, or `auto`: webgpu on a hardware adapter, webasm otherwise */
export type BackendChoiceName = BackendName | 'auto';

export function defaultBackendName(): BackendChoiceName {
  const env = process.env.ANCHOR_BACKEND;
  if (!env) return 'webasm';
  if (env !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(env)) throw new BackendUnavailable(env, `unknown backend (ANCHOR_BACKEND=${env}); choose one of ${BACKEND_NAMES.join(', ')}, auto`);
  return env as BackendChoiceName;
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

/**
 * The kernels compiled on one gpu.js instance: cached per (kernel, output, settings, constants)
 * — gpu.js compiles per distinct constant values — with each helper added once. Checks the
 * call against the generated signature first.
 */
class CompiledKernels {
  private kernels = new Map<string, (...a: any[]) => any>();
  private helpersAdded = new Set<string>();
  /** kernels compiled so far (gpu.js createKernel calls): tests check that repeated calls reuse them */
  readonly compiles = { count: 0 };
  constructor(private readonly gpu: any) {}
  /** the call against the generated signature */
  check(k: GeneratedKernel, args: KernelArg[], constants: Record<string, number> | undefined): void {
    if (args.length !== k.params.length - 1) throw new OpError('BAD_ARGS', `kernel ${k.name} takes ${k.params.length - 1} arguments (${k.params.slice(0, -1).join(', ')}), got ${args.length}`);
    if (!!k.constants?.length !== !!constants) throw new OpError('BAD_ARGS', `kernel ${k.name} takes constants (${(k.constants ?? []).join(', ') || 'none'}); pass constantArgs(k, named)`);
  }
  get(k: GeneratedKernel, args: KernelArg[], output: number[], constants: Record<string, number> | undefined, settings: Record<string, unknown> = {}, onCompile?: (fn: any) => void): (...a: unknown[]) => any {
    this.check(k, args, constants);
    const key = `${k.name}|${output.join('x')}|${JSON.stringify(settings)}|${constantsKey(constants)}`;
    let fn = this.kernels.get(key);
    if (!fn) {
      for (const h of k.helpers) {
        if (this.helpersAdded.has(h)) continue;
        this.gpu.addFunction(h);
        this.helpersAdded.add(h);
      }
      this.compiles.count++;
      fn = this.gpu.createKernel(k.kernel, { ...KERNEL_SETTINGS, output, ...(constants ? { constants } : {}), ...settings });
      onCompile?.(fn);
      this.kernels.set(key, fn!);
    }
    return fn!;
  }
  clear(): void {
    this.kernels.clear();
  }
}

/** gpu.js in this process (webasm, cpu, headlessgl) */
class NodeBackend implements KernelBackend {
  readonly flushesSubnormals: boolean;
  readonly description: string;
  private gpu: any;
  private compiled: CompiledKernels;
  /** webasm: runs the kernels that have a wasm SIMD lowering; null elsewhere, or when opened with simd: false */
  private simd: SimdRunner | null;
  threads = false;
  /** simd: false keeps gpu.js's webasm lowering for every kernel (tests and benches compare the two) */
  constructor(
    readonly name: 'webasm' | 'cpu' | 'headlessgl',
    opts: { simd?: boolean } = {},
  ) {
    const { GPU } = gpujs(name);
    if (name === 'headlessgl' && !GPU.isHeadlessGLSupported) throw new BackendUnavailable(name, 'gpu.js reports no headless-gl context (the `gl` module is not built, or there is no X display)');
    if (name === 'webasm' && !GPU.isWebAssemblySupported) throw new BackendUnavailable(name, 'gpu.js reports no WebAssembly support');
    this.gpu = new GPU({ mode: name });
    this.compiled = new CompiledKernels(this.gpu);
    this.flushesSubnormals = name === 'headlessgl';
    this.threads = name === 'webasm' && process.env.ANCHOR_THREADS === '1';
    this.simd = name === 'webasm' && opts.simd !== false ? new SimdRunner() : null;
    this.description = `gpu.js ${name}${this.simd ? ' (wasm SIMD where a kernel has it)' : ''} in Node ${process.version}`;
  }
  /** kernels compiled so far (gpu.js createKernel calls): tests check that repeated calls reuse them */
  get compiles(): { count: number } {
    return this.compiled.compiles;
  }
  async run(k: GeneratedKernel, args: KernelArg[], output: number[], constants?: Record<string, number>): Promise<Float32Array> {
    // webasm with threads: gpu.js splits a kernel's cells over worker threads (asyncMode)
    if (this.threads && this.name === 'webasm' && !this.simdOf(k)) return flattenOutput(await this.kernel(k, args, output, true, constants)(...args, 1), output, k.components);
    return this.runSync(k, args, output, constants);
  }
  /** the wasm SIMD lowering this backend runs for k, if it has one */
  private simdOf(k: GeneratedKernel): SimdKernel | undefined {
    return this.simd ? SIMD[k.name as keyof typeof SIMD] : undefined;
  }
  private checkFlavor(k: GeneratedKernel): void {
    if (k.backend !== KERNEL_FLAVOR[this.name]) throw new Error(`kernel ${k.name} was generated for ${k.backend}, not ${this.name}`);
  }
  runSync(k: GeneratedKernel, args: KernelArg[], output: number[], constants?: Record<string, number>): Float32Array {
    const s = this.simdOf(k);
    if (s) {
      this.checkFlavor(k);
      this.compiled.check(k, args, constants);
      return this.simd!.run(s, k, args, output, constants);
    }
    return flattenOutput(this.kernel(k, args, output, false, constants)(...args, 1), output, k.components);
  }
  private kernel(k: GeneratedKernel, args: KernelArg[], output: number[], threaded: boolean, constants: Record<string, number> | undefined): (...a: unknown[]) => any {
    this.checkFlavor(k);
    // webasm shapes an Array(n) result as one subarray per cell; its flat stride-n data is
    // what the host wants, so that kernel returns it as is
    const flat = (fn: any) => {
      const inner = fn.kernel;
      if (this.name === 'webasm' && k.components > 1 && inner && typeof inner._shapeOutput === 'function') inner._shapeOutput = (data: Float32Array) => data;
    };
    return this.compiled.get(k, args, output, constants, threaded ? { asyncMode: true } : {}, flat);
  }
  async close(): Promise<void> {
    this.gpu.destroy();
    this.compiled.clear();
  }
}


// ---------------------------------------------------------------- webgpu

/** Chromium's SwiftShader Vulkan driver (Debian's chromium-common ships it) */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

interface DawnAdapter {
  readonly info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean; type?: string; adapterType?: string };
  readonly isFallbackAdapter?: boolean;
  readonly limits: Record<string, number>;
  requestDevice(desc?: { requiredLimits?: Record<string, number> }): Promise<unknown>;
}
interface DawnGpu {
  requestAdapter(opts?: { powerPreference?: string; forceFallbackAdapter?: boolean }): Promise<DawnAdapter | null>;
}

export interface WebGPUAdapterInfo {
  /** one line: vendor, architecture, device, description */
  name: string;
  /** a software rasterizer (SwiftShader, lavapipe, llvmpipe): Dawn's fallback flag, or a CPU device type */
  software: boolean;
}

const SOFTWARE_NAMES = /swiftshader|lavapipe|llvmpipe|softpipe/i;
function describeAdapter(a: DawnAdapter): WebGPUAdapterInfo {
  const i = a.info ?? {};
  const name = [i.vendor, i.architecture, i.device, i.description].filter((x) => x).join(' / ') || 'unknown adapter';
  const type = String(i.type ?? i.adapterType ?? '').toLowerCase();
  const software = Boolean(a.isFallbackAdapter || i.isFallbackAdapter) || type.includes('cpu') || SOFTWARE_NAMES.test(name);
  return { name, software };
}

/** whether the Vulkan loader has driver manifests registered in the standard places */
function systemIcds(): boolean {
  const dirs = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/local/etc/vulkan/icd.d'];
  for (const d of [...(process.env.XDG_DATA_DIRS ?? '').split(':').filter(Boolean).map((x) => `${x}/vulkan/icd.d`), ...dirs]) {
    try {
      if (readdirSync(d).some((n) => n.endsWith('.json'))) return true;
    } catch {}
  }
  return false;
}

let dawnGpu: Promise<DawnGpu> | undefined;
/**
 * navigator.gpu from Dawn's Node bindings, installed once per process where gpu.js looks for
 * it, with requestAdapter handing out adapters whose requestDevice also asks for the adapter's
 * storage-buffer count (attention kernels bind 9–10 storage buffers; the default limit is 8)
 */
function dawn(): Promise<DawnGpu> {
  dawnGpu ??= (async (): Promise<DawnGpu> => {
    let mod: { create(flags: string[]): DawnGpu; globals: Record<string, unknown> };
    try {
      mod = await import('dawn-webgpu' as string);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new BackendUnavailable('webgpu', "Dawn's Node bindings (the dawn-webgpu package) are not installed");
      throw new BackendUnavailable('webgpu', `Dawn's Node bindings (dawn-webgpu) did not load: ${(e as Error).message.split('\n')[0]}`);
    }
    for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as any)[k] = v;
    // Linux: Vulkan only (Dawn's GL backend would only probe EGL and log about it)
    const flags = process.platform === 'linux' ? ['backend=vulkan'] : [];
    let gpu = mod.create(flags);
    // The Vulkan driver: the caller's (VK_ICD_FILENAMES / VK_DRIVER_FILES), else the system's
    // registered ones, else, where those give no adapter (none registered, or Debian 12's Mesa 22
    // lavapipe, which Dawn rejects), Chromium's SwiftShader. The loader reads these variables
    // when Dawn creates its Vulkan instance, so a fresh instance sees the change.
    if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD) && (!systemIcds() || !(await gpu.requestAdapter().catch(() => null)))) {
      process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
      // Mesa's implicit device-select layer only logs (about XDG_RUNTIME_DIR) with one driver
      process.env.NODEVICE_SELECT ??= '1';
      gpu = mod.create(flags);
    }
    const requestAdapter = gpu.requestAdapter.bind(gpu);
    const patched: DawnGpu = {
      async requestAdapter(opts) {
        const a = await requestAdapter(opts ?? { powerPreference: 'high-performance' });
        if (!a) return a;
        const requestDevice = a.requestDevice.bind(a);
        const extra = { maxStorageBuffersPerShaderStage: a.limits.maxStorageBuffersPerShaderStage };
        Object.defineProperty(a, 'requestDevice', {
          configurable: true,
          value: (desc: { requiredLimits?: Record<string, number> } = {}) => requestDevice({ ...desc, requiredLimits: { ...extra, ...desc.requiredLimits } }),
        });
        return a;
      },
    };
    const nav = (globalThis as any).navigator;
    if (nav && typeof nav === 'object') Object.defineProperty(nav, 'gpu', { configurable: true, value: patched });
    else Object.defineProperty(globalThis, 'navigator', { configurable: true, writable: true, value: { gpu: patched } });
    return patched;
  })();
  dawnGpu.catch(() => (dawnGpu = undefined));
  return dawnGpu;
}

/** the adapter Dawn would hand gpu.js here, or null (no bindings, no Vulkan loader/driver) */
export async function webgpuAdapterInfo(): Promise<WebGPUAdapterInfo | null> {
  try {
    const a = await (await dawn()).requestAdapter();
    return a ? describeAdapter(a) : null;
  } catch {
    return null;
  }
}

/** gpu.js webgpu mode in this process; every run is async (readback maps a buffer) */
class WebGPUBackend implements KernelBackend {
  readonly name = 'webgpu' as const;
  /** WGSL on Vulkan: f32 subnormals may flush (SPIR-V leaves denorms to the driver); measured at open */
  readonly flushesSubnormals: boolean;
  private compiled: CompiledKernels;
  private constructor(
    readonly description: string,
    readonly adapter: WebGPUAdapterInfo,
    private gpu: any,
    flushes: boolean,
  ) {
    this.flushesSubnormals = flushes;
    this.compiled = new CompiledKernels(gpu);
  }

  static async open(): Promise<WebGPUBackend> {
    const { GPU } = gpujs('webgpu');
    const nav = await dawn();
    const a = await nav.requestAdapter().catch(() => null);
    if (!a)
      throw new BackendUnavailable(
        'webgpu',
        `Dawn found no WebGPU adapter (no Vulkan loader libvulkan.so.1 or no Vulkan driver${process.env.VK_ICD_FILENAMES ? `; VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES}` : ''})`,
      );
    const adapter = describeAdapter(a);
    if ((a.limits.maxStorageBuffersPerShaderStage ?? 0) < 10) throw new BackendUnavailable('webgpu', `the adapter (${adapter.name}) allows ${a.limits.maxStorageBuffersPerShaderStage} storage buffers per shader stage; the attention kernels bind 10`);
    const gpu = new GPU({ mode: 'webgpu' });
    let flushes = false;
    try {
      // one tiny kernel: proves the device works and measures subnormal handling
      const probe = gpu.createKernel('function kernel(x, one) { return x[this.thread.x] * one; }', { ...KERNEL_SETTINGS, output: [2] });
      const r = flattenOutput(await probe(Float32Array.of(2 ** -130, 1), 1), [2]);
      flushes = r[0] === 0;
      probe.destroy?.();
    } catch (e) {
      gpu.destroy?.();
      throw new BackendUnavailable('webgpu', `gpu.js could not run a kernel on ${adapter.name} (${(e as Error).message.split('\n')[0]})`);
    }
    return new WebGPUBackend(`gpu.js webgpu on Dawn (${adapter.name}${adapter.software ? ', software' : ''})`, adapter, gpu, flushes);
  }

  async run(k: GeneratedKernel, args: KernelArg[], output: number[], constants?: Record<string, number>): Promise<Float32Array> {
    if (k.backend !== KERNEL_FLAVOR.webgpu) throw new Error(`kernel ${k.name} was generated for ${k.backend}, not webgpu (which runs the ${KERNEL_FLAVOR.webgpu} lowering)`);
    return flattenOutput(await this.compiled.get(k, args, output, constants)(...args, 1), output, k.components);
  }

  async close(): Promise<void> {
    this.gpu.destroy();
    this.compiled.clear();
  }
}

const open = new Map<BackendName, Promise<KernelBackend>>();

/** `auto`: webgpu when Dawn's adapter is a hardware one, webasm otherwise (software WebGPU is slower than webasm) */
export async function resolveAuto(): Promise<BackendName> {
  const info = await webgpuAdapterInfo();
  return info && !info.software ? 'webgpu' : 'webasm';
}

/** open (once per process) the named backend, or the ANCHOR_BACKEND / default one; `auto` as resolveAuto */
export function openBackend(name: string = defaultBackendName()): Promise<KernelBackend> {
  if (name === 'auto') return resolveAuto().then((b) => openBackend(b));
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) return Promise.reject(new BackendUnavailable(name, 'unknown backend'));
  const b = name as BackendName;
  let p = open.get(b);
  if (!p) {
    p = (async (): Promise<KernelBackend> => {
      if (b === 'webgl2') {
        const { BrowserBackend } = await import('./browser.ts');
        return BrowserBackend.launch();
      }
      if (b === 'webgpu') return WebGPUBackend.open();
      return syncOpen.get(b) ?? new NodeBackend(b);
    })();
    open.set(b, p);
    p.catch(() => open.delete(b));
  }
  return p;
}

/**
 * open a backend that runs synchronously (webasm, cpu, headlessgl; not webgl2, which answers
 * over the browser bridge, nor webgpu, whose readback is async), once per process
 */
export function openBackendSync(name: string = defaultBackendName()): KernelBackend & { runSync: NonNullable<KernelBackend['runSync']> } {
  // auto: webgpu is asynchronous only, so a synchronous caller gets webasm
  if (name === 'auto') name = 'webasm';
  if (name === 'webgl2') throw new BackendUnavailable(name, 'webgl2 runs in the browser and is asynchronous only (use openBackend)');
  if (name === 'webgpu') throw new BackendUnavailable(name, 'webgpu reads results back asynchronously (use openBackend)');
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

/**
 * webasm with gpu.js's lowering for every kernel, the @simd ones included (a new instance, not
 * the process's webasm): tests and benches hold the wasm SIMD lowerings to it
 */
export function openGpujsWebasm(): KernelBackend & { runSync: NonNullable<KernelBackend['runSync']> } {
  return new NodeBackend('webasm', { simd: false });
}

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

// The webgl2 backend: gpu.js's WebGL2 mode in headless Chromium, driven by playwright-core.
// A tiny 127.0.0.1 server serves gpu.js's browser build and a page that compiles and runs
// generated kernels; arrays cross the bridge as base64 float32 bytes.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BackendUnavailable, KERNEL_SETTINGS, type KernelArg, type KernelBackend } from './runtime.ts';
import type { GeneratedKernel } from './types.ts';

const require = createRequire(import.meta.url);
const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-gpu'];

// Runs in the page: compile once per (kernel, output), run, return base64 float32 bytes.
const PAGE_SCRIPT = `
const gpu = new GPU({ mode: 'webgl2' });
const kernels = new Map();
const added = new Set();
const fromB64 = (s) => { const b = atob(s); const u = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i); return new Float32Array(u.buffer); };
const toB64 = (f) => { const u = new Uint8Array(f.buffer, f.byteOffset, f.byteLength); let s = ''; for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000)); return btoa(s); };
const flatten = (r, n) => { if (r instanceof Float32Array && r.length === n) return r; const out = new Float32Array(n); let o = 0; const walk = (v) => { if (ArrayBuffer.isView(v)) { out.set(v, o); o += v.length; } else if (Array.isArray(v)) v.forEach(walk); else out[o++] = v; }; walk(r); return out; };
window.describe = () => { const c = document.createElement('canvas').getContext('webgl2'); const d = c && c.getExtension('WEBGL_debug_renderer_info'); return c ? (d ? c.getParameter(d.UNMASKED_RENDERER_WEBGL) : c.getParameter(c.RENDERER)) : 'no webgl2'; };
// gpu.js accepts native functions only before the first kernel: all are added at start
window.addNatives = (natives) => { for (const n of natives) if (!added.has(n.name)) { gpu.addNativeFunction(n.name, n.glsl, { returnType: 'Number', argumentTypes: { x: 'Number' } }); added.add(n.name); } };
window.runKernel = (k, args, output, settings) => {
  for (const h of k.helpers) if (!added.has(h)) { gpu.addFunction(h); added.add(h); }
  const key = k.name + '|' + output.join('x');
  let fn = kernels.get(key);
  if (!fn) { fn = gpu.createKernel(k.kernel, Object.assign({}, settings, { output })); kernels.set(key, fn); }
  const vals = args.map((a) => (typeof a === 'string' ? fromB64(a) : a));
  return toB64(flatten(fn(...vals, 1), output.reduce((a, b) => a * b, 1) * (k.components || 1)));
};
`;

export class BrowserBackend implements KernelBackend {
  readonly name = 'webgl2' as const;
  readonly flushesSubnormals = true;
  private constructor(
    readonly description: string,
    private context: any,
    private page: any,
    private server: Server,
    private profileDir: string,
  ) {}

  static async launch(): Promise<BrowserBackend> {
    let chromium: any;
    try {
      ({ chromium } = await import('playwright-core'));
    } catch {
      throw new BackendUnavailable('webgl2', 'the playwright-core package is not installed');
    }
    const executablePath = process.env.CHROMIUM_PATH ?? CHROMIUM_CANDIDATES.find((p) => existsSync(p));
    if (!executablePath || !existsSync(executablePath)) throw new BackendUnavailable('webgl2', 'no Chromium executable found');
    const gpuJs = readFileSync(join(dirname(require.resolve('gpu.js/package.json')), 'dist', 'gpu-browser.min.js'));
    const html = `<!doctype html><meta charset="utf-8"><script src="/gpu.js"></script><script>${PAGE_SCRIPT}</script>`;
    const server = createServer((req, res) => {
      if (req.url === '/gpu.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(gpuJs);
      else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    const profileDir = mkdtempSync(join(tmpdir(), 'anchor-chromium-'));
    let context: any;
    try {
      context = await chromium.launchPersistentContext(profileDir, { executablePath, headless: true, args: ARGS });
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://127.0.0.1:${port}/`);
      const renderer: string = await page.evaluate('window.describe()');
      if (renderer === 'no webgl2') throw new Error('the page has no WebGL2 context');
      const { GENERATED } = await import('../generated/index.ts');
      const natives = new Map<string, { name: string; glsl: string }>();
      for (const byBackend of Object.values(GENERATED)) for (const n of byBackend.webgl2.native) natives.set(n.name, n);
      await page.evaluate((n: unknown) => (globalThis as any).addNatives(n), [...natives.values()]);
      return new BrowserBackend(`gpu.js webgl2 in Chromium (${renderer})`, context, page, server, profileDir);
    } catch (e) {
      await context?.close().catch(() => {});
      server.close();
      rmSync(profileDir, { recursive: true, force: true });
      throw new BackendUnavailable('webgl2', `Chromium did not start a WebGL2 page (${(e as Error).message.split('\n')[0]})`);
    }
  }

  async run(k: GeneratedKernel, args: KernelArg[], output: number[]): Promise<Float32Array> {
    if (k.backend !== 'webgl2') throw new Error(`kernel ${k.name} was generated for ${k.backend}, not webgl2`);
    const wire = args.map((a) => (typeof a === 'number' ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')));
    const b64: string = await this.page.evaluate(([kk, aa, oo, ss]: unknown[]) => (globalThis as any).runKernel(kk, aa, oo, ss), [k, wire, output, KERNEL_SETTINGS]);
    const bytes = Buffer.from(b64, 'base64');
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
    this.server.close();
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

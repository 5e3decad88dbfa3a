// The report's interactive explorer: an HTML fragment (<section id="anchor-explorer"> with
// its style, its forms and one inlined <script>) for report/index.html, which is opened from
// file:// with no server. The script is explorer/page.ts bundled by esbuild into one IIFE;
// every number the page shows is computed in the page by the reference code
// (reference/rope.ts, bf16.ts, rng.ts, masks.ts) that the bundle carries.
//
// esbuild is a devDependency and is imported only when the fragment is built: without it
// explorerHtml throws ExplorerUnavailable (an OpError, so the CLI prints one line).

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpError } from '../io/errors.ts';
import { ROPE_LAYOUTS, ROPE_PATHS } from '../reference/rope.ts';
import { VARIANTS } from '../reference/masks.ts';

export const ESBUILD_MISSING = "the report's explorer needs esbuild: npm install";

/** the explorer cannot be built here (no esbuild, or no page source); the message is one line */
export class ExplorerUnavailable extends OpError {
  constructor(message: string) {
    super('INTERNAL', message);
  }
}

type Esbuild = typeof import('esbuild');
type Plugin = import('esbuild').Plugin;

/**
 * What the browser bundle swaps out: kernels/runtime.ts's `node:module` (it needs require only
 * to open gpu.js in Node, which the page never does) becomes a stub, and generated/index.ts
 * (every kernel for every backend) becomes an index of the one kernel the page runs,
 * generated/ropeApply.webgl2.ts (and no wasm SIMD lowerings: those are webasm's, in Node), so
 * kernels/ops.ts ropeApply is bundled as it is; the
 * Chromium backend (kernels/browser.ts, which runtime.ts imports lazily) becomes a stub.
 */
const BROWSER_SWAPS: Plugin = {
  name: 'anchor-explorer-swaps',
  setup(build) {
    // node:* (kernels/runtime.ts opens gpu.js and finds devices in Node): every export a function
    // that throws if called, except createRequire, which runtime.ts calls at load
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'ax-node-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'ax-node-stub' }, async (args) => {
      const names = Object.keys(await import(args.path)).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
      const lines = ["const fail = () => { throw new Error('not available in the page'); };"];
      for (const n of names) lines.push(`export const ${n} = ${n === 'createRequire' ? '() => fail' : 'fail'};`);
      return { contents: lines.join('\n'), loader: 'js' };
    });
    // packages runtime.ts imports lazily for other backends stay lazy imports the page never makes
    build.onResolve({ filter: /^[^./]/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined));
    // runtime.ts imports the Chromium backend lazily; the page never opens a backend by name
    build.onLoad({ filter: /[\\/]kernels[\\/]browser\.ts$/ }, () => ({
      contents: "export class BrowserBackend { static launch() { throw new Error('the page runs its kernel itself'); } }",
      loader: 'js',
    }));
    build.onLoad({ filter: /[\\/]generated[\\/]index\.ts$/ }, (args) => ({
      contents: "import { ropeApply_webgl2 } from './ropeApply.webgl2.ts';\nexport const GENERATED = { ropeApply: { webgl2: ropeApply_webgl2 } };\nexport const SIMD = {};\n",
      loader: 'ts',
      resolveDir: dirname(args.path),
    }));
  },
};

let cached: Promise<string> | undefined;

/** explorer/page.ts (and what it imports) as one minified browser IIFE, safe to inline in <script> */
export function explorerBundle(): Promise<string> {
  cached ??= bundle().catch((e) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

async function bundle(): Promise<string> {
  let esbuild: Esbuild;
  try {
    esbuild = (await import('esbuild')) as Esbuild;
  } catch {
    throw new ExplorerUnavailable(ESBUILD_MISSING);
  }
  const entry = ['page.ts', 'page.js'].map((f) => fileURLToPath(new URL(f, import.meta.url))).find((p) => existsSync(p));
  if (!entry) throw new ExplorerUnavailable("the report's explorer needs its source, explorer/page.ts (run the report from a checkout)");
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      write: false,
      minify: true,
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
      plugins: [BROWSER_SWAPS],
    });
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const first = errors?.[0];
    const where = first?.location ? ` (${first.location.file}:${first.location.line})` : '';
    throw new ExplorerUnavailable(`the report's explorer did not bundle: ${first ? first.text + where : (e as Error).message.split('\n')[0]}`);
  }
  const js = result.outputFiles[0].text;
  // an inline script ends at the first "</script"; esbuild escapes it already, this makes sure
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

const opts = (values: readonly string[], selected: string, labels: Record<string, string> = {}): string =>
  values.map((v) => `<option value="${v}"${v === selected ? ' selected' : ''}>${labels[v] ?? v}</option>`).join('');

const STYLE = `
#anchor-explorer .ax-panel{border:1px solid #ddd;border-radius:4px;padding:.6em 1em;margin:1em 0}
#anchor-explorer h3{margin:.2em 0 .5em}
#anchor-explorer form{display:flex;flex-wrap:wrap;gap:.4em 1em;font-size:13px;margin:.4em 0}
#anchor-explorer label{display:flex;flex-direction:column;gap:2px;color:#555}
#anchor-explorer input,#anchor-explorer select{font:13px monospace;padding:2px 4px}
#anchor-explorer input{width:7.5em}
#anchor-explorer .ax-msg{color:#a00;background:#fff3f3;border:1px solid #e6b8b8;padding:.3em .6em;margin:.4em 0;font-size:13px}
#anchor-explorer .ax-scroll{max-height:360px;overflow:auto;border:1px solid #eee}
#anchor-explorer .ax-scroll table{margin:0;font-size:12px}
#anchor-explorer .ax-scroll thead th{position:sticky;top:0}
#anchor-explorer td code{font-size:11px}
#anchor-explorer .ax-chart text{font:11px sans-serif;fill:#444}
#anchor-explorer .ax-fig{margin:.5em 0}
#anchor-explorer .ax-row{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
#anchor-explorer .ax-small{max-width:360px;max-height:560px}
#anchor-explorer .ax-blocks td,#anchor-explorer .ax-blocks th{padding:1px 4px;text-align:center;font:11px monospace}
#anchor-explorer .ax-k2{background:#cfe8c8}#anchor-explorer .ax-k1{background:#f7ebb5}#anchor-explorer .ax-k0{color:#bbb}
#anchor-explorer .ax-swatch{display:inline-block;width:10px;height:10px;margin:0 3px 0 8px;vertical-align:middle}
#anchor-explorer .ax-legend{font-size:12px;margin:.2em 0 .6em}
#anchor-explorer .ax-diff{background:#fdd}
#anchor-explorer .ax-pos{font:12px monospace;max-height:7em;overflow:auto;background:#f8f8f8;padding:.4em;word-break:break-all}
`;

function markup(): string {
  return `<h2>Explorer: RoPE in bf16 and the attention masks, computed in this page</h2>
<p>Both panels run the oracle's reference code (bundled into this page) on what you type; nothing is precomputed. Change any field.</p>
<noscript><p>The explorer needs JavaScript.</p></noscript>
<div class="ax-panel" data-ax="rope">
<h3>RoPE frequency by frequency</h3>
<form data-ax="rope-form" autocomplete="off">
<label>base <input name="base" value="10000" list="ax-bases" inputmode="decimal"></label>
<datalist id="ax-bases"><option value="10000"></option><option value="500000"></option><option value="1000000"></option></datalist>
<label>head dim (even, ≤ 256) <input name="dim" value="128" inputmode="numeric"></label>
<label>position p (0 … 2^20) <input name="p" value="32768" inputmode="numeric"></label>
<label>shift Δ <input name="delta" value="65536" inputmode="numeric"></label>
<label>key position n <input name="n" value="32760" inputmode="numeric"></label>
<label>path <select name="path">${opts(ROPE_PATHS, 'hf', { f64: 'f64 (ideal)', f32: 'f32', hf: 'hf (bf16 cos/sin, bf16 ops)', paper: 'paper (f32, bf16 out)' })}</select></label>
<label>layout <select name="layout">${opts(ROPE_LAYOUTS, 'half', { half: 'half (rotate_half)', interleaved: 'interleaved (2i, 2i+1)' })}</select></label>
<label>seed <input name="seed" value="1" inputmode="numeric"></label>
<label>sort rows by <select name="sort">${opts(['index', 'rot', 'viol', 'cossin'], 'index', { index: 'frequency index', rot: 'rotation error', viol: 'violation', cossin: 'cos/sin error' })}</select></label>
</form>
<p class="ax-msg" data-ax="rope-msg" role="alert" hidden></p>
<div data-ax="rope-out"></div>
</div>
<div class="ax-panel" data-ax="mask">
<h3>Attention masks and FlexAttention's block table</h3>
<form data-ax="mask-form" autocomplete="off">
<label>document lengths <input name="lengths" value="20,30,14" style="width:14em"></label>
<label>variant <select name="variant">${opts(VARIANTS, 'anchor')}</select></label>
<label>block size <input name="block" value="16" inputmode="numeric"></label>
</form>
<p class="ax-msg" data-ax="mask-msg" role="alert" hidden></p>
<div data-ax="mask-out"></div>
</div>`;
}

/** inline-safe text of gpu.js's browser build (gpu.js 2.24.1, ≈ 640 KB), or undefined when gpu.js is not installed */
let gpuJsCached: string | null | undefined;
export function gpuJsBrowserBuild(): string | undefined {
  if (gpuJsCached === undefined) {
    try {
      const require = createRequire(import.meta.url);
      const file = join(dirname(require.resolve('gpu.js/package.json')), 'dist', 'gpu-browser.min.js');
      gpuJsCached = readFileSync(file, 'utf8').replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
    } catch {
      gpuJsCached = null;
    }
  }
  return gpuJsCached ?? undefined;
}

export interface ExplorerOptions {
  /**
   * inline gpu.js's browser build (≈ 640 KB) so the RoPE panel also runs the generated
   * ropeApply kernel on WebGL2 where the browser has it (default true). Without it, or
   * without gpu.js installed, the panel says so in one line and shows everything else.
   */
  webgl2?: boolean;
}

/**
 * The explorer as one self-contained HTML fragment, `<section id="anchor-explorer">…<script>…</script></section>`,
 * for the report's body. Throws ExplorerUnavailable (one-line message) when esbuild is missing.
 */
export async function explorerHtml(options: ExplorerOptions = {}): Promise<string> {
  const js = await explorerBundle();
  const gpuJs = options.webgl2 === false ? undefined : gpuJsBrowserBuild();
  // gpu.js first: it defines the global GPU that the explorer's script looks for
  const gpuScript = gpuJs ? `<script data-ax="gpu-js">${gpuJs}</script>\n` : '';
  return `<section id="anchor-explorer"><style>${STYLE}</style>\n${markup()}\n${gpuScript}<script>${js}</script></section>`;
}

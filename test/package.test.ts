// The package as its users get it: npm pack, the tarball installed into a fresh project (offline,
// from the npm cache that npm ci filled), both entries imported from plain Node ESM with a
// property run, a consumer type-checked by tsc under moduleResolution node16 and bundler
// (strict, no special flags), and the CLI run from that project.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-package-'));
const app = join(dir, 'app');
const run = (cmd: string, args: string[], cwd: string) => {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
};
const duSize = (p: string): number => (statSync(p).isDirectory() ? readdirSync(p).reduce((a, f) => a + duSize(join(p, f)), 0) : statSync(p).size);

test('npm pack: the tarball holds the build, the CLI, the docs and the Python helper, no tests or fixtures', () => {
  const p = run('npm', ['pack', '--pack-destination', dir, '--json'], root);
  assert.is(p.code, 0, p.err);
  const info = JSON.parse(p.out)[0];
  const files: string[] = info.files.map((f: { path: string }) => f.path);
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/properties/index.js', 'dist/properties/arbitraries.js', 'dist/cli/main.js', 'bin/anchor-oracle.js', 'LICENSE', 'FORMAT.md', 'python/anchor_oracle.py'])
    assert.ok(files.includes(f), `${f} is missing`);
  for (const f of files) assert.not.match(f, /^(test|bench|\.ci|codegen)\/|fixtures|\.ts$(?<!\.d\.ts$)/, `${f} should not be packed`);
  console.log(`tarball: ${info.size} bytes packed, ${info.unpackedSize} unpacked, ${files.length} files`);
});

test('installed into a fresh project: plain Node ESM imports both entries and runs a property; tsc checks a consumer (node16, bundler); the CLI runs', () => {
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  run('mkdir', ['-p', app], dir);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  // the package has no dependencies (fast-check, gpu.js, playwright-core and the tokenizer are
  // optional peers): the tarball installs offline; fast-check comes from this checkout
  const i = run('npm', ['install', '--offline', '--no-package-lock', join(dir, tarball)], app);
  assert.is(i.code, 0, i.err);
  console.log(`installed node_modules of a bf16 consumer: ${(duSize(join(app, 'node_modules')) / 2 ** 20).toFixed(1)} MiB (anchor-oracle alone; fast-check adds ${(duSize(join(root, 'node_modules/fast-check')) / 2 ** 20).toFixed(1)} MiB)`);
  cpSync(join(root, 'node_modules/fast-check'), join(app, 'node_modules/fast-check'), { recursive: true });
  cpSync(join(root, 'node_modules/pure-rand'), join(app, 'node_modules/pure-rand'), { recursive: true });
  // (a) plain Node ESM
  writeFileSync(
    join(app, 'app.mjs'),
    `import fc from 'fast-check';
import { bf16, runOp, tensor } from 'anchor-oracle';
import { f32ToBf16Property, maskProperty } from 'anchor-oracle/properties';
import { maskCaseArb } from 'anchor-oracle/arbitraries';
if (!fc.sample(maskCaseArb(), 3).every((c) => c.docIds instanceof Int32Array)) throw new Error('arbitraries');
void maskProperty;
const a = tensor('bf16', [1], Uint16Array.of(0x3f80)), b = tensor('bf16', [1], Uint16Array.of(0x3f80));
const y = runOp('bf16.add', {}, { a, b }).y.data[0];
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
fc.assert(f32ToBf16Property((u) => { u32[0] = u; return bf16.fromF32(f32[0]); }), { numRuns: 200 });
console.log('ok', y.toString(16), bf16.fromF64(1 / 3).toString(16));
`,
  );
  const a = run(process.execPath, ['app.mjs'], app);
  assert.is(a.code, 0, a.err);
  assert.is(a.out.trim(), 'ok 4000 3eab');
  // (b) tsc, strict, under node16 and bundler resolution
  writeFileSync(
    join(app, 'consumer.ts'),
    `import { bf16, runOp, tensor, type Tensor } from 'anchor-oracle';
import { f32ToBf16Property, maskProperty } from 'anchor-oracle/properties';
import { docLayoutArb } from 'anchor-oracle/arbitraries';
const x: Tensor = tensor('bf16', [1], Uint16Array.of(0x3f80));
const out: Record<string, Tensor> = runOp('bf16.add', {}, { a: x, b: x });
const bits: number = bf16.fromF64(0.1);
void out; void bits; void f32ToBf16Property; void maskProperty; void docLayoutArb;
`,
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  for (const [module, resolution] of [['node16', 'node16'], ['esnext', 'bundler']]) {
    const t = run(process.execPath, [tsc, '--noEmit', '--strict', '--module', module, '--moduleResolution', resolution, '--target', 'es2022', '--typeRoots', join(root, 'node_modules/@types'), '--types', 'node', 'consumer.ts'], app);
    assert.is(t.code, 0, `${resolution}: ${t.out}${t.err}`);
  }
  // (c) the CLI from the consumer's project
  const cli = (...args: string[]) => run(join(app, 'node_modules/.bin/anchor-oracle'), args, app);
  const v = cli('--version');
  assert.match(v.out, /^anchor-oracle \d+\.\d+\.\d+/);
  assert.is(cli('gen', '--op', 'bf16.mul', '--out', 'c.jsonl').code, 0);
  assert.is(cli('eval', 'c.jsonl', '--out', 'r.jsonl', '--jobs', '2').code, 0);
  const ver = cli('verify', '--cases', 'c.jsonl', '--results', 'r.jsonl');
  assert.is(ver.code, 0, ver.out + ver.err);
  assert.match(ver.out, /0 failed/);
  // the model and drift cases run the shipped tiny checkpoints (checkpoints/), found from dist/
  for (const op of ['model.forward', 'drift.shift']) {
    const g = cli('gen', '--op', op, '--n', '1', '--out', `${op}.jsonl`);
    assert.is(g.code, 0, g.out + g.err);
    const e = cli('eval', `${op}.jsonl`, '--out', `${op}.r.jsonl`);
    assert.is(e.code, 0, e.out + e.err);
  }
});

test('with fast-check 3 instead of 4: RoPE and attention properties run, and a failing bf16 property keeps its hex counterexample', () => {
  rmSync(join(app, 'node_modules/fast-check'), { recursive: true, force: true });
  cpSync(join(root, 'node_modules/fast-check-3'), join(app, 'node_modules/fast-check'), { recursive: true });
  writeFileSync(
    join(app, 'fc3.mjs'),
    `import fc from 'fast-check';
import { attention } from 'anchor-oracle';
import { attentionForwardProperty, f32ToBf16Property, referenceRope, ropeNormProperty } from 'anchor-oracle/properties';
fc.assert(ropeNormProperty(referenceRope('f32'), 'f32'), { numRuns: 50 });
fc.assert(attentionForwardProperty((c) => attention.attentionForward(c.q, c.k, c.v, c.shape, c.docIds, { variant: c.variant, precision: c.precision })), { numRuns: 20 });
let hex = 'no failure';
try { fc.assert(f32ToBf16Property(() => 0), { seed: 1 }); } catch (e) { hex = /f32 0x[0-9a-f]{8}: got 0x0000, the oracle gives 0x[0-9a-f]{4}/.exec(e.message)?.[0] ?? e.message; }
console.log(fc.__version, hex);
`,
  );
  const r = run(process.execPath, ['fc3.mjs'], app);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^3\.\d+\.\d+ f32 0x[0-9a-f]{8}: got 0x0000, the oracle gives 0x[0-9a-f]{4}/);
});

test('anchor-oracle/kernels: without gpu.js one line names the install; with gpu.js a kernel runs from the build', () => {
  writeFileSync(
    join(app, 'kernels.mjs'),
    `import { bf16Round } from 'anchor-oracle/kernels';
try { console.log(Array.from(await bf16Round([1.00390625, 1.01171875], 'cpu')).join(' ')); } catch (e) { console.log('unavailable: ' + e.message); }
`,
  );
  const without = run(process.execPath, ['kernels.mjs'], app);
  assert.is(without.code, 0, without.err);
  assert.match(without.out, /^unavailable: .*npm install gpu\.js@2\.24\.1/);
  // gpu.js from this checkout (its own dependencies resolve from there)
  symlinkSync(join(root, 'node_modules/gpu.js'), join(app, 'node_modules/gpu.js'));
  const withGpu = run(process.execPath, ['kernels.mjs'], app);
  assert.is(withGpu.code, 0, withGpu.err);
  assert.is(withGpu.out.trim(), '1 1.015625');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();

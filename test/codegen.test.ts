// codegen: generated/ is up to date, the emitted source of a few kernels matches its
// reviewed snapshot, and each per-backend transform does what SPEC.md's table says
// (checked on tiny hand-written kernels with hand-written expected output).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Project, ts } from 'ts-morph';
import { checkReference, generateAll, ROOT } from '../codegen/generate.ts';
import { inlineCalls, type InlineFn } from '../codegen/inline.ts';
import { uniqueLocals } from '../codegen/unique-locals.ts';
import { blockRows } from '../codegen/rows.ts';
import { transformFunction, type Backend } from '../codegen/transform.ts';
import { GENERATED } from '../generated/index.ts';

const files = generateAll();

test('generated/ is up to date (run `npm run codegen`)', () => {
  for (const f of files) {
    let disk = '';
    try {
      disk = readFileSync(join(ROOT, f.path), 'utf8');
    } catch {}
    assert.ok(disk === f.content, `${f.path} is stale: run npm run codegen`);
  }
});

test('codegen is deterministic', () => {
  const again = generateAll();
  assert.equal(again.map((f) => f.content), files.map((f) => f.content));
});

// Snapshots: reviewed emitted source; a change to emitted code must show up in review.
// UPDATE_SNAPSHOTS=1 rewrites them (then read the diff).
const SNAPSHOTS: [keyof typeof GENERATED, Backend][] = [
  ['bf16Round', 'cpu'],
  ['bf16Round', 'webgl2'],
  ['ropeApply', 'headlessgl'],
  ['attnOut', 'webasm'],
];
for (const [name, backend] of SNAPSHOTS) {
  test(`snapshot ${name}.${backend}`, () => {
    const k = GENERATED[name][backend];
    const text = [k.kernel, ...k.helpers, ...k.native.map((n) => n.glsl)].join('\n') + '\n';
    const path = join(ROOT, 'test/snapshots', `${name}.${backend}.js.snap`);
    if (process.env.UPDATE_SNAPSHOTS) writeFileSync(path, text);
    assert.fixture(text, readFileSync(path, 'utf8'));
  });
}

function lower(src: string, backend: Backend, isKernel = true): string {
  const project = new Project({ useInMemoryFileSystem: true });
  const sf = project.createSourceFile('k.ts', `type int = number;\n${src}`);
  const fn = sf.getFunctions()[0].compilerNode as ts.FunctionDeclaration;
  return transformFunction(fn, { backend, isKernel, helpers: new Set(['h']) }).code;
}
const SRC = 'function k(this: T, a: Arr, n: int): number {\n  const i: int = this.thread.x;\n  let s = 0;\n  s += a[i + n - 1] * 2 - s;\n  return bf16(s);\n}';

test('cpu wraps every float op in Math.fround, leaves int index arithmetic alone', () => {
  assert.fixture(
    lower(SRC, 'cpu'),
    'function kernel(a, n, one) {\n    let i = this.thread.x;\n    let s = 0.0;\n    s = Math.fround(s + Math.fround(Math.fround(a[i + n - 1] * 2) - s));\n    return bf16Split(s, one);\n}',
  );
});
test('webasm keeps ops as written', () => {
  const w = lower(SRC, 'webasm');
  assert.fixture(w.slice(0, w.indexOf('    return')), 'function kernel(a, n, one) {\n    let i = this.thread.x;\n    let s = 0.0;\n    s = s + ((a[i + n - 1] * 2) - s);\n');
  assert.ok(w.includes('    return (s !== s ||'), w); // bf16 inlined (below)
});
test('GL backends guard float subtrahends with the opaque `one`; webgl2 rounds bf16 by bits', () => {
  assert.fixture(lower(SRC, 'webgl2'), 'function kernel(a, n, one) {\n    let i = this.thread.x;\n    let s = 0.0;\n    s = s + ((a[i + n - 1] * 2) - (s * one));\n    return bf16bits(s);\n}');
  assert.ok(lower(SRC, 'headlessgl').includes('return bf16Split(s, one);'));
});
test('@unroll N unrolls with a tail loop, keeping the order', () => {
  const src = 'function k(this: T, a: Arr, n: int): number {\n  let s = 0;\n  // @unroll 2\n  for (let e: int = 0; e < n; e++) {\n    s += a[e];\n  }\n  return s;\n}';
  assert.fixture(
    lower(src, 'webasm'),
    'function kernel(a, n, one) {\n    let s = 0.0;\n    let e_end1 = n - (n - 0) % 2;\n    for (let e = 0; e < e_end1; e += 2) {\n        s = s + a[e];\n        s = s + a[(e + 1)];\n    }\n    for (let e_tail1 = e_end1; e_tail1 < n; e_tail1 = e_tail1 + 1) {\n        s = s + a[e_tail1];\n    }\n    return s;\n}',
  );
});
test('@unroll renames names declared in the body in each copy', () => {
  const src = 'function k(this: T, a: Arr, n: int): number {\n  let s = 0;\n  // @unroll 2\n  for (let e: int = 0; e < n; e++) {\n    const v = a[e];\n    s += v * v;\n  }\n  return s;\n}';
  assert.fixture(
    lower(src, 'webasm'),
    'function kernel(a, n, one) {\n    let s = 0.0;\n    let e_end1 = n - (n - 0) % 2;\n    for (let e = 0; e < e_end1; e += 2) {\n        let v = a[e];\n        s = s + (v * v);\n        let v_u1 = a[(e + 1)];\n        s = s + (v_u1 * v_u1);\n    }\n    for (let e_tail1 = e_end1; e_tail1 < n; e_tail1 = e_tail1 + 1) {\n        let v_2 = a[e_tail1];\n        s = s + (v_2 * v_2);\n    }\n    return s;\n}',
  );
});
test('webasm (and so webgpu) steps loop counters as `i = i + 1` (WGSL has no ++ on f32); GL and cpu keep i++', () => {
  const src = 'function k(this: T, a: Arr, n: int): number {\n  let s = 0;\n  for (let e: int = 0; e < n; e++) {\n    s += a[e];\n  }\n  return s;\n}';
  assert.ok(lower(src, 'webasm').includes('for (let e = 0; e < n; e = e + 1) {'), lower(src, 'webasm'));
  for (const b of ['cpu', 'webgl2', 'headlessgl'] as const) assert.ok(lower(src, b).includes('for (let e = 0; e < n; e++) {'), lower(src, b));
  for (const k of Object.values(GENERATED)) assert.not.ok(/\w\+\+/.test([k.webasm.kernel, ...k.webasm.helpers].join('\n')), `${k.webasm.name}.webasm has ++`);
});
test('webasm: every local gets its own name (gpu.js decides lane variance per name), scoping kept', () => {
  const code = [
    'function kernel(a, n, one) {',
    '    let x = this.thread.x;',
    '    let s = 0.0;',
    '    for (let e = 0; e < n; e++) {',
    '        let v = a[e];',
    '        s = s + v;',
    '    }',
    '    if (x > 2) {',
    '        for (let e = 0; e < n; e++) {',
    '            let v = a[e] + s;',
    '            s = s + v * e;',
    '        }',
    '        let x = s + 1;',
    '        s = s + x;',
    '    }',
    '    let e_2 = Math.max(s, 1);',
    '    return s + x + e_2;',
    '}',
  ].join('\n');
  assert.fixture(
    uniqueLocals(code),
    [
      'function kernel(a, n, one) {',
      '    let x = this.thread.x;',
      '    let s = 0.0;',
      '    for (let e = 0; e < n; e++) {',
      '        let v = a[e];',
      '        s = s + v;',
      '    }',
      '    if (x > 2) {',
      '        for (let e_3 = 0; e_3 < n; e_3++) {',
      '            let v_2 = a[e_3] + s;',
      '            s = s + v_2 * e_3;',
      '        }',
      '        let x_2 = s + 1;',
      '        s = s + x_2;',
      '    }',
      '    let e_2 = Math.max(s, 1);',
      '    return s + x + e_2;',
      '}',
    ].join('\n'),
  );
  // the source's own names are left alone where unique, and every kernel's emitted locals are unique
  for (const name of Object.keys(GENERATED) as (keyof typeof GENERATED)[]) {
    const decls = [...GENERATED[name].webasm.kernel.matchAll(/\blet (\w+)/g)].map((m) => m[1]);
    assert.is(new Set(decls).size, decls.length, `${name}: ${decls.join(' ')}`);
  }
});
test('a kernel may return [a, b, …] (2 to 4 numbers per cell); components says how many', () => {
  const project = new Project({ useInMemoryFileSystem: true });
  const sf = project.createSourceFile('k.ts', 'type int = number;\nfunction k(this: T, a: Arr): number[] {\n  const i: int = this.thread.x;\n  return [a[i] - 1, a[i]];\n}');
  const t = transformFunction(sf.getFunctions()[0].compilerNode as ts.FunctionDeclaration, { backend: 'cpu', isKernel: true, helpers: new Set() });
  assert.is(t.components, 2);
  assert.ok(t.code.includes('return [Math.fround(a[i] - 1), a[i]];'), t.code);
  assert.is(GENERATED.attnScores.webasm.components, 4);
  assert.is(GENERATED.matmul.webasm.components, 4); // @rows 4
  assert.is(GENERATED.matmul.webgl2.components, 1); // the GL flavours stay one row per cell
  for (const bad of ['function k(this: T, a: Arr): number[] { return [a[0]]; }', 'function k(this: T, a: Arr): number { const b = [1, 2]; return b[0]; }'])
    assert.throws(() => lower(bad, 'webasm'), /kernel subset/);
});
test('webasm inlines bf16 of a name (a helper call would run lane by lane); other backends call the helper', () => {
  const src = 'function k(this: T, a: Arr): number {\n  const v = a[this.thread.x];\n  return bf16(v);\n}';
  const w = lower(src, 'webasm');
  assert.ok(!w.includes('bf16Split') && w.includes('(Math.abs(v) * 65537) - ((Math.abs(v) * 65537) - Math.abs(v))'), w);
  assert.ok(lower(src, 'cpu').includes('bf16Split(v, one)'));
});
test('the subset rejects what gpu.js cannot run', () => {
  for (const bad of [
    'function k(this: T, a: Arr): number { const f = (x: number) => x; return f(1); }',
    'function k(this: T, a: Arr): number { return Math.sin(a[0]); }',
    'function k(this: T, a: Arr): number { var s = 0; return s; }',
    'function k(this: T, a: Arr): number { let s = 0; for (let i: int = 0; i <= 3; i++) s += 1; return s; }',
  ])
    assert.throws(() => lower(bad, 'webasm'), /kernel subset/);
});
test('every generated file names its source and carries a content hash', () => {
  for (const f of files.filter((x) => !x.path.endsWith('index.ts'))) {
    assert.match(f.content, /^\/\/ Generated by codegen\/ from kernels\/src\/[\w-]+\.ts \(\w+\)(?: for the \w+ backend\.|: the wasm SIMD lowering)/);
    assert.match(f.content, /\/\/ content-hash: [0-9a-f]{16}\n/);
  }
});

// @inline: shared kernel code pasted at each call site (codegen/inline.ts)
function expand(src: string, name = 'k'): string {
  const project = new Project({ useInMemoryFileSystem: true });
  const sf = project.createSourceFile('k.ts', `type int = number;\n${src}`);
  const inlines = new Map<string, InlineFn>();
  for (const fn of sf.getFunctions())
    if (fn.getJsDocs().some((d) => d.getTags().some((t) => t.getTagName() === 'inline'))) inlines.set(fn.getName()!, { name: fn.getName()!, node: fn.compilerNode as ts.FunctionDeclaration, file: 'k.ts' });
  const fn = sf.getFunctions().find((f) => f.getName() === name)!;
  return inlineCalls(fn.compilerNode as ts.FunctionDeclaration, inlines).getText();
}
const INL = [
  '/** @inline */\nfunction sq(x: number): number {\n  const y = x * x;\n  return y + 1;\n}',
  '/** @inline */\nfunction lo(a: Arr, i: int): int {\n  return Math.min(a[i], a[i + 1]);\n}',
].join('\n');
test('@inline: locals get fresh names, statements go before the call, the call becomes the return expression', () => {
  const got = expand(`${INL}\nfunction k(this: T, a: Arr, n: int): number {\n  const y = a[0];\n  let s = sq(y) * 2;\n  s += sq(a[n] + 1);\n  return s + lo(a, n);\n}`);
  assert.fixture(
    got,
    // x is read twice: a non-name argument is bound to a fresh local (`let x = …`)
    'function k(this: T, a: Arr, n: int): number {\n  const y = a[0];\n  const y_2 = y * y;\n  let s = (y_2 + 1) * 2;\n  let x = a[n] + 1;\n  const y_3 = x * x;\n  s += y_3 + 1;\n  return s + Math.min(a[n], a[n + 1]);\n}',
  );
});
test('@inline: a call in a branch without braces gets braces; a call under ?: or in a loop header is refused', () => {
  assert.ok(expand(`${INL}\nfunction k(this: T, a: Arr): number {\n  let s = 0;\n  if (a[0] > 0) s = sq(a[0]);\n  return s;\n}`).includes('  if (a[0] > 0) {\n    const y = a[0] * a[0];\n    s = y + 1;\n  }'));
  assert.throws(() => expand(`${INL}\nfunction k(this: T, a: Arr): number {\n  return a[0] > 0 ? sq(a[0]) : 0;\n}`), /\?:/);
  assert.throws(() => expand(`${INL}\nfunction k(this: T, a: Arr, n: int): number {\n  let s = 0;\n  for (let i: int = 0; i < sq(n); i++) s += 1;\n  return s;\n}`), /header/);
});
test('@inline functions leave no call behind in generated kernels', () => {
  for (const k of Object.values(GENERATED))
    for (const g of Object.values(k)) assert.not.ok(/\b(expfNeg|expfWide|masked|isMasked|isScore|quadMin|quadMax)\(/.test([g.kernel, ...g.helpers].join('\n')), `${g.name}.${g.backend}`);
});

// @reference <path> <function>: codegen resolves it (ts-morph) and names the kernel when it fails
test('@reference resolves to an exported function; a wrong tag fails naming the kernel', () => {
  assert.equal(checkReference('ropeApply', 'reference/rope.ts ropeApply'), { path: 'reference/rope.ts', name: 'ropeApply' });
  assert.throws(() => checkReference('kX', 'reference/rope.ts noSuchFunction (note)'), /kernel kX: @reference .*exports no function noSuchFunction/);
  assert.throws(() => checkReference('kX', 'reference/no-such-file.ts ropeApply'), /kernel kX: .*does not exist/);
  assert.throws(() => checkReference('kX', 'the reference loop'), /kernel kX: .*not `<path> <function>`/);
  const dir = mkdtempSync(join(tmpdir(), 'codegen-ref-'));
  try {
    writeFileSync(
      join(dir, 'bad.ts'),
      "/**\n * @kernel\n * @reference reference/rope.ts ropeApplyTypo (a typo)\n */\nexport function badRef(this: Thread, x: Arr): number {\n  return x[this.thread.x];\n}\n",
    );
    assert.throws(() => generateAll(dir), /kernel badRef: @reference "reference\/rope.ts ropeApplyTypo \(a typo\)": reference\/rope.ts exports no function ropeApplyTypo/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});


test('@rows 4 blocks row-varying statements (shared loads stay once); @constants turns sizes into this.constants', () => {
  const project = new Project({ useInMemoryFileSystem: true });
  const src = 'type int = number;\nfunction k(this: T, a: Arr, b: Arr, K: int, N: int): number {\n  const m: int = this.thread.y;\n  const n: int = this.thread.x;\n  let acc = 0;\n  for (let k: int = 0; k < K; k++) {\n    const bv = b[k * N + n];\n    acc += a[m * K + k] * bv;\n  }\n  return acc;\n}';
  const fn = project.createSourceFile('k.ts', src).getFunctions()[0].compilerNode as ts.FunctionDeclaration;
  const t = transformFunction(blockRows(fn, 4), { backend: 'webasm', isKernel: true, helpers: new Set(), constants: ['K', 'N'] });
  assert.is(t.components, 4);
  assert.equal(t.params, ['a', 'b', 'one']);
  assert.is(t.code.match(/b\[/g)!.length, 1, t.code);
  for (let c = 0; c < 4; c++) assert.ok(t.code.includes(`acc_r${c} = acc_r${c} + (a[m_r${c} * this.constants.K + k] * bv)`), t.code);
  assert.ok(t.code.includes('return [acc_r0, acc_r1, acc_r2, acc_r3];') && t.code.includes('k < this.constants.K'), t.code);
  const bad = project.createSourceFile('bad.ts', 'type int = number;\nfunction k(this: T, a: Arr): number {\n  const m: int = this.thread.y;\n  let s = 0;\n  for (let k: int = 0; k < m; k++) s += a[k];\n  return s;\n}').getFunctions()[0].compilerNode as ts.FunctionDeclaration;
  assert.throws(() => blockRows(bad, 4), /@rows.*for loop whose header reads a row-varying name/);
});

test.run();

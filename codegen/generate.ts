// Reads the kernel sources (kernels/src/*.ts: exported functions tagged @kernel, helpers
// tagged @helper, shared pieces tagged @inline (codegen/inline.ts), exported integer-code
// objects) with ts-morph, checks each kernel's @reference, and renders
// generated/<kernel>.<backend>.ts for every backend, plus generated/index.ts. Pure: returns
// file contents; main.ts writes.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { Node, Project, ts, type FunctionDeclaration } from 'ts-morph';
import { OpError } from '../io/errors.ts';
import { inlineCalls, type InlineFn } from './inline.ts';
import { blockRows } from './rows.ts';
import { lowerSimd } from './simd.ts';
import { assembleSimd } from './wasm-binary.ts';
import { BACKENDS, transformFunction, type Backend } from './transform.ts';

export const ROOT = new URL('..', import.meta.url).pathname;
export const KERNEL_DIR = 'kernels/src';
export const OUT_DIR = 'generated';

/** GLSL ES 3.00 bit route for bf16 rounding on webgl2 (RNE; NaN passes through) */
export const BF16BITS_GLSL = [
  'float bf16bits(float x) {',
  '  uint u = floatBitsToUint(x);',
  '  if ((u & 0x7fffffffu) > 0x7f800000u) return x;',
  '  u = (u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u;',
  '  return uintBitsToFloat(u);',
  '}',
].join('\n');

interface Found {
  fn: FunctionDeclaration;
  file: string;
  kind: Kind;
  reference: string;
  doc: string;
  rows: number;
  constants: string[];
  /** `@simd V`: also lowered by codegen/simd.ts (V float32x4 vectors of x per cell group); 0 when absent */
  simd: number;
}

type Kind = 'kernel' | 'helper' | 'inline';

function tagsOf(fn: FunctionDeclaration): { kind?: Kind; reference: string; doc: string; rows: number; constants: string[]; simd: number } {
  let kind: Kind | undefined;
  let reference = '';
  let doc = '';
  let rows = 1;
  let simd = 0;
  let constants: string[] = [];
  for (const jsdoc of fn.getJsDocs()) {
    doc = (jsdoc.getDescription() ?? '').trim();
    for (const tag of jsdoc.getTags()) {
      const name = tag.getTagName();
      if (name === 'kernel' || name === 'helper' || name === 'inline') kind = name;
      if (name === 'reference') reference = (tag.getCommentText() ?? '').trim();
      if (name === 'rows') rows = Number((tag.getCommentText() ?? '').trim());
      if (name === 'simd') simd = Number((tag.getCommentText() ?? '').trim());
      if (name === 'constants') constants = (tag.getCommentText() ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    }
  }
  return { kind, reference, doc, rows, constants, simd };
}

/** integer codes: exported `const X = { a: 0, b: 1 } as const` objects of number literals, name → key → literal */
export type Codes = Map<string, Map<string, string>>;

function findFunctions(dir: string, codes: Codes = new Map()): Found[] {
  const project = new Project({ useInMemoryFileSystem: false, skipAddingFilesFromTsConfig: true, compilerOptions: { allowJs: false } });
  const abs = isAbsolute(dir) ? dir : join(ROOT, dir);
  const label = isAbsolute(dir) ? relative(ROOT, dir) : dir;
  const files = readdirSync(abs).filter((n) => n.endsWith('.ts')).sort();
  const found: Found[] = [];
  for (const name of files) {
    const sf = project.addSourceFileAtPath(join(abs, name));
    for (const v of sf.getVariableStatements()) {
      if (!v.isExported()) continue;
      for (const d of v.getDeclarations()) {
        let init = d.getInitializer();
        while (init && (Node.isAsExpression(init) || Node.isSatisfiesExpression(init) || Node.isParenthesizedExpression(init))) init = init.getExpression();
        if (!init || !Node.isObjectLiteralExpression(init)) continue;
        const entries = new Map<string, string>();
        for (const p of init.getProperties()) {
          const value = Node.isPropertyAssignment(p) ? p.getInitializer()?.getText() : undefined;
          if (!Node.isPropertyAssignment(p) || value === undefined || !/^-?\d+$/.test(value)) break;
          entries.set(p.getName(), value);
        }
        if (entries.size === init.getProperties().length) codes.set(d.getName(), entries);
      }
    }
    for (const fn of sf.getFunctions()) {
      const { kind, reference, doc, rows, constants, simd } = tagsOf(fn);
      if (kind && fn.isExported()) found.push({ fn, file: `${label}/${name}`, kind, reference, doc, rows, constants, simd });
    }
  }
  return found;
}

/**
 * Checks a kernel's `@reference <path> <name> (note)` tag: <path> (from the repository root)
 * exists and exports a function <name>. Throws an error naming the kernel otherwise.
 */
export function checkReference(kernel: string, tag: string, project = new Project({ skipAddingFilesFromTsConfig: true })): { path: string; name: string } {
  const bad = (why: string): never => {
    throw new OpError('BAD_ARGS', `kernel ${kernel}: @reference ${JSON.stringify(tag)}: ${why} (write \`@reference <path> <function> (note)\`, the path from the repository root)`);
  };
  const m = /^(\S+\.ts)\s+([A-Za-z_$][\w$]*)(?:\s+\(.*\))?$/s.exec(tag);
  if (!m) return bad('not `<path> <function>`');
  const [, path, name] = m;
  const abs = join(ROOT, path);
  if (!existsSync(abs)) return bad(`${path} does not exist`);
  const sf = project.getSourceFile(abs) ?? project.addSourceFileAtPath(abs);
  const decls = sf.getExportedDeclarations().get(name) ?? [];
  const isFn = (d: Node): boolean =>
    Node.isFunctionDeclaration(d) || (Node.isVariableDeclaration(d) && !!d.getInitializer() && (Node.isArrowFunction(d.getInitializerOrThrow()) || Node.isFunctionExpression(d.getInitializerOrThrow())));
  if (!decls.some(isFn)) return bad(`${path} exports no function ${name}`);
  return { path, name };
}

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);
const lit = (s: string): string => '`' + s.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${') + '`';

/** a generated module: the header (where it comes from, its content hash) and one exported `type` const */
const generatedModule = (from: string, hashed: string, type: string, id: string, fields: string[]): string =>
  [
    `// Generated by codegen/ from ${from}`,
    `// Do not edit: \`npm run codegen\` rewrites this file, and a test fails when it is stale.`,
    `// content-hash: ${hash(hashed)}`,
    `import type { ${type} } from '../kernels/types.ts';`,
    ``,
    `export const ${id}: ${type} = {`,
    ...fields,
    `};`,
    ``,
  ].join('\n');

export interface GeneratedFile {
  path: string;
  content: string;
}

/** every generated file, deterministic (sorted names, fixed formatting); `dir`: the kernel sources (tests pass another) */
export function generateAll(dir: string = KERNEL_DIR): GeneratedFile[] {
  const codes: Codes = new Map();
  const found = findFunctions(dir, codes);
  const helpers = new Map(found.filter((x) => x.kind === 'helper').map((x) => [x.fn.getName()!, x]));
  const helperNames = new Set(helpers.keys());
  const inlines = new Map<string, InlineFn>(found.filter((x) => x.kind === 'inline').map((x) => [x.fn.getName()!, { name: x.fn.getName()!, node: x.fn.compilerNode as ts.FunctionDeclaration, file: x.file }]));
  const kernels = found.filter((x) => x.kind === 'kernel').sort((a, b) => a.fn.getName()!.localeCompare(b.fn.getName()!));
  const files: GeneratedFile[] = [];
  const index: string[] = [];
  const simdNames: string[] = [];
  const refProject = new Project({ skipAddingFilesFromTsConfig: true });
  for (const k of kernels) {
    const name = k.fn.getName()!;
    checkReference(name, k.reference, refProject);
    // the kernel with its @inline calls expanded (what the transforms see, and what the hash covers)
    const expanded = inlineCalls(k.fn.compilerNode as ts.FunctionDeclaration, inlines, codes);
    const sourceText = expanded.getText();
    // @rows / @constants: the CPU flavours (webasm, which webgpu also runs, and cpu) only; the GL
    // flavours keep one row per cell and sizes as arguments
    const blocked = k.rows > 1 ? blockRows(expanded, k.rows) : expanded;
    for (const backend of BACKENDS) {
      const cpuFlavour = backend === 'webasm' || backend === 'cpu';
      const rows = cpuFlavour ? k.rows : 1;
      const constants = cpuFlavour ? k.constants : [];
      const main = transformFunction(rows > 1 ? blocked : expanded, { backend, isKernel: true, helpers: helperNames, constants });
      // helpers, transitively, each lowered for this backend
      const helperCode = new Map<string, string>();
      const pending = [...main.calls];
      while (pending.length) {
        const h = pending.shift()!;
        if (helperCode.has(h)) continue;
        const found = helpers.get(h);
        if (!found) throw new Error(`helper ${h} not found`);
        const t = transformFunction(inlineCalls(found.fn.compilerNode as ts.FunctionDeclaration, inlines, codes), { backend, isKernel: false, helpers: helperNames });
        helperCode.set(h, t.code);
        pending.push(...t.calls);
      }
      const helperList = [...helperCode.keys()].sort().map((h) => helperCode.get(h)!);
      const native = backend === 'webgl2' && main.usesBf16 ? [{ name: 'bf16bits', glsl: BF16BITS_GLSL }] : [];
      const emitted = [main.code, ...helperList, ...native.map((n) => n.glsl)].join('\n');
      const id = `${name}_${backend}`;
      const content = generatedModule(`${k.file} (${name}) for the ${backend} backend.`, sourceText + '\n' + emitted, 'GeneratedKernel', id, [
        `  name: ${JSON.stringify(name)},`,
        `  backend: ${JSON.stringify(backend)},`,
        `  source: ${JSON.stringify(k.file)},`,
        `  reference: ${JSON.stringify(k.reference)},`,
        `  params: ${JSON.stringify(main.params)},`,
        `  components: ${main.components},`,
        ...(rows > 1 ? [`  rows: ${rows},`] : []),
        ...(constants.length ? [`  constants: ${JSON.stringify(constants)},`] : []),
        `  kernel: ${lit(main.code)},`,
        `  helpers: [${helperList.map((h) => `\n    ${lit(h)},`).join('')}${helperList.length ? '\n  ' : ''}],`,
        `  native: [${native.map((n) => `\n    { name: ${JSON.stringify(n.name)}, glsl: ${lit(n.glsl)} },`).join('')}${native.length ? '\n  ' : ''}],`,
      ]);
      files.push({ path: `${OUT_DIR}/${name}.${backend}.ts`, content });
      index.push(`import { ${id} } from './${name}.${backend}.ts';`);
    }
    if (k.simd) {
      // the wasm SIMD lowering of the @rows-blocked kernel (webasm runs it in place of gpu.js's)
      const low = lowerSimd(blocked, k.simd);
      const wasm = Buffer.from(assembleSimd(low.wat)).toString('base64');
      const id = `${name}_simd`;
      files.push({
        path: `${OUT_DIR}/${name}.simd.ts`,
        content: generatedModule(`${k.file} (${name}): the wasm SIMD lowering (codegen/simd.ts), which the webasm backend runs.`, sourceText + '\n' + low.wat, 'SimdKernel', id, [
          `  name: ${JSON.stringify(name)},`,
          `  source: ${JSON.stringify(k.file)},`,
          `  reference: ${JSON.stringify(k.reference)},`,
          `  params: ${JSON.stringify(low.params)},`,
          `  components: ${low.components},`,
          `  rows: ${k.rows},`,
          `  lanes: ${4 * k.simd},`,
          `  wat: ${lit(low.wat)},`,
          `  wasm: ${JSON.stringify(wasm)},`,
        ]),
      });
      index.push(`import { ${id} } from './${name}.simd.ts';`);
      simdNames.push(name);
    }
  }
  const names = kernels.map((k) => k.fn.getName()!);
  const body = [
    `// Generated by codegen/: every generated kernel, by name and backend.`,
    `// Do not edit: \`npm run codegen\` rewrites this file.`,
    `import type { GeneratedKernel, SimdKernel } from '../kernels/types.ts';`,
    ...index,
    ``,
    `export const KERNEL_NAMES = ${JSON.stringify(names)} as const;`,
    `export type KernelName = (typeof KERNEL_NAMES)[number];`,
    `export const GENERATED: Record<KernelName, Record<'webasm' | 'cpu' | 'webgl2' | 'headlessgl', GeneratedKernel>> = {`,
    ...names.map((n) => `  ${n}: { ${BACKENDS.map((b: Backend) => `${b}: ${n}_${b}`).join(', ')} },`),
    `};`,
    `/** the kernels codegen also lowered to wasm SIMD (\`@simd\`): the webasm backend runs these instead of gpu.js's */`,
    `export const SIMD: Partial<Record<KernelName, SimdKernel>> = { ${simdNames.map((n) => `${n}: ${n}_simd`).join(', ')} };`,
    ``,
  ].join('\n');
  files.push({ path: `${OUT_DIR}/index.ts`, content: body });
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

// `npm run codegen`: regenerate generated/ from kernels/src/ (and delete files no
// kernel produces any more). `--check` only reports stale files and exits 1 if any.

import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/lines.ts';
import { generateAll, OUT_DIR, ROOT } from './generate.ts';

const check = process.argv.includes('--check');
const files = generateAll();
mkdirSync(join(ROOT, OUT_DIR), { recursive: true });
const wanted = new Set(files.map((f) => f.path));
let stale = 0;
for (const f of files) {
  const p = join(ROOT, f.path);
  let old: string | undefined;
  try {
    old = readFileSync(p, 'utf8');
  } catch {}
  if (old === f.content) continue;
  stale++;
  if (check) console.log(`stale: ${f.path}`);
  else writeFileAtomic(p, f.content);
}
for (const name of readdirSync(join(ROOT, OUT_DIR))) {
  const path = `${OUT_DIR}/${name}`;
  if (wanted.has(path)) continue;
  stale++;
  if (check) console.log(`extra: ${path}`);
  else rmSync(join(ROOT, path));
}
console.log(`${files.length} generated files, ${stale} ${check ? 'stale' : 'rewritten'}`);
if (check && stale) process.exitCode = 1;

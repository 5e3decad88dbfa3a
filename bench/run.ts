// npm run bench: every bench/*.bench.ts in turn, each in its own process.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dir = new URL('.', import.meta.url).pathname;
const only = process.argv.slice(2);
let failed = 0;
for (const f of readdirSync(dir).filter((n) => n.endsWith('.bench.ts')).sort()) {
  if (only.length && !only.some((o) => f.includes(o))) continue;
  console.log(`\n## ${f}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', dir + f], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;

// The test command: runs every test/**/*.test.ts file as its own process (two at a
// time, for the two cores), relays its output, and ends with "N passed, N failed".
// `npm test -- NAME` runs only the files whose path contains NAME.

import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { availableParallelism } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function findTests(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (name === 'node_modules' || name === 'fixtures') return [];
      if (statSync(p).isDirectory()) return findTests(p);
      return name.endsWith('.test.ts') ? [p] : [];
    });
}

const files = findTests(join(root, 'test')).filter((f) => !filters.length || filters.some((s) => f.includes(s)));
const ANSI = /\x1b\[[0-9;]*m/g;

interface Outcome {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  seconds: number;
  output: string;
}

function runFile(file: string): Promise<Outcome> {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => {
      const text = output.replace(ANSI, '');
      const num = (label: string) => [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
      const total = num('Total');
      const passed = num('Passed');
      const skipped = num('Skipped');
      let failed = Math.max(0, total - passed); // uvu's Total counts the tests that ran: skips are not in it
      if (code !== 0 && failed === 0) failed = 1; // crashed or failed outside a test
      resolve({ file: relative(root, file), passed, failed, skipped, seconds: (Date.now() - start) / 1000, output: text });
    });
  });
}

async function main(): Promise<void> {
  const jobs = Math.max(1, Math.min(2, availableParallelism()));
  const queue = [...files];
  const outcomes: Outcome[] = [];
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        const o = await runFile(f);
        outcomes.push(o);
        const status = o.failed ? 'FAIL' : 'ok  ';
        process.stdout.write(`${status} ${o.file}: ${o.passed} passed, ${o.failed} failed, ${o.skipped} skipped (${o.seconds.toFixed(1)}s)\n`);
        if (o.failed || process.env.VERBOSE) process.stdout.write(o.output.split('\n').map((l) => `     | ${l}`).join('\n') + '\n');
      }
    }),
  );
  const passed = outcomes.reduce((a, o) => a + o.passed, 0);
  const failed = outcomes.reduce((a, o) => a + o.failed, 0);
  const skipped = outcomes.reduce((a, o) => a + o.skipped, 0);
  if (!files.length) console.log('no test files matched');
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exitCode = failed || !files.length ? 1 : 0;
}

main();

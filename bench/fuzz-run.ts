// Run the fuzz lines through `eval` and check the promises: one result line per input line, in
// order; no INTERNAL error; every valid line's result equal to a clean run's. Used by
// test/fuzz.test.ts (a short run) and `npm run fuzz` (a long one: bench/fuzz.ts). It lives in
// bench/ so that the long run does not reach into test/.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzzLines, validCases } from './fuzz-lines.ts';

const root = new URL('..', import.meta.url).pathname;

export interface FuzzReport {
  lines: number;
  hostile: number;
  failures: string[];
}

export function fuzzEval(seed: number, count: number, perOp: number, jobs = 1): FuzzReport {
  const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-fuzz-'));
  try {
    const valid = validCases(perOp);
    const lines = fuzzLines(seed, count, valid);
    writeFileSync(join(dir, 'mixed.jsonl'), lines.map((l) => l.text.replace(/\n/g, ' ')).join('\n') + '\n');
    writeFileSync(join(dir, 'clean.jsonl'), valid.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const run = (file: string, out: string) =>
      spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), 'eval', file, '--out', out, '--jobs', String(jobs)], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 26 });
    const failures: string[] = [];
    const clean = run('clean.jsonl', 'clean-out.jsonl');
    if (clean.status !== 0) failures.push(`the clean run exited ${clean.status}: ${clean.stderr.slice(-500)}`);
    const want = new Map(readFileSync(join(dir, 'clean-out.jsonl'), 'utf8').trim().split('\n').map((l) => [JSON.parse(l).id, l]));
    const mixed = run('mixed.jsonl', 'mixed-out.jsonl');
    if (mixed.status !== 0 && mixed.status !== 1) failures.push(`eval exited ${mixed.status}: ${mixed.stderr.slice(-500)}`);
    if (/\n\s+at |internal error/.test(mixed.stderr)) failures.push(`a stack trace or internal error on stderr: ${mixed.stderr.slice(0, 500)}`);
    const got = readFileSync(join(dir, 'mixed-out.jsonl'), 'utf8').trim().split('\n');
    // blank hostile lines (a line that is only whitespace) are not cases: no result line
    const cases = lines.filter((l) => l.text.trim() !== '');
    if (got.length !== cases.length) failures.push(`${got.length} result lines for ${cases.length} case lines`);
    got.slice(0, cases.length).forEach((r, i) => {
      const res = JSON.parse(r);
      if (res.error?.code === 'INTERNAL') failures.push(`line ${i + 1}: INTERNAL: ${res.error.message} (input: ${cases[i].text.slice(0, 300)})`);
      if (cases[i].valid) {
        const id = JSON.parse(cases[i].text).id;
        if (res.id !== id) failures.push(`line ${i + 1}: result id ${JSON.stringify(res.id)}, the line's is ${JSON.stringify(id)} (out of order)`);
        else if (r !== want.get(id)) failures.push(`line ${i + 1} (${id}): the result differs from the clean run's`);
      } else if (!res.error && !res.out) failures.push(`line ${i + 1}: neither out nor error`);
    });
    return { lines: cases.length, hostile: cases.filter((l) => !l.valid).length, failures };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

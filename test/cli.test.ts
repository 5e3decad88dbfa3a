// The case-file CLI end to end: gen → eval → verify round trips, verify catches a flipped
// bit, eval turns every kind of bad line into an error line and goes on, exit codes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../ops/index.ts';
import { evalLine, generateLines } from '../ops/cases.ts';
import { listOps } from '../ops/registry.ts';
import { Verifier } from '../ops/verify.ts';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), ...args], { input, encoding: 'utf8', cwd: dir });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('every bf16 op: generated cases round-trip through eval and verify in process (levels 1 and 2)', () => {
  for (const op of listOps().filter((o) => o.name.startsWith('bf16.')))
    for (const level of [1, 2] as const) {
      const lines = generateLines(op.name, { n: 0, seed: 5, level }).map((l) => JSON.stringify(l));
      assert.ok(lines.length > 0, op.name);
      const v = new Verifier();
      lines.forEach((l, i) => v.check(l, i + 1, JSON.stringify(evalLine(l))));
      assert.is(v.report.failed, 0, `${op.name} level ${level}: ${v.report.messages.join('\n')}`);
    }
});

test('gen is deterministic per seed, level 2 adds seeded random cases, --n raises the count', () => {
  const a = generateLines('bf16.mul', { n: 0, seed: 1, level: 2 });
  const b = generateLines('bf16.mul', { n: 0, seed: 1, level: 2 });
  const c = generateLines('bf16.mul', { n: 0, seed: 2, level: 2 });
  const l1 = generateLines('bf16.mul', { n: 0, seed: 1, level: 1 });
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  assert.not.equal(JSON.stringify(a), JSON.stringify(c));
  assert.is(a.length, 2 * l1.length);
  assert.is(generateLines('bf16.mul', { n: l1.length + 7, seed: 1, level: 1 }).length, l1.length + 7);
});

test('CLI: gen → eval → verify passes; a flipped bit in a result fails verify with hex bits', () => {
  const g = cli(['gen', '--op', 'bf16.div', '--seed', '3', '--level', '2', '--out', 'cases.jsonl']);
  assert.is(g.code, 0, g.err);
  const e = cli(['eval', 'cases.jsonl', '--out', 'results.jsonl']);
  assert.is(e.code, 0, e.err);
  const v = cli(['verify', '--cases', 'cases.jsonl', '--results', 'results.jsonl']);
  assert.is(v.code, 0, v.out + v.err);
  assert.match(v.out, /verify: \d+ cases, \d+ passed, 0 failed/);
  // flip the lowest bit of the first element of result 10's output
  const results = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n');
  const r = JSON.parse(results[10]);
  const bytes = Buffer.from(r.out.y.b64, 'base64');
  bytes[0] ^= 1;
  r.out.y.b64 = bytes.toString('base64');
  results[10] = JSON.stringify(r);
  writeFileSync(join(dir, 'theirs.jsonl'), results.join('\n') + '\n');
  const bad = cli(['verify', '--cases', 'cases.jsonl', '--results', 'theirs.jsonl']);
  assert.is(bad.code, 1);
  assert.match(bad.out, /got 0x[0-9A-F]{4} \(.*\) want 0x[0-9A-F]{4}/);
  assert.match(bad.out, /1 failed/);
  // a missing result line is a failure too
  writeFileSync(join(dir, 'short.jsonl'), results.slice(0, 5).join('\n') + '\n');
  const short = cli(['verify', '--cases', 'cases.jsonl', '--results', 'short.jsonl']);
  assert.is(short.code, 1);
  assert.match(short.out, /no result line/);
});

test('CLI: eval writes one line per case; bad lines become error lines naming the problem; exit 1', () => {
  const good = generateLines('bf16.add', { n: 0, seed: 1, level: 1 })[0] as Record<string, any>;
  const mutate = (f: (c: Record<string, any>) => void) => {
    const c = structuredClone(good);
    f(c);
    return JSON.stringify(c);
  };
  const lines = [
    JSON.stringify(good),
    '{"id": 1, "op": "bf16.add", ',
    mutate((c) => (c.op = 'bf16.nope')),
    mutate((c) => delete c.in.b),
    mutate((c) => (c.in.a = { dtype: 'f32', shape: c.in.a.shape, b64: Buffer.alloc(4 * c.in.a.shape[0]).toString('base64') })),
    mutate((c) => (c.in.b = { dtype: 'bf16', shape: [2], b64: Buffer.alloc(4).toString('base64') })),
    mutate((c) => (c.in.a.b64 = '!!notbase64')),
    mutate((c) => (c.args.profil = 'ieee')),
    mutate((c) => (c.args.profile = 'weird')),
    mutate((c) => (c.in.a.dtype = 'f16')),
    '[1,2,3]',
    JSON.stringify(good),
  ];
  const e = cli(['eval', '-'], lines.join('\n') + '\n');
  assert.is(e.code, 1);
  const out = e.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(out.length, lines.length);
  assert.ok(out[0].out && out[11].out, 'good lines still evaluated');
  const codes = out.slice(1, 11).map((o) => o.error?.code);
  assert.equal(codes, ['BAD_JSON', 'UNKNOWN_OP', 'BAD_TENSOR', 'BAD_TENSOR', 'BAD_TENSOR', 'BAD_TENSOR', 'BAD_ARGS', 'BAD_ARGS', 'BAD_TENSOR', 'BAD_CASE']);
  assert.match(out[3].error.message, /missing input tensor "b"/);
  assert.match(out[4].error.message, /a has dtype f32, expected bf16/);
  assert.match(out[5].error.message, /b has shape \[2\] but a has \[\d+\]/);
  assert.match(out[6].error.message, /not valid base64/);
  assert.match(out[7].error.message, /unknown argument "profil"/);
  assert.is(out[2].id, good.id, 'error lines keep the case id');
});

test('CLI: unreadable input exits 2; unknown flags and commands exit 2 with a message', () => {
  assert.is(cli(['eval', 'no-such-file.jsonl']).code, 2);
  const f = cli(['gen', '--op', 'bf16.add', '--bogus']);
  assert.is(f.code, 2);
  assert.match(f.err, /bogus/);
  assert.is(cli(['gen']).code, 2);
  assert.is(cli(['gen', '--op', 'nope.op']).code, 2);
  assert.is(cli(['frobnicate']).code, 2);
  assert.is(cli(['verify', '--cases', 'x']).code, 2);
});

test('CLI: ops lists every registered op; demo bf16 prints computed lines', () => {
  const o = cli(['ops', '--json']);
  assert.is(o.code, 0);
  const names = JSON.parse(o.out).map((x: { name: string }) => x.name);
  for (const n of ['bf16.from_f32', 'bf16.from_f64', 'bf16.to_f32', 'bf16.add', 'bf16.sub', 'bf16.mul', 'bf16.div', 'bf16.sqrt', 'bf16.fma']) assert.ok(names.includes(n), n);
  const d = cli(['demo', 'bf16']);
  assert.is(d.code, 0);
  assert.match(d.out, /256 \+ 1 in bf16\s+= 0x4380 = 256/);
  assert.match(d.out, /bf16 accumulator\s+= 256/);
});

test.run();

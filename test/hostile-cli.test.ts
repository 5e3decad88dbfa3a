// Hostile input to gen / eval / verify: every problem is one line naming it, a documented exit
// code, no stack trace, and the other lines still get their results.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../ops/index.ts';
import { getOp } from '../ops/registry.ts';
import { offendingIndices } from '../ops/compare.ts';
import { evalLine } from '../ops/cases.ts';
import { tensor } from '../io/tensor.ts';
import { parameterCount, parameterShapes, parseConfig } from '../reference/model/config.ts';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-hostile-'));
const cli = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), ...args], { input, encoding: 'utf8', cwd: dir, maxBuffer: 1 << 26 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const at = (p: string) => join(dir, p);
const noTrace = (s: string) => assert.not.match(s, /\n\s+at |INTERNAL|internal error/, `a stack trace or an internal error:\n${s}`);
const lines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l));

const firstAdd = JSON.parse(cli(['gen', '--op', 'bf16.add']).out.split('\n')[0]);
const addCase = (id: number | string) => structuredClone({ ...firstAdd, id });

test('verify: result lines whose out is a number, a string or true are bad results, not a crash', () => {
  const c = addCase('a');
  writeFileSync(at('c.jsonl'), [JSON.stringify(c), JSON.stringify({ ...c, id: 'b' }), JSON.stringify({ ...c, id: 'c' })].join('\n') + '\n');
  writeFileSync(at('r.jsonl'), ['{"id": "a", "out": 5}', '{"id": "b", "out": "x"}', '{"id": "c", "out": true}'].join('\n') + '\n');
  const v = cli(['verify', '--cases', 'c.jsonl', '--results', 'r.jsonl', '--json']);
  assert.is(v.code, 1);
  noTrace(v.err);
  const s = JSON.parse(v.out);
  assert.is(s.badResults, 3);
  assert.is(s.failed, 3);
});

test('--jobs beyond 4 × the CPUs is a usage error naming the limit, for eval and verify, before any work', () => {
  for (const args of [['eval', '--jobs', '100000'], ['verify', '--cases', 'c.jsonl', '--results', 'r.jsonl', '--jobs', '100000']]) {
    const r = cli(args, '');
    assert.is(r.code, 2);
    assert.match(r.err, /--jobs must be ≤ \d+ \(4 × the \d+ CPUs here/);
    noTrace(r.err);
  }
});

test('verify: a folder as --cases or --results is one line, exit 2', () => {
  mkdirSync(at('folder'), { recursive: true });
  for (const args of [['--cases', 'folder', '--results', 'r.jsonl'], ['--cases', 'c.jsonl', '--results', 'folder']]) {
    const v = cli(['verify', ...args]);
    assert.is(v.code, 2);
    assert.match(v.err, /not a regular file/);
    assert.is(v.err.trim().split('\n').length, 1);
  }
});

test('verify checks the inputs of cases that carry expect: a missing input, a bad checkpoint, a NaN query fail as bad cases', () => {
  const add = addCase('missing-b');
  delete add.in.b;
  const model = JSON.parse(cli(['gen', '--op', 'model.forward']).out.split('\n')[0]);
  const badModel = { ...model, id: 'bad-checkpoint', args: { ...model.args, checkpoint: 'no/such/folder' } };
  const att = JSON.parse(cli(['gen', '--op', 'attention.forward']).out.split('\n')[3]);
  const q = Buffer.from(att.in.q.b64, 'base64');
  if (att.in.q.dtype === 'bf16') q.writeUInt16LE(0x7fc0, 0);
  else if (att.in.q.dtype === 'f32') q.writeFloatLE(NaN, 0);
  else q.writeDoubleLE(NaN, 0);
  const nanAtt = { ...att, id: 'nan-q', in: { ...att.in, q: { ...att.in.q, b64: q.toString('base64') } } };
  const cases = [add, badModel, nanAtt];
  writeFileSync(at('e.jsonl'), cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
  // results equal to the expectations: they would "pass" if the cases were not checked
  writeFileSync(at('er.jsonl'), cases.map((c) => JSON.stringify({ id: c.id, out: c.expect })).join('\n') + '\n');
  const v = cli(['verify', '--cases', 'e.jsonl', '--results', 'er.jsonl', '--json', '--jobs', '1']);
  assert.is(v.code, 1, v.err);
  noTrace(v.err);
  const s = JSON.parse(v.out);
  assert.is(s.badCases, 3, v.err);
  assert.match(v.err, /missing input tensor "b"/);
  assert.match(v.err, /no\/such\/folder/);
  assert.match(v.err, /non-finite/);
});

test('names that are Object properties are unknown names: args constructor / toString / __proto__, an input named __proto__', () => {
  const input = [
    '{"id":1,"op":"bf16.add","args":{"constructor":1}}',
    '{"id":2,"op":"bf16.add","args":{"toString":"x"}}',
    '{"id":3,"op":"bf16.add","args":{"__proto__":{}}}',
    '{"id":4,"op":"bf16.to_f32","in":{"__proto__":{"dtype":"bf16","shape":[1],"b64":"AAA="}}}',
  ].join('\n');
  const e = cli(['eval', '--jobs', '1'], input);
  assert.is(e.code, 1);
  const r = lines(e.out);
  assert.is(r.length, 4);
  for (const x of r.slice(0, 3)) assert.match(x.error.message, /unknown argument/);
  assert.match(r[3].error.message, /unexpected input tensor "__proto__"/);
});

test('line framing: a BOM, CRLF, a lone CR between tokens and deep nesting; one result per case line, in order', () => {
  const good = JSON.stringify(addCase('g'));
  const deep = `{"id":"deep","op":"rope.inv_freq","args":{"dim":8,"base":10000,"scaling":${'{"a":'.repeat(10000)}1${'}'.repeat(10000)}}}`;
  const text = '\ufeff' + good + '\r\n' + good.replace('"id":"g"', '"id":"cr"').replace(',"op"', ',\r"op"') + '\n' + deep + '\n' + good.replace('"id":"g"', '"id":"last"') + '\n';
  writeFileSync(at('framing.jsonl'), text);
  const e = cli(['eval', 'framing.jsonl', '--jobs', '1']);
  noTrace(e.err);
  const r = lines(e.out);
  assert.equal(r.map((x) => x.id), ['g', 'cr', 'deep', 'last']);
  assert.ok(r[0].out && r[1].out && r[3].out);
  assert.is(r[2].error.code, 'BAD_JSON');
  assert.match(r[2].error.message, /nesting deeper than 512/);
});

test("drift's f32 contract refuses 0 and the negative of the oracle's deviation", () => {
  const tol = getOp('drift.shift').contract({ precision: 'f32' }).D;
  const want = tensor('f64', [], Float64Array.of(3e-7));
  const ctx = { args: {}, inputs: {}, expected: {} };
  for (const g of [0, -3e-7, 3e-8 * 0.9, 3e-6 * 1.1]) assert.equal(offendingIndices(tensor('f64', [], Float64Array.of(g)), want, tol, ctx), [0], `got ${g}`);
  for (const g of [3e-7, 3.1e-8, 2.9e-6, 1e-7]) assert.equal(offendingIndices(tensor('f64', [], Float64Array.of(g)), want, tol, ctx), [], `got ${g}`);
});

test('outputs that cannot be written: one line, exit 2, nothing left behind', () => {
  writeFileSync(at('afile'), 'x');
  for (const cmd of [
    ['eval', 'c.jsonl', '--out', 'no/such/dir/r.jsonl'],
    ['eval', 'c.jsonl', '--out', 'afile/r.jsonl'],
    ['gen', '--op', 'bf16.add', '--out', 'afile/c.jsonl'],
    ['gen', '--op', 'bf16.add', '--out', 'no/such/c.jsonl', '--tensors', 'sidecar'],
  ]) {
    const r = cli(cmd);
    assert.is(r.code, 2, cmd.join(' '));
    noTrace(r.err);
    assert.is(r.err.trim().split('\n').length, 1, r.err);
    assert.match(r.err, /cannot write/);
  }
  assert.is(readFileSync(at('afile'), 'utf8'), 'x');
});

test('bad flags are one line and the usage, exit 2: a negative value, an unknown option, a bad shard, jobs 0, a bad size', () => {
  for (const [args, msg] of [
    [['gen', '--op', 'bf16.add', '--n', '-5'], /--n must be an integer ≥ 0, got -5/],
    [['gen', '--op', 'bf16.add', '--bogus'], /Unknown option '--bogus'/],
    [['eval', 'c.jsonl', '--shard', '0/2'], /--shard must be i\/n with 1 ≤ i ≤ n/],
    [['eval', 'c.jsonl', '--jobs', '0'], /--jobs must be an integer ≥ 1/],
    [['eval', 'c.jsonl', '--max-memory', 'lots'], /--max-memory must be a size/],
  ] as const) {
    const r = cli([...args]);
    assert.is(r.code, 2, args.join(' '));
    assert.match(r.err, msg);
    assert.is(r.err.trim().split('\n').length, 2, r.err); // the message and the usage
  }
});

test('attention.block_mask at L = 200,000: blocks of 128 in seconds (not O(L²)), blocks of 1 refused before any work', () => {
  const L = 200_000;
  const ids = Int32Array.from({ length: L }, (_, i) => 1 + Math.floor(i / 3000));
  const doc = { dtype: 'i32', shape: [L], b64: Buffer.from(ids.buffer).toString('base64') };
  const input = [128, 1].map((B) => JSON.stringify({ id: `B${B}`, op: 'attention.block_mask', args: { variant: 'anchor', block_size: B }, in: { doc_ids: doc } })).join('\n');
  const t = Date.now();
  const e = cli(['eval', '--jobs', '1'], input);
  assert.ok(Date.now() - t < 20_000, `took ${Date.now() - t} ms`);
  const r = lines(e.out);
  assert.equal(r[0].out.kind.shape, [1563, 1563]);
  assert.match(r[1].error.message, /200000×200000 kind tensor \(37\.3 GiB\); use a larger block_size/);
});

test('absurd RoPE scaling fields are refused, not turned into NaN or nonsense', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ rope_type: 'yarn', factor: -1 }, /factor must be > 0/],
    [{ rope_type: 'yarn', factor: 4, original_max_position_embeddings: 0 }, /original_max_position_embeddings must be a positive integer/],
    [{ rope_type: 'yarn', factor: 4, original_max_position_embeddings: 4096, beta_fast: -32 }, /beta_fast must be > 0/],
    [{ rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 }, /high_freq_factor > low_freq_factor/],
  ];
  const input = bad.map(([scaling], i) => JSON.stringify({ id: i, op: 'rope.inv_freq', args: { dim: 8, base: 10000, max_position_embeddings: 65536, scaling } })).join('\n');
  const r = lines(cli(['eval', '--jobs', '1'], input).out);
  bad.forEach(([, msg], i) => assert.match(r[i].error?.message ?? 'no error', msg));
});

test('a config.json with num_hidden_layers 1e9 is refused before anything is allocated; parameterCount equals the listed shapes', () => {
  mkdirSync(at('huge'), { recursive: true });
  writeFileSync(at('huge/config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 64, num_attention_heads: 4, intermediate_size: 96, num_hidden_layers: 1e9, vocab_size: 100 }));
  const t = Date.now();
  const e = cli(['eval', '--jobs', '1'], JSON.stringify({ id: 1, op: 'model.forward', args: { checkpoint: at('huge'), precision: 'f32' }, in: { input_ids: { dtype: 'i32', shape: [1], b64: 'AAAAAA==' } } }));
  assert.ok(Date.now() - t < 10_000);
  assert.match(lines(e.out)[0].error.message, /parameters \(.* GiB as float64 values\) do not fit in this machine/);
  for (const extra of [{}, { attention_bias: true, mlp_bias: true, tie_word_embeddings: true }, { architectures: ['Qwen2ForCausalLM'] }]) {
    const cfg = parseConfig({ architectures: ['LlamaForCausalLM'], hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 96, num_hidden_layers: 3, vocab_size: 100, ...extra });
    assert.is(parameterCount(cfg), parameterShapes(cfg).reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0), JSON.stringify(extra));
  }
});

test('a bad case does not end the run: no q, an expect without lse, rows with a full-size expect, i64 rows past int32', () => {
  const att = JSON.parse(cli(['gen', '--op', 'attention.forward', '--L', '40', '--Hq', '2', '--D', '4', '--variant', 'full', '--precision', 'f32']).out.trim());
  const noq = { ...structuredClone(att), id: 'noq' };
  delete noq.in.q;
  const nolse = { ...structuredClone(att), id: 'nolse' };
  delete nolse.expect.lse;
  const rowsFull = { ...structuredClone(att), id: 'rows-full-expect', in: { ...att.in, rows: { dtype: 'i32', shape: [2], b64: Buffer.from(Int32Array.of(5, 6).buffer).toString('base64') } } };
  const big = (id: string, n: number) => ({ ...structuredClone(att), id, expect: undefined, in: { ...att.in, rows: { dtype: 'i64', shape: [n], b64: Buffer.from(BigInt64Array.from({ length: n }, (_, i) => (i === 0 ? 2n ** 32n + 5n : BigInt(i % 40))).buffer).toString('base64') } } });
  const cases = [att, noq, nolse, rowsFull, big('wrap-small', 7), big('wrap-large', 1030)];
  writeFileSync(at('bad-cases.jsonl'), cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
  // eval: one line each, the bad ones errors naming the problem, no INTERNAL
  for (const jobs of ['1', '2']) {
    const e = cli(['eval', 'bad-cases.jsonl', '--jobs', jobs]);
    noTrace(e.err);
    const r = lines(e.out);
    assert.equal(r.map((x) => x.id), cases.map((c) => c.id));
    assert.ok(r[0].out);
    assert.match(r[1].error.message, /missing input tensor "q"/);
    assert.match(r[4].error.message, /rows\[0\] = 4294967301 is outside the window \[0, 40\)/);
    assert.match(r[5].error.message, /rows\[0\] = 4294967301 is outside the window \[0, 40\)/);
  }
  // verify: the good case passes, the bad ones are bad cases, exit 1 (not 2), a report
  writeFileSync(at('bad-results.jsonl'), cases.map((c) => JSON.stringify({ id: c.id, out: att.expect })).join('\n') + '\n');
  for (const jobs of ['1', '2']) {
    const v = cli(['verify', '--cases', 'bad-cases.jsonl', '--results', 'bad-results.jsonl', '--json', '--jobs', jobs, '--max-report', '50']);
    assert.is(v.code, 1, v.err);
    noTrace(v.err);
    const s = JSON.parse(v.out);
    assert.is(s.passed, 1);
    assert.is(s.badCases, 5, v.err);
    assert.match(v.err, /expect lacks output "lse"/);
    assert.match(v.err, /expect\.out has shape \[2,40,4\]: 40 rows on axis 1 where the case gives 2/);
  }
});

test('verify --shard: stray result lines are counted once in merged summaries; a case id repeated across shards is a duplicate', () => {
  const a = addCase('a');
  const lines3 = [a, { ...a, id: 'b' }, { ...a, id: 'a' }].map((c) => JSON.stringify(c));
  writeFileSync(at('sh.jsonl'), lines3.join('\n') + '\n');
  writeFileSync(at('sh-r.jsonl'), [JSON.stringify({ id: 'a', out: a.expect }), JSON.stringify({ id: 'b', out: a.expect }), JSON.stringify({ id: 'stray', out: a.expect }), 'not json'].join('\n') + '\n');
  const whole = JSON.parse(cli(['verify', '--cases', 'sh.jsonl', '--results', 'sh-r.jsonl', '--json']).out);
  const parts = [1, 2, 3].map((i) => {
    const v = cli(['verify', '--cases', 'sh.jsonl', '--results', 'sh-r.jsonl', '--json', '--shard', `${i}/3`]);
    writeFileSync(at(`sh${i}.json`), v.out);
    return JSON.parse(v.out);
  });
  const merged = JSON.parse(cli(['verify', '--merge', 'sh1.json', 'sh2.json', 'sh3.json', '--json']).out);
  for (const k of ['extra', 'badResults', 'duplicates', 'passed', 'failed']) assert.is(merged[k], whole[k], k);
  assert.is(whole.extra, 1);
  assert.is(whole.duplicates, 1);
  assert.is(parts[2].duplicates, 1, 'shard 3 holds the second "a"');
});

test('outputs: a folder or a FIFO as --out is refused before any work; a symlink is written through; a FIFO sidecar is refused, not waited on', () => {
  mkdirSync(at('outdir'), { recursive: true });
  spawnSync('mkfifo', [at('fifo')]);
  for (const out of ['outdir', 'fifo']) {
    const r = cli(['gen', '--op', 'bf16.add', '--out', out]);
    assert.is(r.code, 2);
    assert.match(r.err, /it is a folder|not a regular file/);
  }
  writeFileSync(at('real.jsonl'), 'old');
  spawnSync('ln', ['-sf', 'real.jsonl', at('link.jsonl')]);
  assert.is(cli(['gen', '--op', 'bf16.add', '--out', 'link.jsonl']).code, 0);
  assert.ok(readFileSync(at('real.jsonl'), 'utf8').startsWith('{"id"'), 'the link target was written');
  assert.ok(lstatSync(at('link.jsonl')).isSymbolicLink(), 'the link is still a link');
  const fifoCase = { id: 'f', op: 'bf16.to_f32', in: { x: { dtype: 'bf16', shape: [1], file: 'fifo', key: 'k' } } };
  const e = spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), 'eval', '--jobs', '1'], { input: JSON.stringify(fifoCase), encoding: 'utf8', cwd: dir, timeout: 20_000 });
  assert.is(e.signal, null, 'eval waited on the FIFO');
  assert.match(JSON.parse(e.stdout).error.message, /not a regular file/);
});

test('an interrupted gen leaves no temporary files', () => {
  mkdirSync(at('int'), { recursive: true });
  const child = spawn(process.execPath, [join(root, 'bin/anchor-oracle.js'), 'gen', '--op', 'attention.forward', '--L', '65536', '--Hq', '8', '--D', '128', '--n', '4', '--no-expect', '--tensors', 'sidecar', '--out', 'int/k.jsonl'], { cwd: dir });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !readdirSync(at('int')).some((f) => f.endsWith('.tmp'))) spawnSync('sleep', ['0.1']);
  assert.ok(readdirSync(at('int')).some((f) => f.endsWith('.tmp')), 'the run started writing');
  child.kill('SIGINT');
  const t = Date.now();
  // up to 30 s: a loaded 2-core CI machine can take a while to unwind (a clean exit is usually < 1 s)
  while (child.exitCode === null && child.signalCode === null && Date.now() - t < 30_000) spawnSync('sleep', ['0.1']);
  spawnSync('sleep', ['0.3']);
  assert.equal(readdirSync(at('int')), [], 'temporary files removed, no partial output');
});

test('verify reads 40 sidecars with 48 open files allowed (sidecars are closed when too many are open)', () => {
  mkdirSync(at('many'), { recursive: true });
  const cases: string[] = [];
  for (let i = 0; i < 40; i++) {
    const r = cli(['gen', '--op', 'bf16.to_f32', '--n', '1', '--tensors', 'sidecar', '--out', `many/c${i}.jsonl`, '--id-prefix', `c${i}/`]);
    assert.is(r.code, 0, r.err);
    cases.push(...readFileSync(at(`many/c${i}.jsonl`), 'utf8').trim().split('\n'));
  }
  writeFileSync(at('many/all.jsonl'), cases.join('\n') + '\n');
  assert.is(cli(['eval', 'many/all.jsonl', '--out', 'many/r.jsonl', '--jobs', '1']).code, 0);
  const v = spawnSync('bash', ['-c', `ulimit -n 48 && exec "$0" "$1" verify --cases many/all.jsonl --results many/r.jsonl --jobs 1`, process.execPath, join(root, 'bin/anchor-oracle.js')], { cwd: dir, encoding: 'utf8' });
  assert.match(v.stdout, new RegExp(`${cases.length} cases, ${cases.length} passed, 0 failed`), v.stdout + v.stderr);
});

test('the library path (evalLine, JSON.parse) refuses an argument nested 10,000 deep in one line, no stack overflow', () => {
  const deep = `{"id":"deep","op":"rope.inv_freq","args":{"dim":8,"base":10000,"scaling":${'{"a":'.repeat(10000)}1${'}'.repeat(10000)}}}`;
  const r = evalLine(deep);
  assert.ok('error' in r);
  assert.is(r.error.code, 'BAD_ARGS');
  assert.match(r.error.message, /nests deeper than 32 levels/);
});

test('a folder named model.safetensors is one line, not INTERNAL', () => {
  mkdirSync(at('ckpt/model.safetensors'), { recursive: true });
  writeFileSync(at('ckpt/config.json'), readFileSync(join(root, 'checkpoints/llama/config.json')));
  const r = lines(cli(['eval', '--jobs', '1'], JSON.stringify({ id: 1, op: 'model.forward', args: { checkpoint: at('ckpt'), precision: 'f32' }, in: { input_ids: { dtype: 'i32', shape: [1], b64: 'AAAAAA==' } } })).out);
  assert.match(r[0].error.message, /model\.safetensors: not a regular file/);
});

test('eval --out on a full disk (a 64 KiB file-size limit): exit 2 naming the write, no file and no temporary left, an earlier file kept', () => {
  mkdirSync(at('full'), { recursive: true });
  writeFileSync(at('full/r.jsonl'), 'earlier');
  assert.is(cli(['gen', '--op', 'bf16.fma', '--out', 'full/c.jsonl']).code, 0); // about 1 MB of results
  const r = spawnSync('bash', ['-c', 'ulimit -f 64 && exec "$0" "$1" eval full/c.jsonl --out full/r.jsonl --jobs 1', process.execPath, join(root, 'bin/anchor-oracle.js')], { cwd: dir, encoding: 'utf8' });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /cannot write .*full\/r\.jsonl: EFBIG/);
  noTrace(r.stderr);
  assert.equal(readdirSync(at('full')).sort(), ['c.jsonl', 'r.jsonl']);
  assert.is(readFileSync(at('full/r.jsonl'), 'utf8'), 'earlier');
});

test('--version, help CMD, and "did you mean" for a mistyped command, op or flag', () => {
  const v = cli(['--version']);
  assert.is(v.code, 0);
  assert.match(v.out, /^anchor-oracle \d+\.\d+\.\d+\n$/);
  const h = cli(['help', 'gen']);
  assert.is(h.code, 0);
  assert.match(h.out, /^anchor-oracle gen --op OP/);
  assert.is(h.out, cli(['gen', '--help']).out);
  assert.match(cli(['vrify']).err, /unknown command "vrify" \(did you mean "verify"\?\)/);
  assert.match(cli(['gen', '--op', 'bf16.ad']).err, /unknown op "bf16.ad" \(did you mean "bf16.add"\?\)/);
  assert.match(cli(['gen', '--op', 'bf16.add', '--sead', '3']).err, /Unknown option '--sead' \(did you mean --seed\?\)/);
  assert.not.match(cli(['gen', '--op', 'bf16.add', '--zzzzzz', '3']).err, /did you mean/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();

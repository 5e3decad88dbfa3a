// Conformance at long context, end to end through the CLI: tensors of any size inline and
// as sidecars, attention rows, verify with sampled rows, matching by id, skip lines, shards,
// job counts and the memory budget.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import '../ops/index.ts';
import { runOp } from '../ops/registry.ts';
import { gatherAxis } from '../ops/rows.ts';
import { JsonlWriter } from '../io/line-writer.ts';
import { openSafetensors } from '../io/safetensors.ts';
import { alloc, tensor, type Tensor } from '../io/tensor.ts';
import { PRECISIONS, inputRounding } from '../reference/attention.ts';
import { docIdsFromLengths, VARIANTS } from '../reference/masks.ts';
import { Rng } from '../reference/rng.ts';
import { fromF32 } from '../reference/bf16.ts';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-scale-'));
const cli = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), ...args], { input, encoding: 'utf8', cwd: dir, maxBuffer: 1 << 26 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const at = (p: string) => join(dir, p);
const readLines = (p: string) => readFileSync(at(p), 'utf8').trim().split('\n');
const writeLines = (p: string, lines: string[]) => writeFileSync(at(p), lines.join('\n') + '\n');

test('a 64 MiB tensor case round-trips inline and as a sidecar: gen-style write, eval, verify; a flipped bit fails', () => {
  const n = 32 << 20; // 32 Mi bf16 elements = 64 MiB
  const x = alloc('bf16', [n]);
  const rng = new Rng(7);
  for (let i = 0; i < n; i += 4096) x.data[i] = rng.uint32() & 0xffff;
  for (const mode of ['inline', 'sidecar'] as const) {
    const w = new JsonlWriter(at(`big-${mode}.jsonl`), mode);
    w.write({ id: 'big', op: 'bf16.to_f32', args: {}, in: { x } });
    w.write({ id: 'small', op: 'bf16.to_f32', args: {}, in: { x: tensor('bf16', [2], Uint16Array.of(0x3f80, 0xffc1)) } });
    w.close();
  }
  assert.ok(statSync(at('big-inline.jsonl')).size > 64 << 20, 'the inline line holds > 64 MiB of base64');
  assert.ok(statSync(at('big-sidecar.safetensors')).size >= 64 << 20);
  assert.ok(statSync(at('big-sidecar.jsonl')).size < 4096, 'sidecar lines are small');
  // one file holding both kinds: the big case from the sidecar file, the small one inline
  writeLines('big-mixed.jsonl', [readLines('big-sidecar.jsonl')[0], readFileSync(at('big-inline.jsonl'), 'utf8').split('\n')[1]]);
  for (const [cases, mode] of [['big-inline.jsonl', 'inline'], ['big-sidecar.jsonl', 'sidecar'], ['big-sidecar.jsonl', 'inline'], ['big-mixed.jsonl', 'sidecar']] as const) {
    const e = cli(['eval', cases, '--out', 'big-results.jsonl', '--tensors', mode, '--jobs', '1']);
    assert.is(e.code, 0, e.err);
    const v = cli(['verify', '--cases', cases, '--results', 'big-results.jsonl', '--jobs', '1']);
    assert.is(v.code, 0, v.out + v.err);
    assert.match(v.out, /2 cases, 2 passed, 0 failed/);
  }
  // flip one bit of the big output in a sidecar result: verify names the element
  cli(['eval', 'big-sidecar.jsonl', '--out', 'flip.jsonl', '--tensors', 'sidecar', '--jobs', '1']);
  const st = openSafetensors(at('flip.safetensors'));
  const pos = st.dataStart + st.entries.get('c0.out.y')!.begin + 12288 * 4; // element 12288 of the f32 y
  st.close();
  const fd = openSync(at('flip.safetensors'), 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, pos);
  b[0] ^= 0x01;
  writeSync(fd, b, 0, 1, pos);
  closeSync(fd);
  const v = cli(['verify', '--cases', 'big-sidecar.jsonl', '--results', 'flip.jsonl', '--jobs', '1']);
  assert.is(v.code, 1, v.out);
  assert.match(v.out, /out\.y\[12288\] got 0x/);
});

test('attention.forward rows: equal to the matching rows of the full forward, bit for bit, every variant and precision', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 9 }), fc.integer(), (L, Hkv, group, D, seed) => {
      const rng = new Rng(seed);
      const Hq = Hkv * group;
      const ids = Int32Array.from({ length: L }, (_, t) => (t === 0 ? 0 : 1 + Math.floor(rng.float() * 3)));
      const rows = Int32Array.from({ length: 1 + rng.int(0, L + 2) }, () => rng.int(0, L - 1)); // any order, repeats
      for (const variant of VARIANTS)
        for (const precision of PRECISIONS) {
          const r = inputRounding(precision);
          const make = (H: number): Tensor => {
            const t = alloc(precision === 'f64' ? 'f64' : precision === 'f32' ? 'f32' : 'bf16', [H, L, D]);
            for (let i = 0; i < t.data.length; i++) {
              const v = r(rng.normal() * 2);
              t.data[i] = t.dtype === 'bf16' ? fromF32(v) : v;
            }
            return t;
          };
          const inputs = { q: make(Hq), k: make(Hkv), v: make(Hkv), doc_ids: tensor('i32', [L], ids) };
          const args = { variant, precision };
          const full = runOp('attention.forward', args, inputs);
          const part = runOp('attention.forward', args, { ...inputs, rows: tensor('i32', [rows.length], rows) });
          for (const name of ['out', 'lse']) {
            const want = gatherAxis(full[name], 1, rows);
            assert.equal(part[name].shape, want.shape, `${variant}/${precision} ${name} shape`);
            assert.ok(Buffer.from(part[name].data.buffer).equals(Buffer.from(want.data.buffer)), `${variant}/${precision} ${name}: rows ${rows} differ`);
          }
        }
    }),
    { numRuns: 25, seed: 11 },
  );
  assert.throws(() => runOp('attention.forward', { variant: 'full', precision: 'f64' }, { q: alloc('f64', [1, 4, 2]), k: alloc('f64', [1, 4, 2]), v: alloc('f64', [1, 4, 2]), doc_ids: alloc('i32', [4]), rows: tensor('i32', [1], Int32Array.of(4)) }), /rows\[0\] = 4 is outside the window \[0, 4\)/);
});

test('verify --sample-rows catches a result wrong in one document of a 16K-token sequence, and says which rows', () => {
  const L = 16384;
  const lengths = Array.from({ length: 16 }, () => 1024);
  const ids = docIdsFromLengths(lengths);
  const rng = new Rng(3);
  const rand = (shape: number[]) => {
    const t = alloc('bf16', shape);
    for (let i = 0; i < t.data.length; i++) t.data[i] = fromF32(rng.normal());
    return t;
  };
  const inputs = { q: rand([2, L, 16]), k: rand([1, L, 16]), v: rand([1, L, 16]), doc_ids: tensor('i32', [L], ids) };
  const args = { variant: 'intra_doc', precision: 'bf16_flash' };
  const w = new JsonlWriter(at('long.jsonl'), 'sidecar');
  w.write({ id: 'doc16', op: 'attention.forward', args, in: inputs });
  w.close();
  const out = runOp('attention.forward', args, inputs);
  const good = new JsonlWriter(at('long-good.jsonl'), 'sidecar');
  good.write({ id: 'doc16', out });
  good.close();
  // document 7 (rows 7168..8191) computed wrongly: every value of its rows of head 1 nudged up one bf16 step
  const bad = alloc('bf16', out.out.shape);
  bad.data.set(out.out.data as Uint16Array);
  for (let r = 7 * 1024; r < 8 * 1024; r++) for (let d = 0; d < 16; d++) bad.data[(L + r) * 16 + d] += 1;
  const wb = new JsonlWriter(at('long-bad.jsonl'), 'sidecar');
  wb.write({ id: 'doc16', out: { out: bad, lse: out.lse } });
  wb.close();
  const ok = cli(['verify', '--cases', 'long.jsonl', '--results', 'long-good.jsonl', '--sample-rows', '24', '--jobs', '1']);
  assert.is(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /sampled rows: 24 of 16384 query rows per head checked in 1 case/);
  const v = cli(['verify', '--cases', 'long.jsonl', '--results', 'long-bad.jsonl', '--sample-rows', '24', '--jobs', '1']);
  assert.is(v.code, 1, v.out);
  const m = /mismatches in (\d+) of the 24 sampled rows: ([\d, ]+)/.exec(v.out);
  assert.ok(m, v.out);
  const rows = m![2].split(', ').map(Number);
  assert.ok(rows.includes(7168), 'the document\'s first row is always sampled');
  for (const r of rows) assert.ok(r >= 7168 && r < 8192, `row ${r} is outside the wrong document`);
  assert.match(v.out, /out\.out\[1,71\d\d,\d+\] got 0x/);
});

test('verify matches results by id: shuffled results pass; missing, extra, duplicate and unreadable results are reported; skip lines are counted apart', () => {
  assert.is(cli(['gen', '--op', 'bf16.mul', '--seed', '2', '--out', 'mul.jsonl']).code, 0);
  assert.is(cli(['eval', 'mul.jsonl', '--out', 'mul-r.jsonl', '--jobs', '1']).code, 0);
  const res = readLines('mul-r.jsonl');
  const shuffled = [...res].reverse();
  writeLines('shuffled.jsonl', shuffled);
  let v = cli(['verify', '--cases', 'mul.jsonl', '--results', 'shuffled.jsonl']);
  assert.is(v.code, 0, v.out);
  // one skipped, one missing, one duplicated, one extra, one hostile
  const ids = res.map((l) => JSON.parse(l).id);
  const edited = [...res];
  edited[0] = JSON.stringify({ id: ids[0], skip: 'bf16 subnormals not supported' });
  edited.splice(1, 1);
  edited.push(res[2]);
  edited.push(JSON.stringify({ id: 'nobody', out: {} }));
  edited[5] = JSON.stringify({ id: ids[6], out: 5 });
  edited.push('{"id": 9999999, "out": {"y": {"dtype": "bf16"');
  writeLines('edited.jsonl', edited);
  v = cli(['verify', '--cases', 'mul.jsonl', '--results', 'edited.jsonl', '--json', '--max-report', '50']);
  assert.is(v.code, 1, v.err);
  const s = JSON.parse(v.out);
  assert.is(s.skipped, 1);
  assert.equal(s.skipReasons, { 'bf16 subnormals not supported': 1 });
  assert.is(s.missing, 1);
  assert.is(s.duplicates, 1);
  assert.is(s.extra, 1);
  assert.is(s.badResults, 2); // "out": 5, and the truncated line
  assert.is(s.passed, ids.length - 4);
  assert.match(v.err, /"out" must be an object of tensors/);
  assert.match(v.err, /2 result lines have this id/);
  assert.match(v.err, /id "nobody" matches no case/);
  // skipped cases alone do not fail a run
  const skipAll = res.map((l) => JSON.stringify({ id: JSON.parse(l).id, skip: 'no' }));
  writeLines('skip.jsonl', skipAll);
  v = cli(['verify', '--cases', 'mul.jsonl', '--results', 'skip.jsonl']);
  assert.is(v.code, 0, v.out);
  assert.match(v.out, /0 passed, 0 failed, \d+ skipped/);
  // a folder given as a file: one clear line, exit 2
  v = cli(['verify', '--cases', '.', '--results', 'mul-r.jsonl']);
  assert.is(v.code, 2);
  assert.match(v.err, /not a regular file/);
});

test('tolerance failures print the bound, the error and their ratio', () => {
  assert.is(cli(['gen', '--op', 'attention.forward', '--seed', '1', '--out', 'att.jsonl']).code, 0);
  assert.is(cli(['eval', 'att.jsonl', '--out', 'att-r.jsonl', '--jobs', '1']).code, 0);
  const lines = readLines('att-r.jsonl');
  const cases = readLines('att.jsonl').map((l) => JSON.parse(l));
  const k = cases.findIndex((c) => c.args.precision === 'f32' && c.in.q.shape[1] > 4);
  const r = JSON.parse(lines[k]);
  const lse = Buffer.from(r.out.lse.b64, 'base64');
  new DataView(lse.buffer, lse.byteOffset).setFloat32(0, new DataView(lse.buffer, lse.byteOffset).getFloat32(0, true) + 0.5, true);
  r.out.lse.b64 = lse.toString('base64');
  lines[k] = JSON.stringify(r);
  writeLines('att-bad.jsonl', lines);
  const v = cli(['verify', '--cases', 'att.jsonl', '--results', 'att-bad.jsonl']);
  assert.is(v.code, 1);
  assert.match(v.out, /out\.lse\[0,0\] got 0x[0-9A-F]{8} \(.*\) want .*: error 0\.5\d* > bound [\d.e-]+ \(×[\d.e+]+\)/);
});

test('shards: gen/eval/verify --shard i/n cover every case once; verify --merge adds the summaries and notices a missing shard', () => {
  for (const i of [1, 2, 3]) assert.is(cli(['gen', '--op', 'bf16.add', '--seed', '4', '--shard', `${i}/3`, '--out', `g${i}.jsonl`]).code, 0);
  assert.is(cli(['gen', '--op', 'bf16.add', '--seed', '4', '--out', 'g.jsonl']).code, 0);
  const whole = readLines('g.jsonl');
  const parts = [1, 2, 3].flatMap((i) => readLines(`g${i}.jsonl`));
  assert.equal([...parts].sort(), [...whole].sort(), 'the shards of gen are a partition of the whole');
  for (const i of [1, 2, 3]) assert.is(cli(['eval', 'g.jsonl', '--shard', `${i}/3`, '--out', `r${i}.jsonl`, '--jobs', '1']).code, 0);
  writeLines('r.jsonl', [1, 2, 3].flatMap((i) => readLines(`r${i}.jsonl`)));
  assert.is(cli(['verify', '--cases', 'g.jsonl', '--results', 'r.jsonl']).code, 0, 'the concatenated shard results verify as a whole');
  for (const i of [1, 2, 3]) {
    const v = cli(['verify', '--cases', 'g.jsonl', '--results', `r${i}.jsonl`, '--shard', `${i}/3`, '--json']);
    assert.is(v.code, 0, v.err);
    writeFileSync(at(`s${i}.json`), v.out);
  }
  const m = cli(['verify', '--merge', 's1.json', 's2.json', 's3.json']);
  assert.is(m.code, 0, m.out);
  assert.match(m.out, new RegExp(`${whole.length} cases, ${whole.length} passed, 0 failed`));
  const missing = cli(['verify', '--merge', 's1.json', 's3.json']);
  assert.is(missing.code, 1);
  assert.match(missing.out, /shard 2\/3 is missing/);
});

test('--jobs 2 gives the same output as --jobs 1 (eval bytes, verify report)', () => {
  assert.is(cli(['gen', '--op', 'attention.forward', '--seed', '5', '--level', '2', '--out', 'j.jsonl']).code, 0);
  const lines = readLines('j.jsonl');
  lines.splice(3, 0, '{"id": "broken", "op": "attention.forward", "args": {}}', 'not json');
  writeLines('j2.jsonl', lines);
  const a = cli(['eval', 'j2.jsonl', '--out', 'ja.jsonl', '--jobs', '1']);
  const b = cli(['eval', 'j2.jsonl', '--out', 'jb.jsonl', '--jobs', '2']);
  assert.is(a.code, 1);
  assert.is(b.code, 1);
  assert.is(readFileSync(at('ja.jsonl'), 'utf8'), readFileSync(at('jb.jsonl'), 'utf8'));
  const r = readLines('ja.jsonl');
  r[7] = r[8];
  writeLines('jbad.jsonl', r);
  const va = cli(['verify', '--cases', 'j2.jsonl', '--results', 'jbad.jsonl', '--jobs', '1', '--sample-rows', '3']);
  const vb = cli(['verify', '--cases', 'j2.jsonl', '--results', 'jbad.jsonl', '--jobs', '2', '--sample-rows', '3']);
  assert.is(va.code, 1);
  assert.is(va.out, vb.out);
});

test('--jobs 2 cuts a long attention case into row parts: eval bytes and verify reports equal to --jobs 1', () => {
  // L = 2100: rows × keys over the split threshold, so each case is computed by both workers
  const g = cli(['gen', '--op', 'attention.forward', '--L', '2100', '--D', '8', '--Hq', '2', '--variant', 'anchor,full', '--precision', 'bf16_flash,f32', '--docs', 'uniform:3', '--no-expect', '--tensors', 'sidecar', '--out', 'split.jsonl']);
  assert.is(g.code, 0, g.err);
  const a = cli(['eval', 'split.jsonl', '--out', 'split-a.jsonl', '--jobs', '1']);
  const b = cli(['eval', 'split.jsonl', '--out', 'split-b.jsonl', '--jobs', '2']);
  assert.is(a.code, 0, a.err);
  assert.is(b.code, 0, b.err);
  assert.is(readFileSync(at('split-a.jsonl'), 'utf8'), readFileSync(at('split-b.jsonl'), 'utf8'));
  // a wrong value in case 0 (anchor, bf16_flash): both job counts report the same, sampled or not
  const lines = readLines('split-a.jsonl');
  const r = JSON.parse(lines[0]);
  const out = Buffer.from(r.out.out.b64, 'base64');
  out[2 * (1500 * 8) + 1] ^= 0x01; // head 0, row 1500, d 0: the exponent's low bit (×2 or ÷2)
  r.out.out.b64 = out.toString('base64');
  lines[0] = JSON.stringify(r);
  writeLines('split-bad.jsonl', lines);
  for (const sample of [[], ['--sample-rows', '40']]) {
    const va = cli(['verify', '--cases', 'split.jsonl', '--results', 'split-bad.jsonl', '--jobs', '1', ...sample]);
    const vb = cli(['verify', '--cases', 'split.jsonl', '--results', 'split-bad.jsonl', '--jobs', '2', ...sample]);
    assert.is(va.code, sample.length ? va.code : 1, va.out);
    assert.is(va.out, vb.out, `--jobs 1 and 2 differ ${sample.join(' ')}`);
  }
  const all = cli(['verify', '--cases', 'split.jsonl', '--results', 'split-bad.jsonl', '--jobs', '2']);
  assert.match(all.out, /out\.out\[0,1500,0\]/);
});

test('eval: a line over the memory budget gets an error line naming its size; the lines after it still get results', () => {
  const w = new JsonlWriter(at('budget.jsonl'));
  const small = tensor('bf16', [2], Uint16Array.of(0x3f80, 0x4000));
  w.write({ id: 1, op: 'bf16.to_f32', args: {}, in: { x: small } });
  w.write({ id: 2, op: 'bf16.to_f32', args: {}, in: { x: alloc('bf16', [1 << 20]) } });
  w.write({ id: 3, op: 'bf16.to_f32', args: {}, in: { x: small } });
  w.close();
  const e = cli(['eval', 'budget.jsonl', '--max-memory', '1M', '--jobs', '1']);
  assert.is(e.code, 1);
  const out = e.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(out.length, 3);
  assert.ok(out[0].out && out[2].out);
  assert.is(out[1].id, 2);
  assert.match(out[1].error.message, /bf16 \[1048576\] tensor \(2\.00 MiB\)/);
  assert.match(out[1].error.message, /memory budget of 1\.00 MiB/);
  // sidecar tensors count against the same budget
  const ws = new JsonlWriter(at('budget-sc.jsonl'), 'sidecar');
  ws.write({ id: 1, op: 'bf16.to_f32', args: {}, in: { x: small } });
  ws.write({ id: 2, op: 'bf16.to_f32', args: {}, in: { x: alloc('bf16', [1 << 20]) } });
  ws.write({ id: 3, op: 'bf16.to_f32', args: {}, in: { x: small } });
  ws.close();
  const es = cli(['eval', 'budget-sc.jsonl', '--max-memory', '1M', '--jobs', '1']);
  assert.is(es.code, 1);
  const outs = es.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(outs[0].out && outs[2].out);
  assert.match(outs[1].error.message, /bf16 \[1048576\] sidecar tensor \(2\.00 MiB\).*memory budget of 1\.00 MiB|memory budget of 1\.00 MiB.*bf16 \[1048576\] sidecar tensor \(2\.00 MiB\)/);
});

test('gen with size flags and --sample-rows: cases carry rows, expect holds those rows, eval and verify agree', () => {
  const g = cli(['gen', '--op', 'attention.forward', '--L', '3000', '--Hq', '2', '--Hkv', '1', '--D', '8', '--variant', 'anchor,full', '--precision', 'bf16_flash,f32', '--docs', 'uniform:5', '--sample-rows', '12', '--tensors', 'sidecar', '--out', 'sized.jsonl']);
  assert.is(g.code, 0, g.err);
  const cases = readLines('sized.jsonl').map((l) => JSON.parse(l));
  assert.is(cases.length, 4);
  for (const c of cases) {
    assert.is(c.in.q.shape.join(), '2,3000,8');
    assert.ok(c.in.rows.shape[0] >= 12, 'at least the asked rows (more when a document start is required)');
    assert.is(c.expect.out.shape.join(), `2,${c.in.rows.shape[0]},8`);
  }
  assert.is(cli(['eval', 'sized.jsonl', '--out', 'sized-r.jsonl', '--tensors', 'sidecar', '--jobs', '1']).code, 0);
  const v = cli(['verify', '--cases', 'sized.jsonl', '--results', 'sized-r.jsonl']);
  assert.is(v.code, 0, v.out + v.err);
  const bad = cli(['gen', '--op', 'bf16.add', '--L', '10']);
  assert.is(bad.code, 2);
  assert.match(bad.err, /takes no size flags|does not take/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();


// Hostile input and faults for the training / data / plotting side: bad input is one line
// naming the problem and the fix, exit 2, no stack trace; nothing already written is lost
// or half-written (a checkpoint killed or stopped by a full disk at any stage leaves the
// previous one loadable and no partial step folder, and resume removes the leftovers);
// nothing loops without bound (log-axis plots, symlink loops) or grows to GBs before failing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { newBadRows, readRawJson, readTokenized } from '../data/readers.ts';
import { makeSample } from '../data/long-context.ts';
import { listCorpusFiles } from '../data/corpus.ts';
import { ByteTokenizer } from '../data/tokenizer.ts';
import { loadLatestCheckpoint } from '../train/checkpoint.ts';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'anchor-oracle.js');
const child = join(import.meta.dirname, 'train-child.ts');
const tmp = mkdtempSync(join(tmpdir(), 'hostile-train-'));

interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** the CLI in a child process (a hang or an abort cannot take the test file down) */
function cli(args: string[], timeout = 30_000): Ran {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: tmp, encoding: 'utf8', timeout });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** exit 2 and, as the last line of stderr, one "anchor-oracle CMD: ..." line matching `re`: no stack, no "internal error" */
function oneLineError(r: Ran, re: RegExp, what: string): void {
  const lines = r.stderr.trimEnd().split('\n');
  const where = `${what}: status ${r.status} signal ${r.signal}\n${r.stderr}`;
  assert.is(r.status, 2, where);
  assert.not.match(r.stderr, /internal error|^\s+at /m, where);
  assert.is(lines.filter((l) => l.startsWith('anchor-oracle')).length, 1, where);
  assert.ok(lines[lines.length - 1].startsWith('anchor-oracle'), where);
  assert.match(lines[lines.length - 1], re, where);
}

function trainChild(out: string, killAt: number, resume: boolean, killIn = '', ulimitKiB?: number): Ran {
  const args = ['--import', 'tsx', child, out, String(killAt), resume ? 'resume' : '', killIn];
  const r =
    ulimitKiB === undefined
      ? spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 60_000 })
      : spawnSync('bash', ['-c', `ulimit -f ${ulimitKiB}; exec "$0" "$@"`, process.execPath, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const bits = (m: Map<string, ArrayLike<number>>) => [...m].map(([k, v]) => k + ':' + Buffer.from(Float64Array.from(v).buffer).toString('hex')).join('|');
/** what a run folder holds that is not a complete published checkpoint */
const leftovers = (out: string) => readdirSync(out).filter((n) => n.endsWith('.tmp'));
const stepFolders = (out: string) => readdirSync(out).filter((n) => /^step-/.test(n)).sort();

// one uninterrupted run of the train.test.ts configuration (6 steps, checkpoints every 2)
const runA = join(tmp, 'run-a');
let refA: ReturnType<typeof loadLatestCheckpoint>;
function reference() {
  if (!refA) {
    const r = trainChild(runA, 0, false);
    assert.is(r.status, 0, r.stderr);
    refA = loadLatestCheckpoint(runA);
  }
  return refA!;
}

test('plots: drift logit whose D_logit is 0 everywhere writes a plot (log axis falls back), no abort', () => {
  const r = cli(['drift', 'logit', '--random', 'tiny', '--lengths', '8', '--seqs', '1', '--runs', 'f64', '--delta1', '16', '--delta2', '16', '--out', join(tmp, 'drift')]);
  assert.is(r.status, 0, `status ${r.status} signal ${r.signal}\n${r.stderr.slice(-2000)}`);
  const svg = readFileSync(join(tmp, 'drift', 'drift-eq5-logit.svg'), 'utf8');
  assert.match(svg, /no positive y value/);
  assert.match(svg, /<\/svg>$/);
});

test('plots: empty, non-positive, NaN/Inf data on log axes and huge magnitudes end, with bounded ticks', () => {
  // in a child process: the unfixed plotter never returns (it aborts Node after filling the heap)
  const script = join(tmp, 'plots.ts');
  writeFileSync(
    script,
    `import { linePlot, barPlot } from ${JSON.stringify(join(root, 'io', 'svg-plot.ts'))};
const o = { title: 't', xLabel: 'x', yLabel: 'y' };
const out = [
  linePlot([{ name: 'a', x: [8, 16], y: [0, 0] }], { ...o, logX: true, logY: true }),
  linePlot([{ name: 'a', x: [8, 16], y: [NaN, Infinity] }], { ...o, logY: true }),
  linePlot([{ name: 'a', x: [-1, 0], y: [1, 2] }], { ...o, logX: true }),
  linePlot([], { ...o, logX: true, logY: true }),
  linePlot([{ name: 'a', x: [1, 2], y: [1e17, 1e17 + 16] }], o),
  linePlot([{ name: 'a', x: [1, 2], y: [5e-324, 1e308] }], { ...o, logY: true }),
  barPlot(['a', 'b'], [0, -1], { ...o, logY: true }),
  barPlot(['a'], [NaN], o),
];
console.log(JSON.stringify(out.map((s) => ({ len: s.length, ticks: (s.match(/stroke="#eee"/g) ?? []).length, note: /fill="#a00"/.test(s) }))));
`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  assert.is(r.status, 0, `status ${r.status} signal ${r.signal}\n${(r.stderr ?? '').slice(-1500)}`);
  const res = JSON.parse(r.stdout) as { len: number; ticks: number; note: boolean }[];
  assert.is(res.length, 8);
  for (const x of res) assert.ok(x.ticks <= 100 && x.len < 100_000, JSON.stringify(x));
  assert.equal(res.map((x) => x.note), [true, true, true, true, false, false, true, true]);
});

test('data: a UTF-8 BOM before the first row does not cost that row', async () => {
  const p = join(tmp, 'bom.jsonl');
  writeFileSync(p, '\uFEFF{"text": "first"}\n{"text": "second"}\n');
  const bad = newBadRows();
  const rows: string[] = [];
  for await (const r of readRawJson(p, bad)) rows.push(r.text);
  assert.equal(rows, ['first', 'second']);
  assert.is(bad.count, 0);
  const q = join(tmp, 'bom-tok.jsonl');
  writeFileSync(q, '\uFEFF' + JSON.stringify({ input_ids: [1, 2, 3], source: [{ source: 's', start: 0, end: 3 }] }) + '\n');
  const bad2 = newBadRows();
  let n = 0;
  for await (const _ of readTokenized(q, bad2, 300)) n++;
  assert.is(n, 1);
  assert.is(bad2.count, 0);
});

test('data: a long-context sample of a million tokens does not overflow the stack', () => {
  const s = makeSample('passkey', 1_000_000, 1, new ByteTokenizer());
  assert.ok(Math.abs(s.ids.length - 1_000_000) <= 2);
});

test('train: bad data, a bad --format, --out under a file, an existing run: one line, exit 2', () => {
  const bad = join(tmp, 'bad.jsonl');
  writeFileSync(bad, 'a,b\n1,2\n');
  const good = join(tmp, 'good.jsonl');
  writeFileSync(good, Array.from({ length: 30 }, (_, i) => JSON.stringify({ text: `document number ${i} `.repeat(4) })).join('\n') + '\n');
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const base = ['train', '--preset', 'tiny', '--steps', '1', '--seq-len', '16'];
  oneLineError(cli([...base, '--data', bad, '--out', join(tmp, 't1')]), /no usable document.*--format/, 'all rows bad');
  oneLineError(cli([...base, '--data', bad, '--format', 'tokenized', '--out', join(tmp, 't1')]), /no usable document/, 'all rows bad, tokenized');
  const csv = cli([...base, '--data', bad, '--format', 'csv', '--out', join(tmp, 't1')]);
  assert.is(csv.status, 2, csv.stderr);
  assert.match(csv.stderr, /--format must be raw_json or tokenized/);
  assert.not.match(csv.stderr, /internal error|^\s+at /m);
  oneLineError(cli([...base, '--data', good, '--out', join(file, 'sub')]), /--out .*a-file\/sub: cannot create.*ENOTDIR/, '--out under a file');
  oneLineError(cli([...base, '--data', join(tmp, 'nope.jsonl'), '--out', join(tmp, 't1')]), /--data .*nope\.jsonl: no such file/, 'missing --data');
  oneLineError(cli([...base, '--data', good, '--config', bad, '--out', join(tmp, 't1')]), /--config .*: not valid JSON/, 'bad --config');
  // a missing parent is made; the run works; running it again without --resume is refused, not written over
  const fresh = join(tmp, 'missing', 'parent', 'run');
  const ok = cli([...base, '--data', good, '--out', fresh]);
  assert.is(ok.status, 0, ok.stderr);
  assert.ok(existsSync(join(fresh, 'latest.json')));
  oneLineError(cli([...base, '--data', good, '--out', fresh]), /already holds a training run.*--resume/, 'existing run');
  oneLineError(cli([...base, '--data', good, '--out', fresh, '--resume', '--lr', '0.5']), /options differ.*lr: 0\.003 in the checkpoint, 0\.5 now/, 'resume, other options');
});

test('train / drift / eval-long: a config too big for the memory is refused before any work', () => {
  // 8 bytes a parameter fit (config.json alone passes), training's ≥ 20 do not
  const hidden = 64;
  const vocab = Math.ceil(totalmem() / 16 / (2 * hidden));
  const cfg = join(tmp, 'big-config.json');
  writeFileSync(cfg, JSON.stringify({ architectures: ['LlamaForCausalLM'], vocab_size: vocab, hidden_size: hidden, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 4 }));
  const good = join(tmp, 'good.jsonl');
  const t0 = Date.now();
  oneLineError(cli(['train', '--config', cfg, '--data', good, '--out', join(tmp, 'big-run')]), /working memory, more than this machine's/, 'train --config big');
  assert.not.ok(existsSync(join(tmp, 'big-run')));
  // a billion layers: refused from config.json, never listed
  const huge = join(tmp, 'huge');
  mkdirSync(huge, { recursive: true });
  writeFileSync(join(huge, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], vocab_size: 267, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1e9, num_attention_heads: 2 }));
  writeFileSync(join(huge, 'model.safetensors'), 'x');
  oneLineError(cli(['eval-long', '--checkpoint', huge, '--lengths', '32']), /parameters/, 'eval-long, a billion layers');
  oneLineError(cli(['drift', 'logit', '--random', join(huge, 'config.json')]), /parameters/, 'drift --random, a billion layers');
  assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
});

test('corpus: a bad glob, a missing or non-folder --from: one line, exit 2; symlink loops are not followed', () => {
  oneLineError(cli(['corpus', '--from', '.', '--glob', '{md']), /unclosed \{/, 'bad glob');
  oneLineError(cli(['corpus', '--from', join(tmp, 'no-such-folder')]), /--from .*: no such folder/, 'missing --from');
  writeFileSync(join(tmp, 'plain-file'), 'x');
  oneLineError(cli(['corpus', '--from', join(tmp, 'plain-file')]), /not a folder/, '--from a file');
  // two loops: following them is 2^40 paths
  const d = join(tmp, 'loops');
  mkdirSync(join(d, 'sub'), { recursive: true });
  writeFileSync(join(d, 'sub', 'a.md'), 'hello markdown');
  symlinkSync('..', join(d, 'sub', 'up'));
  symlinkSync('.', join(d, 'sub', 'here'));
  symlinkSync(join(d, 'sub', 'a.md'), join(d, 'link.md'));
  const r = cli(['corpus', '--from', d, '--out', join(tmp, 'loops.jsonl')], 20_000);
  assert.is(r.status, 0, `status ${r.status} signal ${r.signal}\n${r.stderr.slice(-1000)}`);
  const rows = readFileSync(join(tmp, 'loops.jsonl'), 'utf8').trim().split('\n');
  assert.is(rows.length, 1); // sub/a.md, and link.md (the same text) once
  // the walk is bounded: entries and depth
  const deep = join(tmp, 'deep');
  mkdirSync(join(deep, 'a', 'b', 'c', 'd'), { recursive: true });
  writeFileSync(join(deep, 'a', 'b', 'c', 'd', 'x.md'), 'deep');
  assert.equal(listCorpusFiles(deep), ['a/b/c/d/x.md']);
  assert.throws(() => listCorpusFiles(deep, { maxDepth: 2 }), /nested more than 2 folders deep/);
  assert.throws(() => listCorpusFiles(deep, { maxEntries: 3 }), /more than 3 entries/);
});

test('eval-long / drift --checkpoint: hostile folders are one line; the run folder train prints is accepted', () => {
  const ck = join(tmp, 'hostile-ck');
  mkdirSync(ck, { recursive: true });
  writeFileSync(join(ck, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], vocab_size: 267, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2 }));
  writeFileSync(join(ck, 'model.safetensors'), Buffer.from('garbage garbage garbage'));
  oneLineError(cli(['drift', 'logit', '--checkpoint', ck, '--lengths', '8', '--seqs', '1']), /model\.safetensors/, 'garbage safetensors');
  writeFileSync(join(ck, 'config.json'), '{"architectures":\n');
  oneLineError(cli(['eval-long', '--checkpoint', ck, '--lengths', '32']), /config\.json: not valid JSON/, 'broken config.json');
  oneLineError(cli(['eval-long', '--checkpoint', '/nonexistent']), /--checkpoint \/nonexistent: no such folder/, 'missing checkpoint');
  oneLineError(cli(['eval-long', '--checkpoint', tmp, '--lengths', '32']), /no config\.json .*no latest\.json/, 'not a checkpoint');
  const a = reference();
  const r = cli(['eval-long', '--checkpoint', runA, '--lengths', '32', '--samples', '1', '--tasks', 'passkey']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /passkey\s+L=\s+32\s+accuracy/);
  const d = cli(['drift', 'logit', '--checkpoint', runA, '--lengths', '8', '--seqs', '1', '--runs', 'f64', '--out', join(tmp, 'drift-a')]);
  assert.is(d.status, 0, d.stderr);
  assert.match(d.stdout, new RegExp(`checkpoint ${a.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  oneLineError(cli(['eval-long', '--checkpoint', runA, '--lengths', '100000000']), /forward pass of 100000000 tokens .*use shorter lengths/, 'eval-long, too long');
});

test('checkpoint: killed inside a checkpoint (before and after its folder is published): previous one loadable, nothing partial, resume ends bit-identical', () => {
  const a = reference();
  for (const stage of ['model', 'optimizer', 'renamed']) {
    const out = join(tmp, `kill-${stage}`);
    const first = trainChild(out, 0, false, `4:${stage}`);
    assert.is(first.signal, 'SIGKILL', first.stderr);
    const prev = loadLatestCheckpoint(out)!;
    assert.is(prev.state.step, 2, stage);
    if (stage === 'renamed') assert.equal(stepFolders(out), ['step-000002', 'step-000004']); // published, but latest.json not yet moved
    else {
      assert.equal(stepFolders(out), ['step-000002'], stage); // no partial step-000004
      assert.is(leftovers(out).length, 1, stage); // the temporary folder of the interrupted checkpoint
    }
    // an orphan temporary file and a metrics line cut short, as a kill during a write leaves them
    writeFileSync(join(out, '.latest.json.999999999.tmp'), '{"st');
    appendFileSync(join(out, 'metrics.jsonl'), '{"step": 5, "lo');
    const second = trainChild(out, 0, true);
    assert.is(second.status, 0, second.stderr);
    assert.equal(leftovers(out), [], stage);
    const b = loadLatestCheckpoint(out)!;
    assert.is(b.state.step, 6);
    assert.is(bits(b.model.params), bits(a.model.params), stage);
    assert.is(bits(b.opt.v), bits(a.opt.v), stage);
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.equal(steps, [1, 2, 3, 4, 5, 6], stage);
  }
});

test('checkpoint: a write failure (file size limit) is one line, exit 2; the previous checkpoint stays loadable, nothing partial', () => {
  const out = join(tmp, 'fsize');
  const first = trainChild(out, 3, false); // checkpoint of step 2, killed in step 3
  assert.is(first.signal, 'SIGKILL', first.stderr);
  // optimizer.safetensors (~110 KB) cannot be written under a 64 KiB file size limit
  const second = trainChild(out, 0, true, '', 64);
  assert.is(second.status, 2, `status ${second.status} signal ${second.signal}\n${second.stderr}`);
  assert.match(second.stderr, /checkpoint of step 4: cannot write .*EFBIG.*previous checkpoint is kept/);
  assert.is(second.stderr.trim().split('\n').length, 1, second.stderr);
  assert.equal(stepFolders(out), ['step-000002']);
  assert.equal(leftovers(out), []);
  assert.is(loadLatestCheckpoint(out)!.state.step, 2);
  // with room again, the run resumes and finishes
  const third = trainChild(out, 0, true);
  assert.is(third.status, 0, third.stderr);
  assert.is(loadLatestCheckpoint(out)!.state.step, 6);
});

test.run();

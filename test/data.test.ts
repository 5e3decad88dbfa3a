// Tokenizers, the raw_json / tokenized readers on good and broken files, the corpus
// builder, and the synthetic long-context tasks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer, loadHfTokenizer, BYTE_VOCAB } from '../data/tokenizer.ts';
import { newBadRows, readRawJson, readTokenized, documentsOfRow } from '../data/readers.ts';
import { buildCorpus, globToRegExp } from '../data/corpus.ts';
import { makeSample, scoreSample, TASKS } from '../data/long-context.ts';

const tmp = mkdtempSync(join(tmpdir(), 'data-test-'));

test('byte tokenizer: UTF-8 bytes, specials, round trip', () => {
  const t = new ByteTokenizer();
  assert.is(t.vocabSize, BYTE_VOCAB);
  assert.equal(t.encode('Aé🚀'), [0x41, 0xc3, 0xa9, 0xf0, 0x9f, 0x9a, 0x80]);
  assert.is(t.decode([t.bos, ...t.encode('hi é'), t.eos, t.tag(3)]), '<bos>hi é<eos><tag:3>');
  assert.throws(() => t.tag(8), /tag index/);
});

test('tokenizer.json (trained with the python tokenizers package) gives the same ids offline', () => {
  const dir = join(import.meta.dirname, 'fixtures', 'model', 'tokenizer');
  const tok = loadHfTokenizer(dir);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { text: string; ids: number[] }[];
  for (const e of expected) {
    assert.equal(tok.encode(e.text), e.ids, e.text);
    assert.is(tok.decode(e.ids), e.text);
  }
  assert.is(tok.bos, 0);
  assert.is(tok.eos, 1);
  assert.is(tok.vocabSize, 300);
});

async function collect<T>(g: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of g) out.push(x);
  return out;
}

test('raw_json: good rows read, bad rows skipped, counted and reported with line numbers', async () => {
  const p = join(tmp, 'raw.jsonl');
  writeFileSync(p, ['{"text": "alpha"}', '{"text": 5}', 'not json', '', '[1]', '{"text": "beta", "meta": 1}', '{"txt": "x"}'].join('\n') + '\n');
  const bad = newBadRows();
  const rows = await collect(readRawJson(p, bad));
  assert.equal(rows.map((r) => [r.text, r.lineNo]), [['alpha', 1], ['beta', 6]]);
  assert.is(bad.count, 4);
  assert.equal(bad.rows.map((r) => r.lineNo), [2, 3, 5, 7]);
  assert.match(bad.rows[0].reason, /"text" must be a string/);
  assert.match(bad.rows[1].reason, /not valid JSON/);
});

test('tokenized: input_ids + source spans; broken rows rejected with the reason', async () => {
  const p = join(tmp, 'tok.jsonl');
  const good = { input_ids: [1, 5, 6, 7, 1, 8, 9], labels: -2024, source: [{ source: 'C4', start: 0, end: 4 }, { source: 'Wiki', start: 4, end: 7 }] };
  const lines = [
    JSON.stringify(good),
    JSON.stringify({ ...good, input_ids: [1, -2, 3] }),
    JSON.stringify({ ...good, source: [{ source: 'C4', start: 0, end: 9 }] }),
    JSON.stringify({ ...good, source: [{ source: 'C4', start: 3, end: 5 }, { source: 'C4', start: 4, end: 6 }] }),
    JSON.stringify({ input_ids: [1, 2] }),
    JSON.stringify({ ...good, input_ids: [1, 2, 3, 4, 5, 6, 999] }),
    '{"input_ids": [1,2', // truncated line
  ];
  writeFileSync(p, lines.join('\n'));
  const bad = newBadRows();
  const rows = await collect(readTokenized(p, bad, 300));
  assert.is(rows.length, 1);
  assert.equal(documentsOfRow(rows[0]), [[1, 5, 6, 7], [1, 8, 9]]);
  assert.is(bad.count, 6);
  assert.equal(bad.rows.map((r) => r.lineNo), [2, 3, 4, 5, 6, 7]);
  assert.match(bad.rows[0].reason, /input_ids\[1\] = -2/);
  assert.match(bad.rows[1].reason, /not an increasing span/);
  assert.match(bad.rows[2].reason, /not an increasing span/);
  assert.match(bad.rows[3].reason, /"source" must be/);
  assert.match(bad.rows[4].reason, /outside the vocabulary/);
  assert.match(bad.rows[5].reason, /not valid JSON/);
});

test('corpus: matching files in sorted order, duplicates once, glob subset', () => {
  const d = join(tmp, 'docs');
  mkdirSync(join(d, 'b', 'c'), { recursive: true });
  writeFileSync(join(d, 'z.md'), 'zed');
  writeFileSync(join(d, 'a.txt'), 'ay');
  writeFileSync(join(d, 'b', 'README.md'), 'readme');
  writeFileSync(join(d, 'b', 'c', 'copy.md'), 'zed');
  writeFileSync(join(d, 'b', 'x.js'), 'code');
  assert.equal(buildCorpus(d).map((r) => r.path), ['a.txt', 'b/README.md', 'b/c/copy.md']); // z.md repeats copy.md's text
  assert.equal(buildCorpus(d, { globs: ['**/README.md'] }).map((r) => r.text), ['readme']);
  assert.ok(globToRegExp('**/*.md').test('x.md') && globToRegExp('**/*.md').test('a/b/x.md') && !globToRegExp('*.md').test('a/x.md'));
});

test('long-context tasks: deterministic from the seed, about the asked length, answer at the end', () => {
  const tok = new ByteTokenizer();
  for (const task of TASKS)
    for (const L of [512, 1024]) {
      const a = makeSample(task, L, 7, tok);
      const b = makeSample(task, L, 7, tok);
      assert.equal(a, b);
      assert.ok(Math.abs(a.ids.length - L) <= 2, `${task} ${L}: ${a.ids.length}`);
      assert.is(tok.decode(a.ids.slice(a.answerStart)), a.answer);
      assert.ok(tok.decode(a.ids).includes(task === 'vartrack' ? a.answer.split(' ')[0] : a.answer));
      assert.not.equal(makeSample(task, L, 8, tok).ids, a.ids);
    }
  // scoring: logits that put the argmax on the answer tokens score 1, otherwise 0
  const s = makeSample('passkey', 128, 1, tok);
  const V = tok.vocabSize;
  const logits = new Float64Array(s.ids.length * V);
  for (let t = 1; t < s.ids.length; t++) logits[(t - 1) * V + s.ids[t]] = 1;
  assert.ok(scoreSample(s, logits, V));
  logits[(s.ids.length - 2) * V + 0] = 2;
  assert.not.ok(scoreSample(s, logits, V));
});
test.run();

// The report (npm start): the findings' verdict rules on constructed numbers, and a smoke run
// of the whole report at the tiny preset — the page has the findings table with a computed
// verdict per finding and every section; a run stopped midway leaves a whole page of the
// sections it finished and no temporary file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anchorTrainingFinding, firstTokenFinding, lengthGrowthFinding, precisionOrderFinding, pretrainingFinding, savingsFinding } from '../demos/findings.ts';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-report-'));
const cli = [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'cli/main.ts')];

test('findings: each verdict follows its rule from the numbers', () => {
  const D = (bf16: number, f32: number, f64: number) => ({ name: 'm', D: { bf16, f32, f64 } });
  assert.is(precisionOrderFinding([D(0.02, 1e-6, 1e-15), D(0.05, 2e-6, 0)], '').verdict, 'reproduced');
  assert.is(precisionOrderFinding([D(0.02, 1e-6, 1e-15), D(0.05, 0.01, 0)], '').verdict, 'partly reproduced'); // bf16 only 5× f32
  assert.is(precisionOrderFinding([D(1e-6, 1e-6, 1e-15)], '').verdict, 'not reproduced');
  assert.is(pretrainingFinding(0.02, 0.05, '').verdict, 'reproduced');
  assert.is(pretrainingFinding(0.02, 0.025, '').verdict, 'partly reproduced');
  assert.is(pretrainingFinding(0.02, 0.01, '').verdict, 'not reproduced');
  assert.is(firstTokenFinding([5, 1, 2, 1], '').verdict, 'reproduced');
  assert.is(firstTokenFinding([2.1, 1, 2, 1], '').verdict, 'partly reproduced');
  assert.is(firstTokenFinding([1, 1, 2, 1], '').verdict, 'not reproduced');
  const m = (verdict: 'grows' | 'flat') => ({ name: verdict, T0: 64, T1: 1024, from: 1, to: 2, slope: 0.2, verdict });
  assert.is(lengthGrowthFinding([m('grows'), m('grows')], '').verdict, 'reproduced');
  assert.is(lengthGrowthFinding([m('flat'), m('grows')], '').verdict, 'partly reproduced');
  assert.is(lengthGrowthFinding([m('flat')], '').verdict, 'not reproduced');
  const pair = (b: string, diff: number, larger: boolean) => ({ a: 'anchor', b, metric: 'heldLossBeyond', better: 'lower' as const, diff, larger });
  assert.is(anchorTrainingFinding([pair('full', -0.1, true), pair('intra_doc', -0.1, true)], true, '').verdict, 'partly reproduced'); // the loss is a proxy
  const task = (b: string, diff: number, larger: boolean) => ({ a: 'anchor', b, metric: 'taskAccuracy', better: 'higher' as const, diff, larger });
  assert.is(anchorTrainingFinding([task('full', 0.2, true), task('intra_doc', 0.2, true)], false, '').verdict, 'reproduced');
  assert.is(anchorTrainingFinding([pair('full', -0.1, true), pair('intra_doc', -0.1, false)], true, '').verdict, 'partly reproduced');
  assert.is(anchorTrainingFinding([pair('full', -0.1, false), pair('intra_doc', 0.1, false)], true, '').verdict, 'inconclusive'); // within the spread
  assert.is(anchorTrainingFinding([pair('full', 0.1, true), pair('intra_doc', -0.1, true)], true, '').verdict, 'not reproduced'); // worse than full beyond the spread
  // tasks solved by some run: judged on task accuracy, not on the loss
  assert.is(anchorTrainingFinding([pair('full', -0.1, true)], false, '').verdict, 'inconclusive');
  const s = (L: number, share: number) => ({ L, timeShare: { pairs: share, blocks: share } });
  assert.is(savingsFinding([s(32768, 0.7), s(65536, 0.45), s(131072, 0.3)], '').verdict, 'reproduced');
  assert.is(savingsFinding([s(65536, 0.57), s(131072, 0.39)], '').verdict, 'partly reproduced');
  assert.is(savingsFinding([s(65536, 0.6)], '').verdict, 'not reproduced');
  assert.is(savingsFinding([s(8192, 0.1)], '').verdict, 'inconclusive'); // no length where the paper claims it
});

test('report --preset tiny: the page opens with the findings table (a computed verdict each), then every section, and the summary ends with its file:// link', () => {
  const out = join(dir, 'full');
  const r = spawnSync(process.execPath, [...cli, 'report', '--preset', 'tiny', '--out', out], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  const table = html.slice(html.indexOf('id="findings"'), html.indexOf('</section>', html.indexOf('id="findings"')));
  const verdicts = [...table.matchAll(/<td>(reproduced|partly reproduced|not reproduced|inconclusive)<\/td>/g)].map((m) => m[1]);
  assert.is(verdicts.length, 6, table.slice(0, 400));
  for (const id of ['bf16', 'rope', 'shift-random', 'shift-trained', 'decomposition', 'by-variant', 'sink', 'eq5-growth', 'variant-training', 'anchor-key', 'savings', 'explorer']) assert.ok(html.includes(`<section id="${id}">`), id);
  assert.not.ok(html.includes('still going'));
  assert.ok(html.trimEnd().endsWith('</html>'));
  assert.match(r.stdout, /The paper's findings in this run \(tiny preset\):/);
  assert.match(r.stdout, /file:\/\/\S+\/index\.html\n$/);
  assert.ok(r.stdout.split('\n').length < 15, 'the summary is short, not the whole report');
});

test('a report stopped midway leaves a whole page of the sections it finished, saying it is incomplete, and no temporary file', async () => {
  const out = join(dir, 'stopped');
  const child = spawn(process.execPath, [...cli, 'report', '--preset', 'tiny', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  // stop it once a few sections are written (the progress line names the step starting)
  await new Promise<void>((done) => {
    child.stderr.on('data', (b) => {
      err += b;
      if (/Eq\. 4 and Eq\. 5, trained/.test(err)) {
        child.kill('SIGTERM');
        done();
      }
    });
    child.on('exit', () => done());
  });
  await new Promise((r) => child.on('exit', r));
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.ok(html.trimEnd().endsWith('</html>'));
  assert.ok(html.includes('This run is still going'));
  assert.ok(html.includes('<section id="bf16">') && html.includes('<section id="shift-random">'));
  assert.not.ok(html.includes('<section id="savings">'));
  assert.is(readdirSync(out).filter((f) => /tmp/.test(f)).length, 0, readdirSync(out).join(' '));
  assert.ok(existsSync(join(out, 'random-eq4.svg')));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();

// CLI habits: every option of every command documented (description, default, examples) in
// its help; one message shape for bad numbers and words; "did you mean" for near-miss
// commands, flags and ops; --quiet silences progress and chatter but not errors; colour only
// on a terminal without NO_COLOR. Most checks call run() in this process (fast); the colour
// checks spawn the CLI, whose stdout and stderr are pipes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { commands, commandHelp, defaultText, parseCommandLine, run, type Command } from '../cli/main.ts';
import { colourOn } from '../cli/colour.ts';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'anchor-oracle-cli-help-'));
const at = (p: string) => join(dir, p);
const ESC = '\x1b';

/** run(args) here, with console.log / console.error and process.stderr.write captured */
async function inProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const { log, error } = console;
  const write = process.stderr.write;
  console.log = (...a: unknown[]) => void (out += format(...a) + '\n');
  console.error = (...a: unknown[]) => void (err += format(...a) + '\n');
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await run(args);
    return { code, out, err };
  } finally {
    Object.assign(console, { log, error });
    process.stderr.write = write;
  }
}

/** the CLI in a child process (stdout and stderr are pipes) with `env` added to (or, undefined, taken from) the environment */
function spawned(args: string[], env: Record<string, string | undefined> = {}) {
  const e = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  const r = spawnSync(process.execPath, [join(root, 'bin/anchor-oracle.js'), ...args], { encoding: 'utf8', cwd: dir, env: e });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const all: [string, Command][] = [];
test.before(async () => {
  for (const [name, load] of Object.entries(commands)) all.push([name, await load()]);
});

/** an example's words (quotes honoured) up to a pipe or a redirection */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) {
    const w = m[1] ?? m[2] ?? m[3];
    if (m[3] !== undefined && /^[|<>]/.test(w)) break;
    out.push(w);
  }
  return out;
}

test('help CMD and CMD --help: usage, summary, every option with a description and its default, examples', async () => {
  assert.ok(all.length >= 10, 'every command is listed');
  for (const [name, cmd] of all) {
    const h = await inProcess(['help', name]);
    assert.is(h.code, 0, name);
    assert.is((await inProcess([name, '--help'])).out, h.out, `${name}: help ${name} and ${name} --help agree`);
    assert.ok(h.out.startsWith(cmd.usage), `${name}: the usage first`);
    assert.ok(h.out.includes(cmd.summary), `${name}: the summary`);
    const lines = h.out.split('\n');
    const optionsAt = lines.indexOf('options:');
    const globalAt = lines.findIndex((l) => l.startsWith('global options'));
    const examplesAt = lines.indexOf('examples:');
    assert.ok(optionsAt > 0 && globalAt > optionsAt && examplesAt > globalAt, `${name}: options, global options, examples in that order`);
    // the option lines: "  --name PLACEHOLDER   description (default: D)"; a long name has the description on the next line
    const section = lines.slice(optionsAt + 1, globalAt - 1).join('\n');
    const names = Object.keys(cmd.options);
    for (const k of names) {
      const o = cmd.options[k];
      assert.ok(o.description.trim().length >= 10, `${name} --${k}: a description`);
      const m = new RegExp(`^  --${k}(?: (\\S+))?\\s+(.*)$`, 'm').exec(section);
      assert.ok(m, `${name} --${k}: listed in the help`);
      assert.is(m![1] !== undefined, o.type === 'string', `${name} --${k}: a value placeholder exactly when it takes a value`);
      assert.ok(section.includes(o.description), `${name} --${k}: its description printed`);
      const shown = new RegExp(`${escape(o.description)} \\(default: (.*)\\)$`, 'm').exec(section);
      if (o.default === undefined) assert.not.ok(shown, `${name} --${k}: no default shown where it has none`);
      else assert.is(shown?.[1], defaultText(o.default), `${name} --${k}: the default shown`);
    }
    const listed = [...section.matchAll(/^  --([\w-]+)/gm)].map((x) => x[1]);
    assert.equal(listed, names, `${name}: the help lists exactly the options parseArgs accepts, in order`);
    // examples: present, of this command, and each one parses
    assert.ok(cmd.examples.length > 0, `${name}: at least one example`);
    for (const e of cmd.examples) {
      assert.ok(lines.slice(examplesAt).includes(`  ${e}`), `${name}: example printed: ${e}`);
      const [prog, sub, ...rest] = words(e);
      assert.is(`${prog} ${sub}`, `anchor-oracle ${name}`, e);
      try {
        parseCommandLine(cmd, rest);
      } catch (err) {
        assert.unreachable(`${name}: example "${e}" does not parse: ${(err as Error).message}`);
      }
    }
  }
  // the top level still lists the commands, and the global flags
  const top = await inProcess(['--help']);
  for (const [name, cmd] of all) assert.ok(top.out.includes(name) && top.out.includes(cmd.summary), name);
  assert.match(top.out, /--quiet/);
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('documented defaults are what gen and drift use: the same output with the defaults given explicitly', async () => {
  const gen = all.find(([n]) => n === 'gen')![1].options;
  const d = (k: string) => defaultText(gen[k].default!);
  const same = async (what: string, base: string[], explicit: string[]) => {
    const a = await inProcess(['gen', '--quiet', ...base, '--out', at('a.jsonl')]);
    const b = await inProcess(['gen', '--quiet', ...base, ...explicit, '--out', at('b.jsonl')]);
    assert.is(a.code, 0, a.err);
    assert.is(b.code, 0, b.err);
    assert.ok(readFileSync(at('a.jsonl'), 'utf8').length > 0);
    assert.is(readFileSync(at('a.jsonl'), 'utf8'), readFileSync(at('b.jsonl'), 'utf8'), `gen ${what}: ${explicit.join(' ')}`);
  };
  await same('levels', ['--op', 'bf16.mul'], ['--n', d('n'), '--seed', d('seed'), '--level', d('level'), '--tensors', d('tensors')]);
  await same('attention', ['--op', 'attention.forward', '--L', '12'], ['--seed', d('seed'), '--Hq', d('Hq'), '--Hkv', d('Hkv'), '--D', d('D'), '--variant', d('variant'), '--precision', d('precision'), '--docs', d('docs')]);
  await same('block_mask', ['--op', 'attention.block_mask', '--L', '300'], ['--block-size', d('block-size')]);
  await same('rope', ['--op', 'rope.apply', '--T', '6'], ['--seed', d('seed'), '--dim', d('dim'), '--H', d('H'), '--path', d('path'), '--layout', d('layout'), '--base', d('base'), '--max-position', '6']);
  const drift = all.find(([n]) => n === 'drift')![1].options;
  const dd = (k: string) => defaultText(drift[k].default!);
  const small = ['drift', 'shift', '--quiet', '--seqs', '1', '--len', '8', '--delta1', '0,3', '--runs', 'f32', '--out', at('drift')];
  const a = await inProcess(small);
  const b = await inProcess([...small, '--random', dd('random'), '--init', dd('init'), '--seed', dd('seed'), '--variant', dd('variant'), '--docs', dd('docs'), '--delta2', dd('delta2'), '--attention', dd('attention'), '--backend', dd('backend')]);
  assert.is(a.code, 0, a.err);
  assert.match(a.out, /\| 3 \| \d/);
  assert.is(b.out, a.out, 'drift shift with its defaults given');
});

test('bad numbers and words: one message shape, "--NAME must be ..., got VALUE"', async () => {
  const err = async (args: string[]) => {
    const r = await inProcess(args);
    assert.is(r.code, 2, args.join(' '));
    return r.err.split('\n')[0];
  };
  // a negative number after a flag is the flag's value, checked by the flag's own rule
  assert.is(await err(['gen', '--op', 'bf16.add', '--n', '-5']), 'anchor-oracle gen: --n must be an integer ≥ 0, got -5');
  assert.is(await err(['gen', '--op', 'attention.forward', '--L', '8', '--n', '-5']), 'anchor-oracle gen: --n must be an integer ≥ 1, got -5');
  assert.is(await err(['eval', '--jobs', '-2']), 'anchor-oracle eval: --jobs must be an integer ≥ 1, got -2');
  assert.is(await err(['gen', '--op', 'rope.apply', '--T', '4', '--base', '-1e4']), 'anchor-oracle gen: --base must be a number > 0, got -1e4');
  // a value that starts with '-' and is no number: how to write it
  assert.is(await err(['gen', '--op', 'bf16.add', '--out', '-x']), "anchor-oracle gen: --out takes a value; for one that starts with '-' write --out=VALUE");
  assert.is(await err(['gen', '--op', 'bf16.add', '--seed', 'abc']), 'anchor-oracle gen: --seed must be an integer ≥ 0, got "abc"');
  // words of a fixed set
  assert.is(await err(['eval-long', '--checkpoint', 'nowhere', '--precision', 'x']), 'anchor-oracle eval-long: --precision must be one of f64, f32, bf16, got "x"');
  assert.is(await err(['train', '--preset', 'tiny', '--precision', 'bf1', '--out', at('t')]), 'anchor-oracle train: --precision must be one of f64, f32, bf16, got "bf1" (did you mean "bf16"?)');
  assert.is(await err(['gen', '--op', 'bf16.add', '--tensors', 'x']), 'anchor-oracle gen: --tensors must be inline or sidecar, got "x"');
  assert.is(await err(['gen', '--op', 'bf16.add', '--level', '3']), 'anchor-oracle gen: --level must be 1 or 2, got 3');
  assert.is(await err(['drift', 'shift', '--metric', 'x']), 'anchor-oracle drift: --metric must be shift or logit, got "x"');
  assert.match(await err(['gen', '--op', 'attention.mask', '--L', '8', '--variant', 'anchr']), /--variant must be a comma-separated list of full, intra_doc, intra_doc_reset, anchor \(or all\), got "anchr" \(did you mean "anchor"\?\)$/);
  assert.is(await err(['eval-long', '--checkpoint', 'nowhere', '--lengths', '16,64']), 'anchor-oracle eval-long: --lengths must be a comma-separated list of integers ≥ 32, got "16,64"');
  assert.is(await err(['drift', 'shfit']), 'anchor-oracle drift: name a measurement: shift, logit, decompose; got "shfit"');
});

test('"did you mean": a near-miss command, every flag of every command, an op', async () => {
  assert.match((await inProcess(['evl'])).err, /unknown command "evl" \(did you mean "eval"\?\)/);
  assert.match((await inProcess(['help', 'eval-lon'])).err, /unknown command "eval-lon" \(did you mean "eval-long"\?\)/);
  for (const [name, cmd] of all)
    for (const k of Object.keys(cmd.options)) {
      // one letter too many (a name of one or two letters: in the other case): still the nearest name
      const typo = k.length > 2 ? `--${k}${k[k.length - 1]}` : `--${k === k.toLowerCase() ? k.toUpperCase() : k.toLowerCase()}`;
      let msg = '';
      try {
        parseCommandLine(cmd, cmd.options[k].type === 'string' ? [typo, '1'] : [typo]);
      } catch (e) {
        msg = (e as Error).message;
      }
      assert.is(msg, `Unknown option '${typo}' (did you mean --${k}?)`, `${name} ${typo}`);
    }
  assert.match((await inProcess(['gen', '--op', 'rope.aply'])).err, /unknown op "rope.aply" \(did you mean "rope.apply"\?\)/);
});

test('--quiet (anywhere): no progress lines or informational lines; the output and errors still print', async () => {
  const args = ['shift', '--random', 'tiny', '--seqs', '1', '--len', '8', '--delta1', '0,1', '--runs', 'f32', '--out', at('q')];
  const loud = await inProcess(['drift', ...args]);
  assert.is(loud.code, 0, loud.err);
  assert.match(loud.err, /^drift shift: 2\/2 100\.0%/m, 'progress lines without --quiet');
  const quiet = await inProcess(['drift', ...args, '--quiet']);
  assert.is(quiet.code, 0, quiet.err);
  assert.is(quiet.err, '', 'nothing on stderr with --quiet');
  assert.is(quiet.out, loud.out, 'the same output');
  // gen's "wrote N cases" line
  assert.match((await inProcess(['gen', '--op', 'bf16.add', '--out', at('g.jsonl')])).err, /gen: wrote \d+ bf16\.add cases/);
  assert.is((await inProcess(['--quiet', 'gen', '--op', 'bf16.add', '--out', at('g.jsonl')])).err, '');
  // errors are not silenced
  const bad = await inProcess(['drift', ...args, '--seqs', '0', '--quiet']);
  assert.is(bad.code, 2);
  assert.match(bad.err, /^anchor-oracle drift: --seqs must be an integer ≥ 1, got 0$/m);
});

test('colour: none in a pipe or with NO_COLOR; FORCE_COLOR forces it unless NO_COLOR is set', () => {
  const plain = { NO_COLOR: undefined, FORCE_COLOR: undefined };
  const runs = (env: Record<string, string | undefined>) => [spawned(['help', 'gen'], env), spawned(['gen', '--op', 'bf16.add', '--sead', '1'], env), spawned(['vrify'], env)];
  for (const env of [plain, { NO_COLOR: '1', FORCE_COLOR: undefined }, { NO_COLOR: '1', FORCE_COLOR: '1' }, { NO_COLOR: undefined, FORCE_COLOR: '0' }])
    for (const r of runs(env)) {
      assert.ok(r.out.length + r.err.length > 0);
      assert.not.ok((r.out + r.err).includes(ESC), `an escape byte with ${JSON.stringify(env)}:\n${r.out}${r.err}`);
    }
  const [help, flag, cmd] = runs({ NO_COLOR: undefined, FORCE_COLOR: '1' });
  assert.ok(help.out.includes(`${ESC}[1m--seed S${ESC}[22m`), 'option names bold');
  assert.ok(flag.err.startsWith(`${ESC}[31manchor-oracle gen:${ESC}[39m`), 'the error prefix red');
  assert.ok(cmd.err.includes(`did you mean ${ESC}[1m`), '"did you mean" bold');
  // the rule itself, on a terminal
  const env = { NO_COLOR: process.env.NO_COLOR, FORCE_COLOR: process.env.FORCE_COLOR };
  try {
    delete process.env.NO_COLOR;
    delete process.env.FORCE_COLOR;
    assert.ok(colourOn({ isTTY: true }));
    assert.not.ok(colourOn({ isTTY: false }));
    process.env.NO_COLOR = '1';
    assert.not.ok(colourOn({ isTTY: true }));
  } finally {
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
});

test('help in this process carries no escape bytes when stdout is not a terminal', async () => {
  if (process.stdout.isTTY || (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0')) return;
  for (const [name, cmd] of all) assert.not.ok(commandHelp(name, cmd).includes(ESC), name);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();

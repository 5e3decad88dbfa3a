// anchor-oracle: the command line. Each subcommand is a file in cli/; this one dispatches.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { OpError } from '../io/errors.ts';
import { closest } from '../ops/registry.ts';
import { errnoText, WriteError } from '../io/lines.ts';
import { bold, red } from './colour.ts';
import { setQuiet } from '../io/progress.ts';

/** one option of a command: what parseArgs needs (type, multiple), and what help shows */
export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** what it does, one line */
  description: string;
  /** the value's name in help (N, FILE, LIST); a string option without one shows VALUE */
  placeholder?: string;
  /** the value used when the option is not given, as help shows it (absent: none; a boolean flag: off) */
  default?: string | number | readonly (string | number)[];
}
export type Options = Record<string, OptionSpec>;

export interface Command {
  summary: string;
  usage: string;
  options: Options;
  /** whole command lines (starting with "anchor-oracle"), at least one */
  examples: string[];
  allowPositionals?: boolean;
  /** returns the exit code */
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

/** flags every command accepts, anywhere on the line; cli/main.ts run takes them out */
export const GLOBAL_OPTIONS: Options = {
  quiet: { type: 'boolean', description: 'no progress bars or lines and no informational lines on stderr (errors and warnings still print)' },
  debug: { type: 'boolean', description: 'an internal error prints its stack trace too' },
  help: { type: 'boolean', description: "the command's usage, options, defaults and examples" },
};

/** every command, loaded when used */
export const commands: Record<string, () => Promise<Command>> = {
  gen: async () => (await import('./gen.ts')).command,
  eval: async () => (await import('./eval.ts')).command,
  verify: async () => (await import('./verify.ts')).command,
  ops: async () => (await import('./ops.ts')).command,
  demo: async () => (await import('./demo.ts')).command,
  report: async () => (await import('./report.ts')).command,
  drift: async () => (await import('./drift.ts')).command,
  train: async () => (await import('./train.ts')).command,
  corpus: async () => (await import('./corpus.ts')).command,
  'eval-long': async () => (await import('./eval-long.ts')).command,
};

/** the package's version, from its package.json (one folder up from the sources, two from a build in dist/) */
function version(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const p = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8'));
      if (p.name === 'anchor-oracle') return p.version;
    } catch {
      /* not there: look further up */
    }
  }
  return 'unknown';
}

/** a default as help shows it */
export function defaultText(d: NonNullable<OptionSpec['default']>): string {
  return Array.isArray(d) ? d.join(',') : String(d);
}

const MAX_NAME_COLUMN = 26;

/** options as aligned help lines: "--name PLACEHOLDER  description (default: D)" */
function optionLines(options: Options, stream: NodeJS.WriteStream = process.stdout): string[] {
  const rows = Object.entries(options).map(([k, o]) => ({
    left: `--${k}${o.type === 'string' ? ` ${o.placeholder ?? 'VALUE'}${o.multiple ? '...' : ''}` : ''}`,
    right: `${o.description}${o.default === undefined ? '' : ` (default: ${defaultText(o.default)})`}`,
  }));
  // descriptions line up after the names; a name too long for the column has its own line
  const width = Math.max(0, ...rows.map((r) => r.left.length).filter((n) => n <= MAX_NAME_COLUMN));
  return rows.map((r) =>
    r.left.length <= width ? `  ${bold(r.left, stream)}${' '.repeat(width - r.left.length + 2)}${r.right}` : `  ${bold(r.left, stream)}\n  ${' '.repeat(width + 2)}${r.right}`,
  );
}

/** a command's help: usage, what it does, every option with its default, examples */
export function commandHelp(name: string, cmd: Command): string {
  return [
    cmd.usage,
    '',
    cmd.summary,
    '',
    'options:',
    ...optionLines(cmd.options),
    '',
    'global options (any command, anywhere on the line):',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'examples:',
    ...cmd.examples.map((e) => `  ${e}`),
    '',
    `anchor-oracle ${name} --help shows this; SPEC.md and FORMAT.md say what every op and flag means.`,
  ].join('\n');
}

/** the list of commands, for `stream` (stdout, or stderr after an unknown command) */
async function help(stream: NodeJS.WriteStream = process.stdout): Promise<string> {
  const lines = ['usage: anchor-oracle <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) {
    const c = await load();
    lines.push(`  ${bold(name.padEnd(9), stream)} ${c.summary}`);
  }
  lines.push('', 'global options (any command, anywhere on the line):', ...optionLines(GLOBAL_OPTIONS, stream));
  lines.push('', 'anchor-oracle help <command> (or <command> --help) shows its options, defaults and examples.');
  return lines.join('\n');
}

/** " (did you mean X?)" for a near miss of one of `candidates`, else "" */
export function didYouMean(word: string, candidates: readonly string[], show: (s: string) => string = (s) => `"${s}"`): string {
  const near = closest(word, candidates);
  // a short word is near words it shares nothing with ("3" and "1"): no suggestion then
  if (near === undefined || ![...near.toLowerCase()].some((c) => word.toLowerCase().includes(c))) return '';
  return ` (did you mean ${bold(show(near))}?)`;
}

/** the parseArgs config of a command's options: only the fields parseArgs accepts */
function parserOptions(options: Options): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(Object.entries(options).map(([k, o]) => [k, o.multiple ? { type: o.type, multiple: true } : { type: o.type }]));
}

/**
 * "--flag -5" as "--flag=-5" where the flag takes a value and the next word is a number, so
 * that a negative number reaches the flag's own check (node's parser calls it ambiguous)
 */
function joinNegativeNumbers(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (a.startsWith('--') && options[a.slice(2)]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next) && isNumeric(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

const isNumeric = (s: string): boolean => s.trim() !== '' && !Number.isNaN(Number(s));

export async function run(argv: string[]): Promise<number> {
  // --debug anywhere: an internal error prints its stack trace too
  const debug = argv.includes('--debug');
  if (debug) process.env.ANCHOR_ORACLE_DEBUG = '1'; // error lines of eval (and its worker threads) add where
  // --quiet anywhere: no progress, no informational lines (io/progress.ts)
  setQuiet(argv.includes('--quiet'));
  const [name, ...rest] = argv.filter((a) => a !== '--debug' && a !== '--quiet');
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`anchor-oracle ${version()}`);
    return 0;
  }
  if (name === 'help' && rest[0] && !rest[0].startsWith('-')) {
    if (commands[rest[0]]) {
      console.log(commandHelp(rest[0], await commands[rest[0]]()));
      return 0;
    }
    return unknownCommand(rest[0]);
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await help());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) return unknownCommand(name);
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(name, cmd));
    return 0;
  }
  let parsed;
  try {
    parsed = parseCommandLine(cmd, rest);
  } catch (e) {
    return failure(name, cmd.usage, e, debug);
  }
  try {
    return await cmd.run(parsed.values, parsed.positionals);
  } catch (e) {
    return failure(name, cmd.usage, e, debug);
  }
}

/** a command's arguments (global flags taken out) as values and positionals, or a UsageError in one line */
export function parseCommandLine(cmd: Command, args: string[]): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: joinNegativeNumbers(args, cmd.options), options: parserOptions(cmd.options), allowPositionals: cmd.allowPositionals ?? false, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (e) {
    // node's parser explains an option value that starts with '-' in three lines: say it in one
    const msg = (e as Error).message;
    const dashed = /^Option '(--?[\w-]+)[^']*' argument is ambiguous/.exec(msg);
    if (dashed) throw new UsageError(`${dashed[1]} takes a value; for one that starts with '-' write ${dashed[1]}=VALUE`);
    const unknown = /^Unknown option '(-?-([\w-]+))'/.exec(msg);
    if (!unknown) throw new UsageError(msg.split('\n')[0]);
    const near = didYouMean(unknown[2], Object.keys(cmd.options), (s) => `--${s}`);
    const hint = !near && cmd.allowPositionals ? ` (an argument that starts with '-' goes after --, as in -- ${unknown[1]})` : '';
    throw new UsageError(`Unknown option '${unknown[1]}'${near}${hint}`);
  }
}

async function unknownCommand(name: string): Promise<number> {
  console.error(`${red('anchor-oracle:')} unknown command "${name}"${didYouMean(name, Object.keys(commands))}\n\n${await help(process.stderr)}`);
  return 2;
}

/**
 * The CLI's one error path: bad input (a usage error, an OpError naming the problem, a file
 * that cannot be read or written) is one line and exit 2; anything else is a bug: one line,
 * "please report", and the stack trace only with --debug.
 */
export function failure(name: string, usage: string, e: unknown, debug: boolean): number {
  const err = e as NodeJS.ErrnoException;
  const who = red(name ? `anchor-oracle ${name}:` : 'anchor-oracle:');
  if (e instanceof UsageError) console.error(`${who} ${err.message}${usage ? `\nusage: ${usage.split('\n')[0]} (--help: every option)` : ''}`);
  else if (e instanceof OpError || e instanceof WriteError) console.error(`${who} ${err.message}`);
  else if (typeof err?.code === 'string' && typeof err.syscall === 'string') console.error(`${who} cannot ${err.syscall}${err.path ? ` ${err.path}` : ''}: ${errnoText(e)}`);
  else {
    console.error(`${who} internal error: ${err?.message ?? String(e)} (please report it, with the command; --debug shows where)`);
    if (debug) console.error(err?.stack);
  }
  return 2;
}

export class UsageError extends Error {}

// ------------------------------------------------------------------ flag values
// One parser per kind of value, each with one message shape: "--NAME must be ..., got VALUE"
// (a number as typed, anything else quoted), and "did you mean" for a near-miss word.

/** a flag's value as a message quotes it: a number as typed, anything else as a JSON string */
export function shown(v: unknown): string {
  return typeof v === 'string' && isNumeric(v) ? v.trim() : JSON.stringify(v);
}

/** "A" for one choice, "A or B" for two, "one of A, B, C" for more */
function choices(allowed: readonly string[]): string {
  if (allowed.length === 1) return allowed[0];
  return allowed.length === 2 ? `${allowed[0]} or ${allowed[1]}` : `one of ${allowed.join(', ')}`;
}

export interface NumberBounds {
  /** an integer (a safe one) */
  integer?: boolean;
  /** the least value allowed */
  min?: number;
  /** min itself is not allowed (a number > min) */
  exclusive?: boolean;
}

/** a number option: "--NAME must be an integer ≥ MIN, got V", "--NAME must be a number > 0, got V" */
export function numberOption(v: string | boolean | undefined, name: string, dflt: number, bounds?: NumberBounds): number;
export function numberOption(v: string | boolean | undefined, name: string, dflt: number | undefined, bounds?: NumberBounds): number | undefined;
export function numberOption(v: string | boolean | undefined, name: string, dflt: number | undefined, { integer = false, min = -Infinity, exclusive = false }: NumberBounds = {}): number | undefined {
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  const fits = (integer ? Number.isSafeInteger(n) : Number.isFinite(n)) && (exclusive ? n > min : n >= min);
  if (!fits) throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'}${min === -Infinity ? '' : ` ${exclusive ? '>' : '≥'} ${min}`}, got ${shown(v)}`);
  return n;
}

/** an integer option ≥ min: "--NAME must be an integer ≥ MIN, got V" */
export function intOption(v: string | boolean | undefined, name: string, dflt: number, min?: number): number;
export function intOption(v: string | boolean | undefined, name: string, dflt: number | undefined, min?: number): number | undefined;
export function intOption(v: string | boolean | undefined, name: string, dflt: number | undefined, min = 0): number | undefined {
  return numberOption(v, name, dflt, { integer: true, min });
}

/** one word of a fixed set: "--NAME must be one of A, B, C, got "x"" (two: "must be A or B") */
export function enumOption<T extends string>(v: string | boolean | undefined, name: string, allowed: readonly T[], dflt: T): T;
export function enumOption<T extends string>(v: string | boolean | undefined, name: string, allowed: readonly T[], dflt?: T): T | undefined;
export function enumOption<T extends string>(v: string | boolean | undefined, name: string, allowed: readonly T[], dflt?: T): T | undefined {
  if (v === undefined) return dflt;
  if (typeof v === 'string' && allowed.includes(v as T)) return v as T;
  throw new UsageError(`--${name} must be ${choices(allowed)}, got ${shown(v)}${didYouMean(String(v), allowed)}`);
}

/** a list of words of a fixed set, separated by `sep` ("all": every one) */
export function listOption<T extends string>(v: string | boolean | undefined, name: string, allowed: readonly T[], dflt: readonly T[], sep: string | RegExp = ','): T[] {
  if (v === undefined) return [...dflt];
  if (v === 'all') return [...allowed];
  const items = String(v).split(sep);
  const listSep = allowed.some((a) => a.includes(',')) ? '; ' : ', ';
  for (const x of items)
    if (!allowed.includes(x as T)) throw new UsageError(`--${name} must be a comma-separated list of ${allowed.join(listSep)} (or all), got ${shown(x)}${didYouMean(x, allowed)}`);
  return items as T[];
}

/** a comma-separated list of integers ≥ min */
export function intListOption(v: string | boolean | undefined, name: string, dflt: readonly number[], min = 0): number[] {
  if (v === undefined) return [...dflt];
  const items = String(v).split(',');
  const xs = items.map((s) => (s.trim() === '' ? NaN : Number(s)));
  if (xs.some((x) => !Number.isSafeInteger(x) || x < min)) throw new UsageError(`--${name} must be a comma-separated list of integers ≥ ${min}, got ${shown(v)}`);
  return xs;
}

/** a positional word of a fixed set ("name a demo: bf16, rope") */
export function wordArgument<T extends string>(v: string | undefined, what: string, allowed: readonly T[]): T {
  if (v !== undefined && allowed.includes(v as T)) return v as T;
  throw new UsageError(`name ${what}: ${allowed.join(', ')}${v === undefined ? '' : `; got ${shown(v)}${didYouMean(v, allowed)}`}`);
}

/** --shard i/n (1 ≤ i ≤ n): case number k (0-based, in file order) belongs to shard (k mod n) + 1 */
export interface Shard {
  index: number;
  count: number;
  has(ordinal: number): boolean;
  label: string;
}
export function shardOption(v: string | boolean | undefined): Shard | undefined {
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^(\d+)\/(\d+)$/.exec(v) : null;
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new UsageError(`--shard must be i/n with 1 ≤ i ≤ n (e.g. 2/8), got ${shown(v)}`);
  return { index, count, has: (k) => k % count === index - 1, label: `${index}/${count}` };
}

/** a byte size: a number with an optional K/M/G/T suffix (powers of 1024) */
export function sizeOption(v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(v.trim()) : null;
  if (!m) throw new UsageError(`--${name} must be a size such as 512M or 8G, got ${shown(v)}`);
  return Math.floor(Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2].toUpperCase() || ' '));
}

/** --tensors inline|sidecar */
export function tensorsOption(v: string | boolean | undefined, out: string | boolean | undefined): 'inline' | 'sidecar' {
  if (enumOption(v, 'tensors', ['inline', 'sidecar'], 'inline') === 'inline') return 'inline';
  if (typeof out !== 'string' || out === '-') throw new UsageError('--tensors sidecar needs --out FILE (the sidecar is written beside it)');
  return 'sidecar';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => (process.exitCode = failure('', '', e, process.argv.includes('--debug'))),
  );
}

// anchor-oracle: the command line. Each subcommand is a file in cli/; this one dispatches.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { OpError } from '../io/errors.ts';
import { closest } from '../ops/registry.ts';
import { errnoText, WriteError } from '../io/lines.ts';

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  allowPositionals?: boolean;
  /** returns the exit code */
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
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

/** a command's help: usage, what it does */
function commandHelp(name: string, cmd: Command): string {
  return `${cmd.usage}\n\n${cmd.summary}\n\nanchor-oracle ${name} --help shows this; SPEC.md and FORMAT.md say what every op and flag means.`;
}

async function help(): Promise<string> {
  const lines = ['usage: anchor-oracle <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) {
    const c = await load();
    lines.push(`  ${name.padEnd(8)} ${c.summary}`);
  }
  lines.push('', 'anchor-oracle <command> --help shows its options.');
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  // --debug anywhere: an internal error prints its stack trace too
  const debug = argv.includes('--debug');
  if (debug) process.env.ANCHOR_ORACLE_DEBUG = '1'; // error lines of eval (and its worker threads) add where
  const [name, ...rest] = argv.filter((a) => a !== '--debug');
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`anchor-oracle ${version()}`);
    return 0;
  }
  if (name === 'help' && rest[0] && commands[rest[0]]) {
    console.log(commandHelp(rest[0], await commands[rest[0]]()));
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await help());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    const near = closest(name, Object.keys(commands));
    console.error(`anchor-oracle: unknown command "${name}"${near ? ` (did you mean "${near}"?)` : ''}\n\n${await help()}`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(name, cmd));
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: cmd.options, allowPositionals: cmd.allowPositionals ?? false, strict: true });
  } catch (e) {
    // node's parser explains an option value that starts with '-' in three lines: say it in one
    const msg = (e as Error).message;
    const dashed = /^Option '(--?[\w-]+)[^']*' argument is ambiguous/.exec(msg);
    const unknown = /^Unknown option '--([\w-]+)'/.exec(msg);
    const near = unknown && closest(unknown[1], Object.keys(cmd.options));
    const say = dashed ? `${dashed[1]} takes a value; for one that starts with '-' write ${dashed[1]}=VALUE` : msg.split('\n')[0] + (near ? ` (did you mean --${near}?)` : '');
    return failure(name, cmd.usage, new UsageError(say), debug);
  }
  try {
    return await cmd.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  } catch (e) {
    return failure(name, cmd.usage, e, debug);
  }
}

/**
 * The CLI's one error path: bad input (a usage error, an OpError naming the problem, a file
 * that cannot be read or written) is one line and exit 2; anything else is a bug: one line,
 * "please report", and the stack trace only with --debug.
 */
export function failure(name: string, usage: string, e: unknown, debug: boolean): number {
  const err = e as NodeJS.ErrnoException;
  const who = name ? `anchor-oracle ${name}` : 'anchor-oracle';
  if (e instanceof UsageError) console.error(`${who}: ${err.message}${usage ? `\nusage: ${usage.split('\n')[0]} (--help: every option)` : ''}`);
  else if (e instanceof OpError || e instanceof WriteError) console.error(`${who}: ${err.message}`);
  else if (typeof err?.code === 'string' && typeof err.syscall === 'string') console.error(`${who}: cannot ${err.syscall}${err.path ? ` ${err.path}` : ''}: ${errnoText(e)}`);
  else {
    console.error(`${who}: internal error: ${err?.message ?? String(e)} (please report it, with the command; --debug shows where)`);
    if (debug) console.error(err?.stack);
  }
  return 2;
}

/** parse an integer option with a clear error */
export function intOption(v: string | boolean | undefined, name: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}
export class UsageError extends Error {}

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
  if (!m || count < 1 || index < 1 || index > count) throw new UsageError(`--shard must be i/n with 1 ≤ i ≤ n (e.g. 2/8), got ${JSON.stringify(v)}`);
  return { index, count, has: (k) => k % count === index - 1, label: `${index}/${count}` };
}

/** a byte size: a number with an optional K/M/G/T suffix (powers of 1024) */
export function sizeOption(v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(v.trim()) : null;
  if (!m) throw new UsageError(`--${name} must be a size such as 512M or 8G, got ${JSON.stringify(v)}`);
  return Math.floor(Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2].toUpperCase() || ' '));
}

/** --tensors inline|sidecar */
export function tensorsOption(v: string | boolean | undefined, out: string | boolean | undefined): 'inline' | 'sidecar' {
  if (v === undefined || v === 'inline') return 'inline';
  if (v !== 'sidecar') throw new UsageError(`--tensors must be inline or sidecar, got ${JSON.stringify(v)}`);
  if (typeof out !== 'string' || out === '-') throw new UsageError('--tensors sidecar needs --out FILE (the sidecar is written beside it)');
  return 'sidecar';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => (process.exitCode = failure('', '', e, process.argv.includes('--debug'))),
  );
}

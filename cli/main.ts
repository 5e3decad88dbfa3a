// anchor-oracle: the command line. Each subcommand is a file in cli/; this one dispatches.

import { parseArgs, type ParseArgsConfig } from 'node:util';

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
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await help());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`anchor-oracle: unknown command "${name}"\n\n${await help()}`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${cmd.usage}\n\n${cmd.summary}`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: cmd.options, allowPositionals: cmd.allowPositionals ?? false, strict: true });
  } catch (e) {
    console.error(`anchor-oracle ${name}: ${(e as Error).message}\nusage: ${cmd.usage}`);
    return 2;
  }
  try {
    return await cmd.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`anchor-oracle ${name}: ${e.message}\nusage: ${cmd.usage}`);
      return 2;
    }
    throw e;
  }
}

/** parse an integer option with a clear error */
export function intOption(v: string | boolean | undefined, name: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}
export class UsageError extends Error {}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      console.error(e instanceof UsageError ? `anchor-oracle: ${e.message}` : e);
      process.exitCode = 2;
    },
  );
}

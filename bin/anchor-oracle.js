#!/usr/bin/env node
// The CLI entry: runs cli/main.ts through tsx (a dependency), so no build step is needed.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
register();
const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const { run } = await import(main);
try {
  process.exitCode = await run(process.argv.slice(2));
} catch (e) {
  // a bug, not bad input: one line (the stack with ANCHOR_ORACLE_DEBUG=1), exit 2 ("could not run")
  console.error(`anchor-oracle: internal error: ${e?.message ?? e}${process.env.ANCHOR_ORACLE_DEBUG ? `\n${e?.stack}` : ' (ANCHOR_ORACLE_DEBUG=1 shows where)'}`);
  process.exitCode = 2;
}

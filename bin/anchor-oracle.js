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
  // an error outside a command (loading it): the same one line as inside one
  process.exitCode = (await import(main)).failure('', '', e, process.argv.includes('--debug'));
}

#!/usr/bin/env node
// The CLI entry. In a checkout (the TypeScript sources beside it) it runs them through tsx, a
// dev dependency, so no build step is needed; installed from the package it runs the compiled
// JavaScript in dist/ (npm run build, run by npm's prepare and prepack).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sources = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
let main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  main = sources;
}
const { run, failure } = await import(main);
try {
  process.exitCode = await run(process.argv.slice(2));
} catch (e) {
  // an error outside a command (loading it): the same one line as inside one
  process.exitCode = failure('', '', e, process.argv.includes('--debug'));
}

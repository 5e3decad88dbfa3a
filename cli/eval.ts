import '../ops/index.ts';
import { existsSync } from 'node:fs';
import { evalLine } from '../ops/cases.ts';
import { LineSink, readLines } from '../io/lines.ts';
import type { Command } from './main.ts';

export const command: Command = {
  summary: 'compute the oracle outputs for each case line (stdin or FILE); one result line per case',
  usage: 'anchor-oracle eval [FILE|-] [--out FILE]   (exit 0: all ok, 1: some error lines, 2: could not run)',
  options: { out: { type: 'string' } },
  allowPositionals: true,
  async run(v, pos) {
    const path = pos[0];
    if (pos.length > 1) {
      console.error('anchor-oracle eval: at most one input file');
      return 2;
    }
    if (path && path !== '-' && !existsSync(path)) {
      console.error(`anchor-oracle eval: cannot read ${path}: no such file`);
      return 2;
    }
    const sink = new LineSink(v.out as string | undefined);
    let errors = 0;
    let count = 0;
    try {
      for await (const { line, lineNo } of readLines(path)) {
        const r = evalLine(line);
        count++;
        if ('error' in r) {
          errors++;
          console.error(`eval: line ${lineNo}: ${r.error.code}: ${r.error.message}`);
        }
        sink.write(r);
      }
    } catch (e) {
      console.error(`anchor-oracle eval: cannot read input: ${(e as Error).message}`);
      return 2;
    }
    sink.close();
    console.error(`eval: ${count} cases, ${count - errors} ok, ${errors} errors`);
    return errors ? 1 : 0;
  },
};

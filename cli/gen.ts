import '../ops/index.ts';
import { generateLines } from '../ops/cases.ts';
import { getOp } from '../ops/registry.ts';
import { LineSink } from '../io/lines.ts';
import { type Command, intOption, UsageError } from './main.ts';

export const command: Command = {
  summary: 'write cases (inputs + expected outputs) for an op as JSON Lines',
  usage: 'anchor-oracle gen --op OP [--n N] [--seed S] [--level 1|2] [--out FILE]',
  options: { op: { type: 'string' }, n: { type: 'string' }, seed: { type: 'string' }, level: { type: 'string' }, out: { type: 'string' } },
  async run(v) {
    if (!v.op) throw new UsageError('--op is required (anchor-oracle ops lists them)');
    try {
      getOp(v.op);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const level = intOption(v.level, 'level', 1, 1);
    if (level !== 1 && level !== 2) throw new UsageError(`--level must be 1 or 2, got ${level}`);
    const lines = generateLines(v.op as string, { n: intOption(v.n, 'n', 0), seed: intOption(v.seed, 'seed', 1), level });
    const sink = new LineSink(v.out as string | undefined);
    for (const l of lines) sink.write(l);
    sink.close();
    if (v.out) console.error(`gen: wrote ${lines.length} ${v.op} cases to ${v.out}`);
    return 0;
  },
};

import type { Command } from './main.ts';
import { UsageError } from './main.ts';

/** demos by name; each prints computed lines (and may write plots next to --out) */
const demos: Record<string, (opts: { out?: string }) => Promise<string[]>> = {
  bf16: async () => (await import('../demos/bf16.ts')).bf16Tour(),
  rope: async (opts) => (await import('../demos/rope.ts')).ropeDemo(opts),
};

export const command: Command = {
  summary: `teaching demos: ${Object.keys(demos).join(', ')}`,
  usage: `anchor-oracle demo <${Object.keys(demos).join('|')}> [--out DIR]`,
  options: { out: { type: 'string' } },
  allowPositionals: true,
  async run(v, pos) {
    const name = pos[0];
    if (!name || !(name in demos)) throw new UsageError(`name a demo: ${Object.keys(demos).join(', ')}`);
    for (const line of await demos[name]({ out: v.out as string | undefined })) console.log(line);
    return 0;
  },
};

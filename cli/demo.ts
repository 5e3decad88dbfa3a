import type { Command } from './main.ts';
import { wordArgument } from './main.ts';

/** demos by name; each prints computed lines (and may write plots next to --out) */
const demos: Record<string, (opts: { out?: string }) => Promise<string[]>> = {
  bf16: async () => (await import('../demos/bf16.ts')).bf16Tour(),
  rope: async (opts) => (await import('../demos/rope.ts')).ropeDemo(opts),
};

export const command: Command = {
  summary: `teaching demos: ${Object.keys(demos).join(', ')}`,
  usage: `anchor-oracle demo <${Object.keys(demos).join('|')}> [--out DIR]`,
  options: { out: { type: 'string', placeholder: 'DIR', description: 'rope: the folder its SVG plot is written to (bf16 writes none)', default: '.' } },
  examples: ['anchor-oracle demo bf16', 'anchor-oracle demo rope --out plots'],
  allowPositionals: true,
  async run(v, pos) {
    const name = wordArgument(pos[0], 'a demo', Object.keys(demos));
    for (const line of await demos[name]({ out: v.out as string | undefined })) console.log(line);
    return 0;
  },
};

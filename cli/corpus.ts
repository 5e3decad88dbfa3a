// anchor-oracle corpus: local text / Markdown files → raw_json rows ({"text": ...}).

import type { Command } from './main.ts';
import { UsageError } from './main.ts';
import { JsonlWriter } from '../io/line-writer.ts';
import { buildCorpus, defaultCorpus } from '../data/corpus.ts';

const root = new URL('..', import.meta.url).pathname;

export const command: Command = {
  summary: 'turn local text/Markdown files into raw_json rows (default: the docs in node_modules)',
  usage: 'anchor-oracle corpus [--from DIR] [--glob PATTERN]... [--out FILE]',
  options: { from: { type: 'string' }, glob: { type: 'string', multiple: true }, out: { type: 'string' } },
  async run(v) {
    const globs = v.glob as unknown as string[] | undefined;
    if (globs && !v.from) throw new UsageError('--glob needs --from');
    const rows = v.from ? buildCorpus(v.from as string, { globs }) : defaultCorpus(root);
    const sink = new JsonlWriter(v.out as string | undefined);
    for (const r of rows) sink.write({ text: r.text });
    sink.close();
    console.error(`corpus: ${rows.length} files, ${rows.reduce((a, r) => a + r.text.length, 0)} characters`);
    return 0;
  },
};

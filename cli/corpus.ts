// anchor-oracle corpus: local text / Markdown files → raw_json rows ({"text": ...}).

import type { Command } from './main.ts';
import { UsageError } from './main.ts';
import { info } from '../io/progress.ts';
import { OpError } from '../io/errors.ts';
import { JsonlWriter } from '../io/line-writer.ts';
import { buildCorpus, defaultCorpus, globToRegExp, statOrNull } from '../data/corpus.ts';

const root = new URL('..', import.meta.url).pathname;

export const command: Command = {
  summary: 'turn local text/Markdown files into raw_json rows (default: the docs in node_modules)',
  usage: 'anchor-oracle corpus [--from DIR] [--glob PATTERN]... [--out FILE]',
  options: {
    from: { type: 'string', placeholder: 'DIR', description: 'the folder holding the text / Markdown files', default: 'the docs in node_modules' },
    glob: { type: 'string', multiple: true, placeholder: 'PATTERN', description: 'files under --from to take, relative to it (repeat for more; needs --from)', default: '**/*.{md,markdown,txt}' },
    out: { type: 'string', placeholder: 'FILE', description: 'write the rows to FILE (atomically) instead of standard output', default: 'standard output' },
  },
  examples: ['anchor-oracle corpus --out corpus.jsonl', "anchor-oracle corpus --from notes --glob '**/*.md' --glob '*.txt' --out corpus.jsonl"],
  async run(v) {
    const globs = v.glob as unknown as string[] | undefined;
    if (globs && !v.from) throw new UsageError('--glob needs --from');
    // bad input is found before any work: every glob parses, --from is a folder
    for (const g of globs ?? []) {
      try {
        globToRegExp(g);
      } catch (e) {
        if (e instanceof OpError) throw new OpError('BAD_ARGS', `--glob: ${e.message}`);
        throw e;
      }
    }
    const from = v.from as string | undefined;
    if (from !== undefined) {
      const st = statOrNull(from);
      if (!st) throw new OpError('BAD_ARGS', `--from ${from}: no such folder (give the folder holding the text files)`);
      if (!st.isDirectory()) throw new OpError('BAD_ARGS', `--from ${from}: not a folder (give the folder holding the text files)`);
    }
    const warn = (s: string) => console.error(s);
    const rows = from !== undefined ? buildCorpus(from, { globs, warn }) : defaultCorpus(root);
    const sink = new JsonlWriter(v.out as string | undefined);
    try {
      for (const r of rows) sink.write({ text: r.text });
      sink.close();
    } catch (e) {
      sink.abort();
      throw e;
    }
    info(`corpus: ${rows.length} files, ${rows.reduce((a, r) => a + r.text.length, 0)} characters`);
    if (!rows.length) console.error(`corpus: no file matched${globs ? ` ${globs.join(', ')}` : ''} under ${from ?? 'node_modules'} (the default glob is **/*.{md,markdown,txt})`);
    return 0;
  },
};

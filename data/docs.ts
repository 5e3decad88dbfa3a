// Documents for training: raw_json rows (tokenized here, BOS in front when the tokenizer
// has one) or tokenized rows (split at source[*].end), or the default corpus.

import { OpError } from '../io/errors.ts';
import { defaultCorpus } from './corpus.ts';
import { documentsOfRow, formatBadRows, newBadRows, readRawJson, readTokenized } from './readers.ts';
import type { TextTokenizer } from './tokenizer.ts';

export type DataFormat = 'raw_json' | 'tokenized';

/** token documents of a data file, or of the default corpus when path is undefined; bad rows are reported through `warn` */
export async function loadDocuments(path: string | undefined, format: DataFormat, tok: TextTokenizer, root: string, warn: (s: string) => void): Promise<number[][]> {
  const withBos = (ids: number[]) => (tok.bos !== null ? [tok.bos, ...ids] : ids);
  if (!path) return defaultCorpus(root).map((r) => withBos(tok.encode(r.text)));
  const bad = newBadRows();
  const docs: number[][] = [];
  if (format === 'raw_json') for await (const r of readRawJson(path, bad)) docs.push(withBos(tok.encode(r.text)));
  else if (format === 'tokenized') for await (const r of readTokenized(path, bad, tok.vocabSize)) docs.push(...documentsOfRow(r));
  else throw new OpError('BAD_ARGS', `unknown data format ${JSON.stringify(format)} (raw_json or tokenized)`);
  for (const l of formatBadRows(bad, path)) warn(l);
  if (bad.count) warn(`${path}: ${bad.count} bad row(s) skipped`);
  return docs;
}

// Streaming readers for the paper's two data formats (its training code's readers):
//   raw_json   JSON Lines of {"text": "..."}
//   tokenized  JSON Lines of {"input_ids": [ints], "source": [{"source", "start", "end"}, ...]}
//              (FranxYao's slimpajama_packing.py output; AnchorContext reads source[*].end)
// A bad row is never dropped silently: it is skipped, counted, and reported with its line
// number (the first `keep` reasons are kept).

import { readLines as readFileLines } from '../io/lines.ts';

/** the lines of a file, a leading UTF-8 byte order mark removed (editors on Windows write one) */
async function* readLines(path: string): AsyncGenerator<{ line: string; lineNo: number }> {
  for await (const l of readFileLines(path)) yield l.lineNo === 1 && l.line.charCodeAt(0) === 0xfeff ? { line: l.line.slice(1), lineNo: 1 } : l;
}

export interface BadRows {
  count: number;
  /** the first few: line number and reason */
  rows: { lineNo: number; reason: string }[];
}
export const newBadRows = (): BadRows => ({ count: 0, rows: [] });
const KEEP = 20;
function reject(bad: BadRows, lineNo: number, reason: string): void {
  bad.count++;
  if (bad.rows.length < KEEP) bad.rows.push({ lineNo, reason });
}
export function formatBadRows(bad: BadRows, file: string): string[] {
  const out = bad.rows.map((r) => `${file}:${r.lineNo}: skipped: ${r.reason}`);
  if (bad.count > bad.rows.length) out.push(`${file}: … ${bad.count - bad.rows.length} more bad rows`);
  return out;
}

function parse(line: string, lineNo: number, bad: BadRows): Record<string, unknown> | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    reject(bad, lineNo, `not valid JSON (${(e as Error).message})`);
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    reject(bad, lineNo, 'row is not a JSON object');
    return null;
  }
  return v as Record<string, unknown>;
}

export interface RawRow {
  text: string;
  lineNo: number;
}

/** rows of a raw_json file ("-" = stdin) */
export async function* readRawJson(path: string, bad: BadRows): AsyncGenerator<RawRow> {
  for await (const { line, lineNo } of readLines(path)) {
    const o = parse(line, lineNo, bad);
    if (!o) continue;
    if (typeof o.text !== 'string') {
      reject(bad, lineNo, `"text" must be a string, got ${o.text === undefined ? 'nothing' : typeof o.text}`);
      continue;
    }
    yield { text: o.text, lineNo };
  }
}

export interface SourceSpan {
  source: string;
  start: number;
  end: number;
}
export interface TokenizedRow {
  inputIds: number[];
  sources: SourceSpan[];
  lineNo: number;
}

/** check a tokenized row; returns the reason it is bad, or null */
export function checkTokenizedRow(o: Record<string, unknown>, vocabSize?: number): string | null {
  const ids = o.input_ids;
  if (!Array.isArray(ids) || ids.length === 0) return '"input_ids" must be a non-empty array';
  for (let i = 0; i < ids.length; i++) {
    const x = ids[i];
    if (!Number.isSafeInteger(x) || x < 0) return `input_ids[${i}] = ${JSON.stringify(x)} is not a non-negative integer`;
    if (vocabSize !== undefined && x >= vocabSize) return `input_ids[${i}] = ${x} is outside the vocabulary (size ${vocabSize})`;
  }
  const src = o.source;
  if (!Array.isArray(src) || src.length === 0) return '"source" must be a non-empty array of {source, start, end}';
  let prevEnd = 0;
  for (let i = 0; i < src.length; i++) {
    const s = src[i] as Record<string, unknown>;
    if (typeof s !== 'object' || s === null) return `source[${i}] is not an object`;
    const { start, end } = s;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return `source[${i}] needs integer start and end`;
    if ((start as number) < prevEnd || (end as number) <= (start as number) || (end as number) > ids.length)
      return `source[${i}] [${start}, ${end}) is not an increasing span inside [0, ${ids.length}]`;
    prevEnd = end as number;
  }
  return null;
}

/** rows of a tokenized file ("-" = stdin) */
export async function* readTokenized(path: string, bad: BadRows, vocabSize?: number): AsyncGenerator<TokenizedRow> {
  for await (const { line, lineNo } of readLines(path)) {
    const o = parse(line, lineNo, bad);
    if (!o) continue;
    const why = checkTokenizedRow(o, vocabSize);
    if (why) {
      reject(bad, lineNo, why);
      continue;
    }
    const sources = (o.source as Record<string, unknown>[]).map((s) => ({ source: String(s.source ?? ''), start: s.start as number, end: s.end as number }));
    yield { inputIds: o.input_ids as number[], sources, lineNo };
  }
}

/** the documents of a tokenized row: the spans [start, end) (a leading BOS stays; packing strips it) */
export function documentsOfRow(row: TokenizedRow): number[][] {
  return row.sources.map((s) => row.inputIds.slice(s.start, s.end));
}

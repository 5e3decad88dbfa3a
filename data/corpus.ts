// A raw_json corpus from local text / Markdown files: every matching file under a folder,
// in sorted (deterministic) order, becomes one {"text": ...} row. The default demo corpus
// is the documentation shipped in the project's installed dependencies
// (node_modules/**/README.md), so it needs no download.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { createHash } from 'node:crypto';

/** a glob subset: `**` (any folders), `*` (within a name), `?`, and {a,b} alternatives */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) throw new Error(`glob ${glob}: unclosed {`);
      re += '(?:' + glob.slice(i + 1, end).split(',').map((s) => s.replace(/[.+^$()|[\]\\]/g, '\\$&')).join('|') + ')';
      i = end;
    } else re += c.replace(/[.+^$()|[\]\\{}]/g, '\\$&');
  }
  return new RegExp('^' + re + '$', 'i');
}

export interface CorpusOptions {
  globs?: string[];
  /** skip files larger than this (bytes) */
  maxBytes?: number;
  /** skip files smaller than this (bytes) */
  minBytes?: number;
}

/** matching files under dir, relative paths sorted by code unit, symlinks not followed */
export function listCorpusFiles(dir: string, opts: CorpusOptions = {}): string[] {
  const res = (opts.globs ?? ['**/*.{md,markdown,txt}']).map(globToRegExp);
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const p = join(d, name);
      let st;
      try {
        st = statSync(p, { throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const rel = relative(dir, p).split(sep).join('/');
        if (res.some((r) => r.test(rel)) && st.size <= (opts.maxBytes ?? 1_000_000) && st.size >= (opts.minBytes ?? 1)) out.push(rel);
      }
    }
  };
  walk(dir);
  return out.sort();
}

/** one {"text"} row per file (identical contents kept once), in sorted path order */
export function buildCorpus(dir: string, opts: CorpusOptions = {}): { path: string; text: string }[] {
  const seen = new Set<string>();
  const rows: { path: string; text: string }[] = [];
  for (const rel of listCorpusFiles(dir, opts)) {
    const text = readFileSync(join(dir, rel), 'utf8');
    const h = createHash('sha256').update(text).digest('hex');
    if (seen.has(h) || !text.trim()) continue;
    seen.add(h);
    rows.push({ path: rel, text });
  }
  return rows;
}

/** the default demo corpus: README / Markdown files of the installed dependencies */
export function defaultCorpus(root: string): { path: string; text: string }[] {
  return buildCorpus(join(root, 'node_modules'), { globs: ['**/README.md', '**/readme.md', '**/*.md'], minBytes: 200, maxBytes: 400_000 });
}

// A raw_json corpus from local text / Markdown files: every matching file under a folder,
// in sorted (deterministic) order, becomes one {"text": ...} row. The default demo corpus
// is the documentation shipped in the project's installed dependencies
// (node_modules/**/README.md), so it needs no download.

import { lstatSync, readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { OpError } from '../io/errors.ts';

/** a path's stat, or null when there is nothing there (a path under a file is nothing too: ENOTDIR) */
export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path, { throwIfNoEntry: false }) ?? null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
}

const badGlob = (glob: string, why: string) => new OpError('BAD_ARGS', `glob ${JSON.stringify(glob)}: ${why} (the glob subset: **, *, ?, {a,b}; e.g. "**/*.{md,txt}")`);

/** the regular expression source of glob[from, to) */
function globSource(glob: string, from: number, to: number): string {
  let re = '';
  for (let i = from; i < to; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*' && i + 1 < to) {
      i++;
      if (glob[i + 1] === '/' && i + 1 < to) {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      // the matching }, and the top-level commas inside (alternatives may nest)
      const commas: number[] = [];
      let depth = 0;
      let end = -1;
      for (let j = i + 1; j < to && end < 0; j++) {
        if (glob[j] === '{') depth++;
        else if (glob[j] === '}') {
          if (depth === 0) end = j;
          else depth--;
        } else if (glob[j] === ',' && depth === 0) commas.push(j);
      }
      if (end < 0) throw badGlob(glob, 'unclosed {');
      const bounds = [i, ...commas, end];
      const alts: string[] = [];
      for (let k = 0; k + 1 < bounds.length; k++) alts.push(globSource(glob, bounds[k] + 1, bounds[k + 1]));
      re += '(?:' + alts.join('|') + ')';
      i = end;
    } else re += c.replace(/[.+^$()|[\]\\{}]/g, '\\$&');
  }
  return re;
}

/** a glob subset: `**` (any folders), `*` (within a name), `?`, and {a,b} alternatives (which may nest); a malformed glob is an OpError */
export function globToRegExp(glob: string): RegExp {
  try {
    return new RegExp('^' + globSource(glob, 0, glob.length) + '$', 'i');
  } catch (e) {
    if (e instanceof OpError) throw e;
    throw badGlob(glob, (e as Error).message);
  }
}

export interface CorpusOptions {
  globs?: string[];
  /** skip files larger than this (bytes) */
  maxBytes?: number;
  /** skip files smaller than this (bytes) */
  minBytes?: number;
  /** the most folder entries the walk looks at before it stops with an error (default 2,000,000) */
  maxEntries?: number;
  /** the deepest folder nesting the walk enters (default 64) */
  maxDepth?: number;
  /** told about each file or folder that could not be read (it is skipped) */
  warn?: (s: string) => void;
}

/**
 * Matching files under dir, relative paths sorted by code unit. Symlinked folders are not
 * followed (so a link loop cannot make the walk endless); a symlink to a file counts as
 * that file. The walk is bounded: more than maxEntries entries, or a folder nested deeper
 * than maxDepth, is an OpError naming the bound. A dir that is missing or not a folder is
 * an OpError too.
 */
export function listCorpusFiles(dir: string, opts: CorpusOptions = {}): string[] {
  const res = (opts.globs ?? ['**/*.{md,markdown,txt}']).map(globToRegExp);
  const top = statOrNull(dir);
  if (!top) throw new OpError('BAD_ARGS', `corpus folder ${dir}: no such folder`);
  if (!top.isDirectory()) throw new OpError('BAD_ARGS', `corpus folder ${dir}: not a folder`);
  const maxEntries = opts.maxEntries ?? 2_000_000;
  const maxDepth = opts.maxDepth ?? 64;
  const out: string[] = [];
  let entries = 0;
  const walk = (d: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch (e) {
      opts.warn?.(`corpus: skipped folder ${d}: ${(e as Error).message}`);
      return;
    }
    for (const name of names.sort()) {
      if (++entries > maxEntries) throw new OpError('BAD_ARGS', `corpus folder ${dir}: more than ${maxEntries} entries; give a smaller folder`);
      const p = join(d, name);
      let st;
      let link = false;
      try {
        st = lstatSync(p, { throwIfNoEntry: false });
        // a symlink counts only when it leads to a file: linked folders are not entered
        link = Boolean(st?.isSymbolicLink());
        if (link) st = statSync(p, { throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) {
        if (link) continue;
        if (depth + 1 > maxDepth) throw new OpError('BAD_ARGS', `corpus folder ${dir}: ${relative(dir, p)} is nested more than ${maxDepth} folders deep; give a smaller folder`);
        walk(p, depth + 1);
      } else if (st.isFile()) {
        const rel = relative(dir, p).split(sep).join('/');
        if (res.some((r) => r.test(rel)) && st.size <= (opts.maxBytes ?? 1_000_000) && st.size >= (opts.minBytes ?? 1)) out.push(rel);
      }
    }
  };
  walk(dir, 0);
  return out.sort();
}

/** one {"text"} row per file (identical contents kept once), in sorted path order */
export function buildCorpus(dir: string, opts: CorpusOptions = {}): { path: string; text: string }[] {
  const seen = new Set<string>();
  const rows: { path: string; text: string }[] = [];
  for (const rel of listCorpusFiles(dir, opts)) {
    let text: string;
    try {
      text = readFileSync(join(dir, rel), 'utf8');
    } catch (e) {
      // gone or unreadable since the listing: said, and skipped
      opts.warn?.(`corpus: skipped ${join(dir, rel)}: ${(e as Error).message}`);
      continue;
    }
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

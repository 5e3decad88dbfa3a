// `@rows R` (register blocking by rows): a kernel written for one output row per cell
// (`const m: int = this.thread.y`) becomes one computing rows R·y … R·y + R − 1 per cell and
// returning [r0, r1, …] (gpu.js Array(R), R = 2 … 4). Applied to the kernel's source text after
// @inline expansion and before the per-backend transform (codegen/generate.ts), so every
// lowering still sees plain kernel-subset source.
//
// Row-varying names: those whose initializer or an assignment reads `this.thread.y` or another
// row-varying name (to a fixed point). In each block, a statement that reads or writes a
// row-varying name is written R times, copy c with every such name `x` renamed `x_rc` and
// `this.thread.y` read as `(this.thread.y * R + c)`; other statements stay once (so a
// lane-varying load like `const bv = b[k * N + n]` is shared by the R rows). A for loop or an
// if whose header reads only row-uniform names keeps its header and is blocked inside;
// `return e` becomes `return [e_r0, …]`. Each row's own operations, and their order, are the
// unblocked kernel's: results are bit-identical, laid out [y][x][c] (stride R) for rows R·y + c.
// The host pads the row count to a multiple of R (extra rows read padding) and de-interleaves.

import { ts } from 'ts-morph';
import { OpError } from '../io/errors.ts';

function fail(fnName: string, msg: string): never {
  throw new OpError('BAD_ARGS', `kernel subset (@rows): ${fnName}: ${msg}`);
}

const parse = (fileName: string, text: string): ts.SourceFile => ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);

const isThreadY = (n: ts.Node): n is ts.PropertyAccessExpression =>
  ts.isPropertyAccessExpression(n) && n.name.text === 'y' && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'thread' && n.expression.expression.kind === ts.SyntaxKind.ThisKeyword;

/** reference identifiers (not property names) and this.thread.y nodes under n */
function refs(n: ts.Node): { ids: ts.Identifier[]; ys: ts.PropertyAccessExpression[] } {
  const ids: ts.Identifier[] = [];
  const ys: ts.PropertyAccessExpression[] = [];
  const visit = (x: ts.Node): void => {
    if (isThreadY(x)) return void ys.push(x);
    if (ts.isPropertyAccessExpression(x)) return visit(x.expression);
    if (ts.isTypeNode(x)) return;
    if (ts.isIdentifier(x)) ids.push(x);
    ts.forEachChild(x, visit);
  };
  visit(n);
  return { ids, ys };
}

/** the kernel with `@rows R` applied (a fresh parse of the rewritten source text) */
export function blockRows(fn: ts.FunctionDeclaration, R: number): ts.FunctionDeclaration {
  const fnName = fn.name!.text;
  if (!(R >= 2 && R <= 4)) fail(fnName, `R must be 2, 3 or 4, got ${R}`);
  const sf = fn.getSourceFile();
  const text = sf.getFullText();
  const body = fn.body!;

  // row-varying names, to a fixed point
  const varying = new Set<string>();
  const writes: { target: string; from: ts.Node }[] = [];
  const collect = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) writes.push({ target: n.name.text, from: n.initializer });
    if (ts.isBinaryExpression(n) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment && ts.isIdentifier(n.left)) writes.push({ target: n.left.text, from: n });
    ts.forEachChild(n, collect);
  };
  collect(body);
  for (let changed = true; changed; ) {
    changed = false;
    for (const w of writes) {
      if (varying.has(w.target)) continue;
      const r = refs(w.from);
      if (r.ys.length || r.ids.some((i) => i !== (w.from as ts.BinaryExpression).left && varying.has(i.text))) {
        varying.add(w.target);
        changed = true;
      }
    }
  }
  const reads = (n: ts.Node): boolean => {
    const r = refs(n);
    return r.ys.length > 0 || r.ids.some((i) => varying.has(i.text));
  };

  /** the text of node n (from its start, without leading trivia) with row copy c's renames */
  const copy = (n: ts.Node, c: number): string => {
    const r = refs(n);
    const edits = [...r.ids.filter((i) => varying.has(i.text)).map((i) => ({ s: i.getStart(sf), e: i.end, by: `${i.text}_r${c}` })), ...r.ys.map((y) => ({ s: y.getStart(sf), e: y.end, by: `(this.thread.y * ${R} + ${c})` }))];
    edits.sort((a, b) => b.s - a.s);
    let out = text.slice(n.getStart(sf), n.end);
    const base = n.getStart(sf);
    for (const e of edits) out = out.slice(0, e.s - base) + e.by + out.slice(e.e - base);
    return out;
  };
  const trivia = (n: ts.Node): string => text.slice(n.pos, n.getStart(sf));

  const stmt = (s: ts.Statement): string => {
    if (ts.isBlock(s)) return trivia(s) + '{' + s.statements.map(stmt).join('') + '\n}';
    if (ts.isForStatement(s)) {
      if ((s.initializer && reads(s.initializer)) || (s.condition && reads(s.condition)) || (s.incrementor && reads(s.incrementor))) fail(fnName, 'a for loop whose header reads a row-varying name');
      return trivia(s) + text.slice(s.getStart(sf), s.statement.pos) + stmt(s.statement);
    }
    if (ts.isIfStatement(s)) {
      if (reads(s.expression)) fail(fnName, 'an if whose condition reads a row-varying name');
      return trivia(s) + 'if (' + text.slice(s.expression.getStart(sf), s.expression.end) + ')' + stmt(s.thenStatement) + (s.elseStatement ? ' else' + stmt(s.elseStatement) : '');
    }
    if (ts.isReturnStatement(s)) {
      if (!s.expression) fail(fnName, 'a bare return');
      if (ts.isArrayLiteralExpression(s.expression)) fail(fnName, 'a kernel that already returns an array');
      return trivia(s) + 'return [' + Array.from({ length: R }, (_, c) => copy(s.expression!, c)).join(', ') + '];';
    }
    if (!reads(s) && !(ts.isVariableStatement(s) && s.declarationList.declarations.some((d) => ts.isIdentifier(d.name) && varying.has(d.name.text)))) return trivia(s) + text.slice(s.getStart(sf), s.end);
    if (!ts.isVariableStatement(s) && !ts.isExpressionStatement(s)) fail(fnName, `a ${ts.SyntaxKind[s.kind]} that reads a row-varying name`);
    return trivia(s) + Array.from({ length: R }, (_, c) => copy(s, c)).join('\n');
  };

  const newBody = '{' + body.statements.map(stmt).join('') + '\n}';
  const out = text.slice(0, body.getStart(sf)) + newBody + text.slice(body.end);
  const parsed = parse(sf.fileName, out);
  const found = parsed.statements.find((s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === fnName);
  if (!found) fail(fnName, 'lost the function after rewriting');
  return found;
}

// `@inline` functions: shared pieces of kernel code (expf, the masked-score sentinel, the quad
// minimum …) written once in kernels/src/ and pasted by codegen at every call site, before the
// per-backend transform. A helper call (`@helper`) would be a real function in the emitted
// kernel, and gpu.js's webasm emitter runs helper calls lane by lane; an inlined body is
// vectorized with the kernel.
//
// An @inline function is `{ statements…; return expr; }` (one return, last; no other return).
// At a call site, in the kernel's source text:
// - each parameter is bound to its argument: substituted as written where that is safe (a name
//   or a literal; for a float parameter also any pure argument the body reads at most once),
//   else declared as a fresh local before the call's statement (`const x_2: int = arg;`);
// - the body's own locals get fresh names (`kf`, or `kf_2` where `kf` is taken);
// - the statements before the return are placed before the statement holding the call (a
//   statement in an if/else branch without braces gets braces), and the call is replaced by
//   the return expression (parenthesized unless its context needs none).
// A body that is a single return inlines as a pure expression substitution. Calls are expanded
// one at a time (innermost first) until none is left, so an @inline function may call another.
// A call under `?:`, `&&`, `||`, or in a for loop's header is rejected when the body has
// statements (hoisting would evaluate it unconditionally / once).

import { ts } from 'ts-morph';
import { OpError } from '../io/errors.ts';

export interface InlineFn {
  name: string;
  /** the function declaration, parsed with parents */
  node: ts.FunctionDeclaration;
  /** where it is written (for messages) */
  file: string;
}

function fail(msg: string): never {
  throw new OpError('BAD_ARGS', `kernel subset (@inline): ${msg}`);
}

const parse = (fileName: string, text: string): ts.SourceFile => ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);

/** identifiers that are references (not property names after `.`, not declaration names of properties) */
function references(node: ts.Node): ts.Identifier[] {
  const out: ts.Identifier[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isPropertyAccessExpression(n)) {
      visit(n.expression);
      return;
    }
    if (ts.isTypeNode(n)) return;
    if (ts.isIdentifier(n)) out.push(n);
    ts.forEachChild(n, visit);
  };
  visit(node);
  return out;
}

/** whether an expression has no side effects (no assignment, ++/--, or call except Math.*) */
function isPure(e: ts.Node): boolean {
  let pure = true;
  const visit = (n: ts.Node): void => {
    if (ts.isBinaryExpression(n) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment) pure = false;
    if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) pure = false;
    if (ts.isCallExpression(n) && !(ts.isPropertyAccessExpression(n.expression) && ts.isIdentifier(n.expression.expression) && n.expression.expression.text === 'Math')) pure = false;
    ts.forEachChild(n, visit);
  };
  visit(e);
  return pure;
}

const isPrimary = (e: ts.Expression): boolean =>
  ts.isIdentifier(e) || ts.isNumericLiteral(e) || ts.isCallExpression(e) || ts.isElementAccessExpression(e) || ts.isParenthesizedExpression(e) || ts.isPropertyAccessExpression(e);

/** whether an expression in the call's place needs no parentheses (a whole statement, initializer, argument …) */
function wholeContext(call: ts.CallExpression): boolean {
  const p = call.parent;
  if (ts.isExpressionStatement(p) || ts.isReturnStatement(p) || ts.isIfStatement(p) || ts.isParenthesizedExpression(p)) return true;
  if (ts.isVariableDeclaration(p) && p.initializer === call) return true;
  if (ts.isCallExpression(p) && p.arguments.includes(call)) return true;
  if (ts.isElementAccessExpression(p) && p.argumentExpression === call) return true;
  if (ts.isArrayLiteralExpression(p)) return true;
  if (ts.isBinaryExpression(p) && p.right === call && p.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && p.operatorToken.kind <= ts.SyntaxKind.LastAssignment) return true;
  return false;
}

/** the statement holding a node, and whether the way up crossed a conditional evaluation */
function holder(n: ts.Node): { stmt: ts.Statement; conditional: boolean; header: boolean } {
  let conditional = false;
  let cur: ts.Node = n;
  for (;;) {
    const p = cur.parent;
    if (ts.isConditionalExpression(p) && cur !== p.condition) conditional = true;
    if (ts.isBinaryExpression(p) && p.right === cur && [ts.SyntaxKind.AmpersandAmpersandToken, ts.SyntaxKind.BarBarToken, ts.SyntaxKind.QuestionQuestionToken].includes(p.operatorToken.kind)) conditional = true;
    cur = p;
    if (ts.isStatement(cur)) break;
  }
  const stmt = cur as ts.Statement;
  return { stmt, conditional, header: ts.isForStatement(stmt) || ts.isWhileStatement(stmt) || ts.isDoStatement(stmt) };
}

/** every name used anywhere in the function (taken for fresh names) */
function namesIn(fn: ts.Node): Set<string> {
  const names = new Set<string>();
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n)) names.add(n.text);
    ts.forEachChild(n, visit);
  };
  visit(fn);
  return names;
}

/**
 * Integer codes exported beside the kernels (`export const ROPE_PATH = { f32: 0, hf: 1 } as
 * const`): every `ROPE_PATH.hf` in the function becomes its number (`1`; a negative one `(-1)`).
 */
function inlineConsts(fn: ts.FunctionDeclaration, consts: ReadonlyMap<string, ReadonlyMap<string, string>>): ts.FunctionDeclaration {
  const sf = fn.getSourceFile();
  const hits: [ts.PropertyAccessExpression, string][] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression) && consts.has(n.expression.text)) {
      const v = consts.get(n.expression.text)!.get(n.name.text);
      if (v === undefined) fail(`${fn.name!.text}: ${n.expression.text} has no code ${n.name.text}`);
      hits.push([n, v.startsWith('-') ? `(${v})` : v]);
      return;
    }
    ts.forEachChild(n, visit);
  };
  visit(fn);
  if (!hits.length) return fn;
  let text = sf.getFullText();
  for (const [n, v] of hits.sort((a, b) => b[0].getStart(sf) - a[0].getStart(sf))) text = text.slice(0, n.getStart(sf)) + v + text.slice(n.end);
  const out = parse(sf.fileName, text);
  return out.statements.find((s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === fn.name!.text)!;
}

/**
 * The source file text with every call to an @inline function inside function `fnName`
 * expanded; returns the reparsed declaration of `fnName` (same file name, so positions before
 * the first expansion keep their line numbers).
 */
export function inlineCalls(fn: ts.FunctionDeclaration, inlines: ReadonlyMap<string, InlineFn>, consts: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map()): ts.FunctionDeclaration {
  const fnName = fn.name!.text;
  let sf = fn.getSourceFile();
  let text = sf.getFullText();
  for (let round = 0; ; round++) {
    if (round > 10000) fail(`${fnName}: @inline expansion does not terminate (recursion?)`);
    const target = sf.statements.find((s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === fnName)!;
    // innermost first: a call none of whose arguments holds another inline call
    let call: ts.CallExpression | undefined;
    const visit = (n: ts.Node): void => {
      if (call) return;
      ts.forEachChild(n, visit);
      if (!call && ts.isCallExpression(n) && ts.isIdentifier(n.expression) && inlines.has(n.expression.text)) call = n;
    };
    visit(target.body!);
    if (!call) return consts.size ? inlineConsts(target, consts) : target;
    const c: ts.CallExpression = call;
    const callee = inlines.get((c.expression as ts.Identifier).text)!;
    const where = `${fnName}'s call of ${callee.name}`;
    const h = callee.node;
    const body = h.body?.statements ?? fail(`${callee.name} has no body`);
    const last = body[body.length - 1];
    if (!last || !ts.isReturnStatement(last) || !last.expression) fail(`${callee.name} (${callee.file}) must end with \`return expr;\``);
    const early = body.slice(0, -1);
    const hasReturn = (n: ts.Node): boolean => ts.isReturnStatement(n) || ts.forEachChild(n, hasReturn) === true;
    if (early.some(hasReturn)) fail(`${callee.name} (${callee.file}): only one return, the last statement`);
    const params = h.parameters.filter((p) => !(ts.isIdentifier(p.name) && p.name.text === 'this'));
    if (params.length !== c.arguments.length) fail(`${where}: ${c.arguments.length} arguments for ${params.length} parameters`);
    const taken = namesIn(target);
    const fresh = (name: string): string => {
      let n = name;
      for (let k = 2; taken.has(n); k++) n = `${name}_${k}`;
      taken.add(n);
      return n;
    };
    const hsf = h.getSourceFile();
    const refs = references(h.body!);
    // locals declared in the body (all names, scoping aside: each gets one fresh name)
    const locals = new Set<string>();
    const collect = (n: ts.Node): void => {
      if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name)) locals.add(n.name.text);
      ts.forEachChild(n, collect);
    };
    collect(h.body!);
    const assigned = new Set<string>();
    const collectAssigned = (n: ts.Node): void => {
      if (ts.isBinaryExpression(n) && ts.isIdentifier(n.left) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment) assigned.add(n.left.text);
      ts.forEachChild(n, collectAssigned);
    };
    collectAssigned(h.body!);
    const rename = new Map<string, string>();
    const bindings: string[] = [];
    params.forEach((p, i) => {
      const pname = (p.name as ts.Identifier).text;
      const arg = c.arguments[i];
      const argText = arg.getText(sf);
      const type = p.type?.getText(hsf) ?? 'number';
      const uses = refs.filter((r) => r.text === pname).length;
      const simple = ts.isIdentifier(arg) || ts.isNumericLiteral(arg) || (ts.isPrefixUnaryExpression(arg) && ts.isNumericLiteral(arg.operand));
      if (type === 'Arr') {
        if (!ts.isIdentifier(arg)) fail(`${where}: argument ${pname} (an Arr) must be a name`);
        rename.set(pname, argText);
      } else if (!assigned.has(pname) && (simple || (type !== 'int' && isPure(arg) && (uses <= 1 || isPrimary(arg))))) {
        rename.set(pname, isPrimary(arg) ? argText : `(${argText})`);
      } else {
        const local = fresh(pname);
        bindings.push(`${type === 'int' ? 'const' : 'let'} ${local}${type === 'int' ? ': int' : ''} = ${argText};`);
        rename.set(pname, local);
      }
    });
    for (const l of locals) rename.set(l, fresh(l));
    // the body's text with names replaced (by position, last first)
    const retExpr = last.expression;
    const piece = (from: number, to: number): string => {
      let s = hsf.getFullText().slice(from, to);
      const inside = refs.filter((r) => r.getStart(hsf) >= from && r.end <= to && rename.has(r.text)).sort((a, b) => b.getStart(hsf) - a.getStart(hsf));
      for (const r of inside) s = s.slice(0, r.getStart(hsf) - from) + rename.get(r.text) + s.slice(r.end - from);
      return s;
    };
    // declaration names are identifiers too (they are in refs via VariableDeclaration.name)
    const stmtsText = early.length ? piece(early[0].getStart(hsf), early[early.length - 1].end) : '';
    let exprText = piece(retExpr.getStart(hsf), retExpr.end);
    if (!isPrimary(retExpr) && !wholeContext(c)) exprText = `(${exprText})`;
    const hoisted = [...bindings, ...(stmtsText ? [stmtsText] : [])];
    const start = c.getStart(sf);
    if (!hoisted.length) {
      text = text.slice(0, start) + exprText + text.slice(c.end);
    } else {
      const { stmt, conditional, header } = holder(c);
      if (conditional) fail(`${where}: a call with statements to hoist may not sit under ?:, && or ||`);
      if (header) fail(`${where}: a call with statements to hoist may not sit in a for loop's header`);
      const sStart = stmt.getStart(sf);
      const line = text.slice(text.lastIndexOf('\n', sStart - 1) + 1, sStart);
      const lineIndent = /^\s*/.exec(line)![0];
      const inBlock = ts.isBlock(stmt.parent) || ts.isSourceFile(stmt.parent);
      const indent = inBlock ? lineIndent : `${lineIndent}  `;
      const pre = hoisted.map((s) => s.split('\n').map((l) => l.trim()).join(`\n${indent}`)).join(`\n${indent}`);
      const stmtText = text.slice(sStart, start) + exprText + text.slice(c.end, stmt.end);
      const replaced = inBlock ? `${pre}\n${indent}${stmtText}` : `{\n${indent}${pre}\n${indent}${stmtText}\n${lineIndent}}`;
      text = text.slice(0, sStart) + replaced + text.slice(stmt.end);
    }
    sf = parse(sf.fileName, text);
  }
}

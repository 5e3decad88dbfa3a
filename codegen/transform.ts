// The per-backend transforms from the kernel subset (kernels/src/precision.ts) to a
// gpu.js kernel function in plain JavaScript. Each transform is one visitor case below,
// so the emitted source can be reviewed against SPEC.md's table ("Kernels: codegen").
//
//   cpu        gpu.js runs the function as JS, in float64: every float op and Math call is
//              wrapped in Math.fround, f32(x) becomes Math.fround(x).
//   webasm     wasm f32 is IEEE single: ops stay as written; every local gets its own name
//              (codegen/unique-locals.ts: gpu.js decides lane variance per name); loop
//              counters step as `i = i + 1` (the webgpu backend runs this lowering as WGSL,
//              which has no ++ on f32).
//   webgl2     GLSL ES 3.00: bf16(x) calls the native bf16bits (floatBitsToUint), and every
//              float subtrahend is multiplied by the opaque argument `one`.
//   headlessgl GLSL ES 1.00 (Mesa folds (a+b)−a): the `one` guard, bf16 by bf16Split.
//
// Common to all: types, `this` parameter and `export` are stripped; compound assignment
// is expanded; `// @unroll N` loops are unrolled; the kernel gains a trailing `one`
// parameter (the runtime passes 1.0 as a uniform, never as a constant, so no compiler
// can fold it).

import { relative } from 'node:path';
import { ts } from 'ts-morph';
import { OpError } from '../io/errors.ts';
import { uniqueLocals } from './unique-locals.ts';

export const BACKENDS = ['webasm', 'cpu', 'webgl2', 'headlessgl'] as const;
export type Backend = (typeof BACKENDS)[number];

const f = ts.factory;
const FLOAT_OPS = new Set([ts.SyntaxKind.PlusToken, ts.SyntaxKind.MinusToken, ts.SyntaxKind.AsteriskToken, ts.SyntaxKind.SlashToken]);
const COMPOUND: Partial<Record<ts.SyntaxKind, ts.BinaryOperator>> = {
  [ts.SyntaxKind.PlusEqualsToken]: ts.SyntaxKind.PlusToken,
  [ts.SyntaxKind.MinusEqualsToken]: ts.SyntaxKind.MinusToken,
  [ts.SyntaxKind.AsteriskEqualsToken]: ts.SyntaxKind.AsteriskToken,
};
const MATH_OK = new Set(['exp', 'log', 'sqrt', 'max', 'min', 'abs', 'floor']);

export interface TransformOptions {
  backend: Backend;
  /** true for a @kernel (renamed `kernel`, gains the `one` parameter); false for a @helper */
  isKernel: boolean;
  /** names of @helper functions a kernel may call */
  helpers: ReadonlySet<string>;
  /**
   * `@constants K,N`: these integer parameters become gpu.js compile-time constants
   * (`this.constants.K`): dropped from the parameters, every read rewritten. gpu.js compiles a
   * kernel per distinct constant values (kernels/runtime.ts caches per values).
   */
  constants?: readonly string[];
}

export interface Transformed {
  /** the emitted JavaScript function */
  code: string;
  params: string[];
  /** helper functions called (directly) */
  calls: string[];
  /** whether bf16() was used */
  usesBf16: boolean;
  /** numbers per output cell: 1, or n for a kernel that returns [a, b, …] (gpu.js Array(n)) */
  components: number;
}

function fail(node: ts.Node, msg: string): never {
  const sf = node.getSourceFile();
  const where = sf ? `${relative(process.cwd(), sf.fileName)}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}` : '(synthesized)';
  throw new OpError('BAD_ARGS', `kernel subset: ${msg} at ${where}`);
}

/** the names declared `: int` (parameters and variables) */
function intNames(fn: ts.FunctionDeclaration): Set<string> {
  const names = new Set<string>();
  const visit = (n: ts.Node): void => {
    if ((ts.isParameter(n) || ts.isVariableDeclaration(n)) && ts.isIdentifier(n.name) && n.type && n.type.getText() === 'int') names.add(n.name.text);
    ts.forEachChild(n, visit);
  };
  visit(fn);
  return names;
}

/** the `// @unroll N` count written right before a statement, or 0 */
function unrollCount(stmt: ts.Node, text: string): number {
  const ranges = ts.getLeadingCommentRanges(text, stmt.pos) ?? [];
  for (const r of ranges) {
    const m = /@unroll\s+(\d+)/.exec(text.slice(r.pos, r.end));
    if (m) return Number(m[1]);
  }
  return 0;
}

const fround = (e: ts.Expression): ts.Expression =>
  f.createCallExpression(f.createPropertyAccessExpression(f.createIdentifier('Math'), 'fround'), undefined, [e]);
const paren = (e: ts.Expression): ts.Expression =>
  ts.isIdentifier(e) || ts.isNumericLiteral(e) || ts.isCallExpression(e) || ts.isElementAccessExpression(e) || ts.isParenthesizedExpression(e) || ts.isPropertyAccessExpression(e)
    ? e
    : f.createParenthesizedExpression(e);

/** rename identifier `name` to expression `by` inside a (synthesized) subtree */
function substitute<T extends ts.Node>(node: T, name: string, by: () => ts.Expression): T {
  const visit = (n: ts.Node): ts.Node => {
    if (ts.isIdentifier(n) && n.text === name) return by();
    if (ts.isPropertyAccessExpression(n)) return f.updatePropertyAccessExpression(n, ts.visitNode(n.expression, visit) as ts.Expression, n.name);
    return ts.visitEachChild(n, visit, undefined);
  };
  return ts.visitNode(node, visit) as T;
}

/**
 * bf16Split (kernels/src/precision.ts) of the name x as one expression (webasm, IEEE f32:
 * no `one` guard needed): the same operations, with branches as conditionals
 */
function bf16Inline(x: string): ts.Expression {
  const a = `Math.abs(${x})`;
  const c = `(${a} * 65537)`;
  const w = `(${a} * 9.094947017729282e-13)`;
  const cw = `(${w} * 65537)`;
  const r = `(${a} < 1.1754943508222875e-38 ? ${a} + 1.1555579666323415e-33 - 1.1555579666323415e-33 : ${a} >= 1.2676506002282294e30 ? (${cw} - (${cw} - ${w})) * 1099511627776 : ${c} - (${c} - ${a}))`;
  // printed verbatim: a synthesized identifier carries the expression text
  return f.createIdentifier(`(${x} !== ${x} || ${a} > 3.4028234663852886e38 || ${x} === 0 ? ${x} : (${x} < 0 ? -1 : 1) * ${r})`);
}

export function transformFunction(fn: ts.FunctionDeclaration, opts: TransformOptions): Transformed {
  const sf = fn.getSourceFile();
  const text = sf.getFullText();
  const ints = intNames(fn);
  const { backend } = opts;
  const isGL = backend === 'webgl2' || backend === 'headlessgl';
  const calls = new Set<string>();
  let usesBf16 = false;
  let components = 1;
  let unrolled = 0; // unrolled loops so far: numbers their helper names

  const isInt = (e: ts.Expression): boolean => {
    if (ts.isParenthesizedExpression(e)) return isInt(e.expression);
    if (ts.isNumericLiteral(e)) return /^\d+$/.test(e.text);
    if (ts.isIdentifier(e)) return ints.has(e.text);
    if (ts.isPropertyAccessExpression(e)) return e.getText(sf).startsWith('this.thread.');
    if (ts.isPrefixUnaryExpression(e)) return isInt(e.operand);
    // Math.floor is integer-valued; Math.min / Math.max of integers are integers
    if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && ts.isIdentifier(e.expression.expression) && e.expression.expression.text === 'Math') {
      const m = e.expression.name.text;
      if (m === 'floor') return true;
      if (m === 'min' || m === 'max') return e.arguments.every((a) => isInt(a));
    }
    // `/` is always a float division (write Math.floor(a / b) for an int quotient)
    if (ts.isBinaryExpression(e)) return (FLOAT_OPS.has(e.operatorToken.kind) && e.operatorToken.kind !== ts.SyntaxKind.SlashToken) || e.operatorToken.kind === ts.SyntaxKind.PercentToken ? isInt(e.left) && isInt(e.right) : false;
    return false;
  };

  // one float op of the subset, lowered for the backend (operands already visited)
  const floatOp = (left: ts.Expression, op: ts.BinaryOperator, right: ts.Expression): ts.Expression => {
    if (op === ts.SyntaxKind.MinusToken && isGL) right = f.createBinaryExpression(paren(right), ts.SyntaxKind.AsteriskToken, f.createIdentifier('one'));
    const e = f.createBinaryExpression(paren(left), op, paren(right));
    return backend === 'cpu' ? fround(e) : e;
  };

  const visitExpr = (e: ts.Expression): ts.Expression => ts.visitNode(e, visit) as ts.Expression;

  const visit = (n: ts.Node): ts.Node | ts.Node[] | undefined => {
    // ---- types and declarations
    if (ts.isVariableStatement(n)) {
      if (n.declarationList.flags & ts.NodeFlags.Const || n.declarationList.flags & ts.NodeFlags.Let) {
        const decls = n.declarationList.declarations.map((d) => {
          if (!ts.isIdentifier(d.name)) fail(d, 'destructuring');
          let init = d.initializer ? visitExpr(d.initializer) : undefined;
          // gpu.js infers a declaration's type from its initializer: float names start as 0.0
          if (init && ts.isNumericLiteral(init) && !ints.has(d.name.text) && /^\d+$/.test(init.text)) init = f.createNumericLiteral(`${init.text}.0`);
          return f.createVariableDeclaration(d.name.text, undefined, undefined, init);
        });
        return f.createVariableStatement(undefined, f.createVariableDeclarationList(decls, ts.NodeFlags.Let));
      }
      fail(n, 'var declarations');
    }
    if (ts.isForStatement(n)) {
      const count = unrollCount(n, text);
      const init = n.initializer;
      if (!init || !ts.isVariableDeclarationList(init) || init.declarations.length !== 1) fail(n, 'for loops need one `let i: int = …` initializer');
      const name = (init.declarations[0].name as ts.Identifier).text;
      const start = visitExpr(init.declarations[0].initializer!);
      const cond = n.condition;
      if (!cond || !ts.isBinaryExpression(cond) || cond.operatorToken.kind !== ts.SyntaxKind.LessThanToken || !ts.isIdentifier(cond.left) || cond.left.text !== name)
        fail(n, 'for loops test `i < bound`');
      const inc = n.incrementor;
      if (!inc || !(ts.isPostfixUnaryExpression(inc) && inc.operator === ts.SyntaxKind.PlusPlusToken)) fail(n, 'for loops step with i++');
      const bound = visitExpr(cond.right);
      const body = ts.visitNode(n.statement, visit) as ts.Statement;
      // webasm (which webgpu also runs): counters step as `i = i + 1`, not `i++`: gpu.js's WGSL
      // types a counter initialized from a float expression (an unrolled loop's tail) as f32, and
      // WGSL allows ++ on integers only. GL keeps `i++` (GLSL ES 1.00 loops take only that form).
      const stepOne = (name: string): ts.Expression =>
        backend === 'webasm'
          ? f.createAssignment(f.createIdentifier(name), f.createBinaryExpression(f.createIdentifier(name), ts.SyntaxKind.PlusToken, f.createNumericLiteral(1)))
          : f.createPostfixIncrement(f.createIdentifier(name));
      const loop = (from: ts.Expression, to: ts.Expression, step: number, stmt: ts.Statement) => loopAs(name, from, to, step, stmt);
      const loopAs = (name: string, from: ts.Expression, to: ts.Expression, step: number | ts.Statement, stmt?: ts.Statement): ts.ForStatement => {
        if (typeof step !== 'number') return loopAs(name, from, to, 1, step);
        return f.createForStatement(
          f.createVariableDeclarationList([f.createVariableDeclaration(name, undefined, undefined, from)], ts.NodeFlags.Let),
          f.createBinaryExpression(f.createIdentifier(name), ts.SyntaxKind.LessThanToken, to),
          step === 1 ? stepOne(name) : f.createBinaryExpression(f.createIdentifier(name), ts.SyntaxKind.PlusEqualsToken, f.createNumericLiteral(step)),
          stmt!,
        );
      };
      if (count <= 1) return loop(start, bound, 1, body);
      // unrolled: the main loop runs while i + (N−1) < bound; copies see i + u; a plain tail loop
      const copies: ts.Statement[] = [];
      // names declared inside the body get a suffix in copies u ≥ 1 (`kv` → `kv_u1`)
      const locals: string[] = [];
      const collect = (x: ts.Node): void => {
        if (ts.isVariableDeclaration(x) && ts.isIdentifier(x.name)) locals.push(x.name.text);
        ts.forEachChild(x, collect);
      };
      collect(body);
      for (let u = 0; u < count; u++) {
        if (u === 0) {
          copies.push(body);
          continue;
        }
        let c = substitute(body, name, () => f.createParenthesizedExpression(f.createBinaryExpression(f.createIdentifier(name), ts.SyntaxKind.PlusToken, f.createNumericLiteral(u))));
        for (const l of locals) c = substitute(c, l, () => f.createIdentifier(`${l}_u${u}`));
        copies.push(c);
      }
      const stmts = copies.flatMap((c) => (ts.isBlock(c) ? [...c.statements] : [c]));
      unrolled++;
      const mainEnd = `${name}_end${unrolled}`;
      const tailName = `${name}_tail${unrolled}`;
      // `bound − (bound − start) % N`, in ints: the first index the main loop does not cover
      const rem = f.createBinaryExpression(f.createParenthesizedExpression(f.createBinaryExpression(bound, ts.SyntaxKind.MinusToken, paren(start))), ts.SyntaxKind.PercentToken, f.createNumericLiteral(count));
      return [
        f.createVariableStatement(undefined, f.createVariableDeclarationList([f.createVariableDeclaration(mainEnd, undefined, undefined, f.createBinaryExpression(bound, ts.SyntaxKind.MinusToken, rem))], ts.NodeFlags.Let)),
        loop(start, f.createIdentifier(mainEnd), count, f.createBlock(stmts, true)),
        loopAs(tailName, f.createIdentifier(mainEnd), bound, substitute(body, name, () => f.createIdentifier(tailName))),
      ];
    }
    // ---- expressions
    if (ts.isBinaryExpression(n)) {
      const op = n.operatorToken.kind;
      const compound = COMPOUND[op];
      if (compound !== undefined) {
        if (!ts.isIdentifier(n.left)) fail(n, 'compound assignment to a non-name');
        const right = visitExpr(n.right);
        const value = FLOAT_OPS.has(compound) && !(isInt(n.left) && isInt(n.right)) ? floatOp(n.left, compound, right) : f.createBinaryExpression(n.left, compound, paren(right));
        return f.createAssignment(f.createIdentifier(n.left.text), value);
      }
      const left = visitExpr(n.left);
      const right = visitExpr(n.right);
      if (FLOAT_OPS.has(op) && !isInt(n)) return floatOp(left, op as ts.BinaryOperator, right);
      return f.createBinaryExpression(left, op as ts.BinaryOperator, right);
    }
    if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const args = n.arguments.map(visitExpr);
      if (ts.isIdentifier(callee)) {
        const name = callee.text;
        if (name === 'f32') return backend === 'cpu' ? fround(args[0]) : paren(args[0]);
        if (name === 'bf16') {
          usesBf16 = true;
          if (backend === 'webgl2') return f.createCallExpression(f.createIdentifier('bf16bits'), undefined, args);
          // webasm runs a helper call lane by lane; bf16 of a name is inlined there instead
          if (backend === 'webasm' && ts.isIdentifier(args[0])) return bf16Inline(args[0].text);
          calls.add('bf16Split');
          return f.createCallExpression(f.createIdentifier('bf16Split'), undefined, [...args, f.createIdentifier('one')]);
        }
        if (opts.helpers.has(name)) {
          calls.add(name);
          return f.createCallExpression(f.createIdentifier(name), undefined, args);
        }
        fail(n, `call of ${name} (not a helper)`);
      }
      if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'Math' && MATH_OK.has(callee.name.text)) {
        const call = f.createCallExpression(f.createPropertyAccessExpression(f.createIdentifier('Math'), callee.name.text), undefined, args);
        return backend === 'cpu' && !['abs', 'max', 'min', 'floor'].includes(callee.name.text) ? fround(call) : call;
      }
      fail(n, `call of ${n.expression.getText(sf)}`);
    }
    if (ts.isReturnStatement(n) && n.expression && ts.isArrayLiteralExpression(n.expression)) {
      if (!opts.isKernel) fail(n, 'a helper returning an array');
      const m = n.expression.elements.length;
      if (m < 2 || m > 4 || (components !== 1 && components !== m)) fail(n, 'a kernel returns one number or always the same 2, 3 or 4 numbers');
      components = m;
      return f.createReturnStatement(f.createArrayLiteralExpression(n.expression.elements.map(visitExpr)));
    }
    if (ts.isArrayLiteralExpression(n)) fail(n, 'an array literal outside `return [a, b, …]`');
    if (ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isObjectLiteralExpression(n) || ts.isStringLiteral(n) || ts.isTemplateExpression(n)) fail(n, ts.SyntaxKind[n.kind]);
    if (ts.isAsExpression(n) || ts.isNonNullExpression(n)) return visitExpr(n.expression);
    if (ts.isParenthesizedExpression(n)) return paren(visitExpr(n.expression));
    return ts.visitEachChild(n, visit, undefined);
  };

  const allParams = fn.parameters.filter((p) => !(ts.isIdentifier(p.name) && p.name.text === 'this')).map((p) => (p.name as ts.Identifier).text);
  const constants = opts.constants ?? [];
  for (const c of constants) if (!allParams.includes(c) || !ints.has(c)) fail(fn, `@constants ${c}: not an int parameter`);
  const params = allParams.filter((p) => !constants.includes(p));
  if (opts.isKernel) params.push('one');
  let body = ts.visitNode(fn.body!, visit) as ts.Block;
  // @constants: each read of K becomes this.constants.K (a compile-time value in gpu.js)
  for (const c of constants) body = substitute(body, c, () => f.createPropertyAccessExpression(f.createPropertyAccessExpression(f.createThis(), 'constants'), c));
  const out = f.createFunctionDeclaration(undefined, undefined, opts.isKernel ? 'kernel' : fn.name!.text, undefined, params.map((p) => f.createParameterDeclaration(undefined, undefined, p)), undefined, body);
  const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed, removeComments: true });
  const printed = printer.printNode(ts.EmitHint.Unspecified, out, sf);
  const code = backend === 'webasm' ? uniqueLocals(printed) : printed;
  return { code, params, calls: [...calls].sort(), usesBf16, components };
}

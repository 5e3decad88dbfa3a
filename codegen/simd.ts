// `@simd V`: codegen's own WebAssembly lowering with 128-bit SIMD, for the webasm backend on
// the CPU. gpu.js's webasm emitter keeps every value in a float32 local and loads each lane
// of a lane-varying operand one scalar at a time, which caps a matmul near 4 GFLOP/s per core;
// this lowering keeps the kernel's meaning and gives V8 vector code (SPEC.md, "Kernels: wasm
// SIMD").
//
// Input: the kernel after @inline and @rows (plain kernel-subset source, rows already
// blocked). Output: one wasm function, in flat WebAssembly text (one instruction per line:
// readable, and diffable like every generated file), that computes the cells (x, y, z) for
// 0 ≤ z < Z, y0 ≤ y < y1 and 0 ≤ x < X (X a multiple of 4V): each cell group is 4V consecutive
// x, one f32x4 per 4 lanes.
//
// How values map (every float op stays ONE float32 op, rounded to nearest even, lane by lane,
// in the order written: the bits are the other lowerings' bits):
//   uniform int      (int params, this.thread.y / z, ints computed from them) i32
//   x-affine int     (this.thread.x + uniform) an i32 base; lane l adds l
//   varying int      (any other int that reads a lane: Math.min(j, L − 1), x · 3) V i32x4 locals
//   uniform float    f32 (splatted where it meets a lane-varying value)
//   varying float    V v128 locals, f32x4 ops
//   arr[uniform]     f32.load (v128.load32_splat in varying context)
//   arr[x-affine]    V v128.load (4 consecutive elements each)
//   arr[varying int] a gather: one f32.load per lane
// for, if and ?: on a uniform condition are wasm control flow; a loop's condition must be
// uniform. An if on a lane-varying condition runs both branches for every lane (a branch no lane
// takes is skipped) and each local they write takes its lane's branch (v128.bitselect); a return
// under one is refused. bf16(x) is the integer RNE route (NaN passes through), equal to
// bf16Split's result on every float32. Returns store the cell's components interleaved (stride =
// components, as gpu.js lays out Array(n) results; 4 components are a 4×4 transpose, 4 stores).
//
// Loop-invariant integer products (`m * K` inside a loop over k) are computed once before the
// loop; nothing else is reordered.

import { ts } from 'ts-morph';
import { OpError } from '../io/errors.ts';

export const LANES = 4;

export interface SimdLowering {
  /** the module in WebAssembly text, flat instruction form */
  wat: string;
  /** the kernel's parameters in source order, each with how it is passed (an array is a byte offset into memory) */
  params: { name: string; type: 'array' | 'int' | 'float' }[];
  /** numbers per output cell */
  components: number;
}

type Kind = 'int' | 'xint' | 'vint' | 'f32' | 'vec' | 'bool' | 'mask' | 'array';

interface Decl {
  name: string;
  kind: Kind;
  /** the wasm locals: one (i32 / f32) or V (v128) */
  locals: string[];
  /** declared `: int` */
  int: boolean;
  param: boolean;
}

function fail(node: ts.Node, msg: string): never {
  const sf = node.getSourceFile();
  const where = sf ? `line ${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}` : '';
  throw new OpError('BAD_ARGS', `kernel subset (@simd): ${msg}${where ? ` (${where} of the @rows-blocked kernel)` : ''}`);
}

/** a float32 value as an exact hexadecimal float literal */
export function f32Hex(x: number): string {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0x0p+0' : '0x0p+0';
  const bits = new Uint32Array(Float32Array.of(v).buffer)[0];
  const sign = bits >>> 31 ? '-' : '';
  const exp = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  // 23 fraction bits as 6 hex digits (shifted left by 1)
  const digits = (frac << 1).toString(16).padStart(6, '0').replace(/0+$/, '');
  const e = exp === 0 ? -126 : exp - 127;
  return `${sign}0x${exp === 0 ? 0 : 1}${digits ? '.' + digits : ''}p${e >= 0 ? '+' : ''}${e}`;
}

const isThread = (n: ts.Node, axis: string): boolean =>
  ts.isPropertyAccessExpression(n) && n.name.text === axis && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'thread' && n.expression.expression.kind === ts.SyntaxKind.ThisKeyword;

const ARITH: Partial<Record<ts.SyntaxKind, string>> = {
  [ts.SyntaxKind.PlusToken]: 'add',
  [ts.SyntaxKind.MinusToken]: 'sub',
  [ts.SyntaxKind.AsteriskToken]: 'mul',
  [ts.SyntaxKind.SlashToken]: 'div',
  [ts.SyntaxKind.PercentToken]: 'rem',
};
const COMPARE: Partial<Record<ts.SyntaxKind, [string, string]>> = {
  // [i32 op, f32 op]
  [ts.SyntaxKind.LessThanToken]: ['lt_s', 'lt'],
  [ts.SyntaxKind.LessThanEqualsToken]: ['le_s', 'le'],
  [ts.SyntaxKind.GreaterThanToken]: ['gt_s', 'gt'],
  [ts.SyntaxKind.GreaterThanEqualsToken]: ['ge_s', 'ge'],
  [ts.SyntaxKind.EqualsEqualsEqualsToken]: ['eq', 'eq'],
  [ts.SyntaxKind.ExclamationEqualsEqualsToken]: ['ne', 'ne'],
};
const COMPOUND: Partial<Record<ts.SyntaxKind, ts.BinaryOperator>> = {
  [ts.SyntaxKind.PlusEqualsToken]: ts.SyntaxKind.PlusToken,
  [ts.SyntaxKind.MinusEqualsToken]: ts.SyntaxKind.MinusToken,
  [ts.SyntaxKind.AsteriskEqualsToken]: ts.SyntaxKind.AsteriskToken,
};
const MATH_F = new Set(['abs', 'sqrt', 'min', 'max', 'floor']);

/** the 4×4 transpose's byte shuffles (f32 lane i of operand 0 is bytes 4i…4i+3, of operand 1 bytes 16+4i…) */
const shuffleOf = (lanes: number[]): string => lanes.flatMap((l) => [0, 1, 2, 3].map((b) => 4 * l + b)).join(' ');
const LO = shuffleOf([0, 4, 1, 5]);
const HI = shuffleOf([2, 6, 3, 7]);
const LO2 = shuffleOf([0, 1, 4, 5]);
const HI2 = shuffleOf([2, 3, 6, 7]);

/** lower a kernel (after @inline and @rows) to a wasm SIMD module with V vectors (4V lanes of x) per cell group */
export function lowerSimd(fn: ts.FunctionDeclaration, V: number): SimdLowering {
  if (!(Number.isInteger(V) && V >= 1 && V <= 4)) fail(fn, `V must be 1 … 4, got ${V}`);
  const fnName = fn.name?.text ?? 'kernel';
  const locals: { name: string; type: 'i32' | 'f32' | 'v128' }[] = [];
  // parameters keep their names; the lowering's own names have a '.', which no kernel identifier has
  const used = new Set<string>(fn.parameters.map((p) => `$${p.name.getText()}`));
  const local = (base: string, type: 'i32' | 'f32' | 'v128'): string => {
    const b = base.replace(/[^\w]/g, '_');
    let n = `$${b}`;
    for (let i = 1; used.has(n); i++) n = `$${b}_${i}`;
    used.add(n);
    locals.push({ name: n, type });
    return n;
  };
  let temps = 0;
  const temp = (type: 'i32' | 'f32' | 'v128'): string => local(`t${temps++}`, type);
  const isAssign = (n: ts.Node): n is ts.BinaryExpression => ts.isBinaryExpression(n) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment;

  // ---------------------------------------------------------------- declarations and kinds
  const declOf = new Map<ts.Identifier, Decl>();
  const declNode = new Map<ts.Node, Decl>();
  /** every write of a local: the value, and the if conditions it sits under (a lane-varying one makes the local lane-varying) */
  const writes: { decl: Decl; expr: ts.Expression; guards: ts.Expression[] }[] = [];
  const params: SimdLowering['params'] = [];
  const paramDecls: Decl[] = [];
  for (const p of fn.parameters) {
    if (!ts.isIdentifier(p.name)) fail(p, 'a destructured parameter');
    const name = p.name.text;
    if (name === 'this') continue;
    const t = p.type?.getText() ?? '';
    const type = t === 'Arr' ? 'array' : t === 'int' ? 'int' : t === 'number' ? 'float' : fail(p, `parameter ${name}: type ${t || '(none)'} (Arr, int or number)`);
    params.push({ name, type });
    const d: Decl = { name, kind: type === 'array' ? 'array' : type === 'int' ? 'int' : 'f32', locals: [`$${name}`], int: type === 'int', param: true };
    paramDecls.push(d);
    declNode.set(p, d);
  }
  // resolve every identifier to its declaration, scope by scope
  {
    const scopes: Map<string, Decl>[] = [new Map(paramDecls.map((d) => [d.name, d]))];
    const guards: ts.Expression[] = [];
    // only the ifs between a local's declaration and a write guard that write
    const guardDepth = new Map<Decl, number>(paramDecls.map((d) => [d, 0]));
    const guarded = (d: Decl): ts.Expression[] => guards.slice(guardDepth.get(d) ?? 0);
    const lookup = (id: ts.Identifier): Decl | undefined => {
      for (let i = scopes.length - 1; i >= 0; i--) {
        const d = scopes[i].get(id.text);
        if (d) return d;
      }
      return undefined;
    };
    const visit = (n: ts.Node): void => {
      if (ts.isBlock(n) || ts.isForStatement(n)) {
        scopes.push(new Map());
        ts.forEachChild(n, visit);
        scopes.pop();
        return;
      }
      if (ts.isIfStatement(n)) {
        visit(n.expression);
        guards.push(n.expression);
        visit(n.thenStatement);
        if (n.elseStatement) visit(n.elseStatement);
        guards.pop();
        return;
      }
      if (ts.isVariableDeclaration(n)) {
        if (!ts.isIdentifier(n.name)) fail(n, 'a destructuring declaration');
        if (!n.initializer) fail(n, `${n.name.text} is declared without a value`);
        visit(n.initializer);
        const int = n.type?.getText() === 'int';
        const d: Decl = { name: n.name.text, kind: int ? 'int' : 'f32', locals: [], int, param: false };
        guardDepth.set(d, guards.length);
        scopes[scopes.length - 1].set(d.name, d);
        declNode.set(n, d);
        declOf.set(n.name, d);
        // a declaration is not guarded by the ifs around it: its scope is inside them
        writes.push({ decl: d, expr: n.initializer, guards: [] });
        return;
      }
      if (ts.isPropertyAccessExpression(n)) return visit(n.expression);
      if (ts.isTypeNode(n)) return;
      if (ts.isIdentifier(n)) {
        const d = lookup(n);
        if (d) declOf.set(n, d);
        return;
      }
      if (isAssign(n)) {
        ts.forEachChild(n, visit);
        if (!ts.isIdentifier(n.left)) fail(n, 'an assignment to something other than a local name');
        const d = declOf.get(n.left);
        if (!d || d.param) fail(n, `an assignment to ${n.left.text}, which is not a local`);
        writes.push({ decl: d, expr: n, guards: guarded(d) });
        return;
      }
      if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) {
        ts.forEachChild(n, visit);
        const d = ts.isIdentifier(n.operand) ? declOf.get(n.operand) : undefined;
        if (!d || !d.int) fail(n, '++ / -- on something other than an int local');
        writes.push({ decl: d, expr: n.operand, guards: guarded(d) });
        return;
      }
      ts.forEachChild(n, visit);
    };
    visit(fn.body!);
  }

  /** a call's name: bf16, f32, or a Math function the lowering has */
  const callName = (e: ts.CallExpression): string => {
    const callee = e.expression;
    let name = '';
    if (ts.isIdentifier(callee) && (callee.text === 'bf16' || callee.text === 'f32')) name = callee.text;
    else if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'Math' && MATH_F.has(callee.name.text)) name = callee.name.text;
    else fail(e, `the call ${callee.getText()} (bf16, f32, Math.abs / sqrt / min / max / floor)`);
    const want = name === 'min' || name === 'max' ? 2 : 1;
    if (e.arguments.length !== want) fail(e, `${callee.getText()} takes ${want} argument(s)`);
    return name;
  };
  const isFloat = (k: Kind): boolean => k === 'f32' || k === 'vec';
  const isIntish = (k: Kind): boolean => k === 'int' || k === 'xint' || k === 'vint';
  const varies = (k: Kind): boolean => k === 'xint' || k === 'vint' || k === 'vec' || k === 'mask';
  /** the kind of a number that is lane-varying when `v` */
  const numKind = (float: boolean, v: boolean): Kind => (float ? (v ? 'vec' : 'f32') : v ? 'vint' : 'int');
  /** two values meeting (both branches of ?:, the writes of one local) */
  const join = (a: Kind, b: Kind): Kind => {
    if (a === b) return a;
    if (isFloat(a) || isFloat(b)) return numKind(true, varies(a) || varies(b));
    return varies(a) || varies(b) ? 'vint' : 'int';
  };
  /** the kind of an expression (literals: 'int' when written as an integer) */
  const kindOf = (e: ts.Expression): Kind => {
    if (ts.isParenthesizedExpression(e)) return kindOf(e.expression);
    if (ts.isNumericLiteral(e)) return /^\d+$/.test(e.text) ? 'int' : 'f32';
    if (isThread(e, 'x')) return 'xint';
    if (isThread(e, 'y') || isThread(e, 'z')) return 'int';
    if (ts.isPropertyAccessExpression(e)) fail(e, `${e.getText()} (only this.thread.x / y / z)`);
    if (ts.isIdentifier(e)) return declOf.get(e)?.kind ?? fail(e, `unknown name ${e.text}`);
    if (ts.isPrefixUnaryExpression(e)) {
      const k = kindOf(e.operand);
      if (e.operator === ts.SyntaxKind.ExclamationToken) return varies(k) ? 'mask' : 'bool';
      if (e.operator === ts.SyntaxKind.MinusToken) return k === 'xint' ? 'vint' : k;
      fail(e, `the operator ${ts.tokenToString(e.operator)}`);
    }
    if (ts.isElementAccessExpression(e)) {
      // an index written with a float (an int array element plus an int) is integer-valued too
      const k = kindOf(e.argumentExpression);
      if (k === 'int' || k === 'f32') return 'f32';
      if (k === 'xint' || k === 'vint' || k === 'vec') return 'vec';
      fail(e, `an array index that is not a number (${e.argumentExpression.getText()})`);
    }
    if (ts.isConditionalExpression(e)) {
      const c = kindOf(e.condition);
      const k = join(kindOf(e.whenTrue), kindOf(e.whenFalse));
      return c === 'mask' ? numKind(isFloat(k), true) : k;
    }
    if (ts.isCallExpression(e)) {
      const name = callName(e);
      const args = e.arguments.map(kindOf);
      const v = args.some(varies);
      // Math.floor is integer-valued; Math.min / max of ints stay ints
      if (name === 'floor') return numKind(false, v);
      if ((name === 'min' || name === 'max') && args.every(isIntish)) return numKind(false, v);
      return numKind(true, v);
    }
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      const a = kindOf(e.left);
      const b = kindOf(e.right);
      if (COMPARE[op] || op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken) return varies(a) || varies(b) ? 'mask' : 'bool';
      if (!ARITH[op]) fail(e, `the operator ${e.operatorToken.getText()}`);
      if (op !== ts.SyntaxKind.SlashToken && isIntish(a) && isIntish(b)) {
        if (a === 'int' && b === 'int') return 'int';
        if ((op === ts.SyntaxKind.PlusToken && ((a === 'xint' && b === 'int') || (a === 'int' && b === 'xint'))) || (op === ts.SyntaxKind.MinusToken && a === 'xint' && b === 'int')) return 'xint';
        return 'vint';
      }
      return numKind(true, varies(a) || varies(b));
    }
    return fail(e, `the expression ${ts.SyntaxKind[e.kind]}`);
  };
  const isVaryingCond = (c: ts.Expression): boolean => kindOf(c) === 'mask';
  /** the kind a write gives its target */
  const writeKind = (w: { decl: Decl; expr: ts.Expression; guards: ts.Expression[] }): Kind => {
    const e = w.expr;
    let k = isAssign(e) ? kindOf(e.right) : kindOf(e);
    if (w.guards.some(isVaryingCond)) k = numKind(isFloat(k) || (!isIntish(k) && k !== 'bool'), true);
    return k;
  };
  // kinds to a fixed point (int locals: uniform < x-affine < lane-varying; floats: uniform < lane-varying)
  for (let changed = true; changed; ) {
    changed = false;
    for (const d of declNode.values()) {
      if (d.param) continue;
      let k: Kind | null = null;
      for (const w of writes) if (w.decl === d) k = k === null ? writeKind(w) : join(k, writeKind(w));
      if (k === 'bool' || k === 'mask') fail(fn, `${d.name} holds a condition (write it as an int: cond ? 1 : 0)`);
      const want = d.int ? (k === 'f32' ? 'int' : k === 'vec' ? 'vint' : k!) : numKind(true, varies(k!));
      if (want !== d.kind) {
        d.kind = want;
        changed = true;
      }
    }
  }
  for (const d of declNode.values()) {
    if (d.param) continue;
    d.locals = d.kind === 'vec' || d.kind === 'vint' ? Array.from({ length: V }, (_, v) => local(`${d.name}_v${v}`, 'v128')) : [local(d.name, d.kind === 'f32' ? 'f32' : 'i32')];
  }

  // ---------------------------------------------------------------- emission
  const out: string[] = [];
  let depth = 2;
  const emit = (...lines: string[]): void => {
    for (const l of lines) {
      if (l === 'end' || l === 'else') depth--;
      out.push('  '.repeat(depth) + l);
      if (l.startsWith('block') || l.startsWith('loop') || l.startsWith('if') || l === 'else') depth++;
    }
  };
  /** per open loop: the names written inside it, and the lines run once before it */
  const loops: { written: Set<Decl>; pre: string[] }[] = [];
  let labels = 0;
  const repeat = (code: string[]): string[][] => Array.from({ length: V }, () => code);
  /** each vector's code run now into a v128 temporary; the temporaries' names */
  const materialize = (code: string[][]): string[] =>
    code.map((c) => {
      const t = temp('v128');
      emit(...c, `local.set ${t}`);
      return t;
    });
  /** vector by vector: l[v], then r[v], then op */
  const pairwise = (l: string[][], r: string[][], op: string): string[][] => l.map((c, v) => [...c, ...r[v], op]);
  const iota = (v: number): string => `v128.const i32x4 ${4 * v} ${4 * v + 1} ${4 * v + 2} ${4 * v + 3}`;

  /** whether e reads no name written in the loop (and no array, no lane index) */
  const invariant = (e: ts.Node, written: Set<Decl>): boolean => {
    let ok = true;
    const visit = (n: ts.Node): void => {
      if (!ok) return;
      if (ts.isIdentifier(n)) {
        const d = declOf.get(n);
        if (!d || written.has(d)) ok = false;
        return;
      }
      if (ts.isPropertyAccessExpression(n)) {
        if (!isThread(n, 'y') && !isThread(n, 'z')) ok = false;
        return;
      }
      if (ts.isElementAccessExpression(n) || ts.isCallExpression(n)) ok = false;
      ts.forEachChild(n, visit);
    };
    visit(e);
    return ok;
  };

  /** code that leaves a uniform i32 */
  const intCode = (e: ts.Expression): string[] => {
    if (ts.isParenthesizedExpression(e)) return intCode(e.expression);
    const k = kindOf(e);
    // a uniform float where an int goes (an int array element, Math.min of them): integer-valued, exact in i32
    if (k === 'f32') return [...f32Code(e), 'i32.trunc_f32_s'];
    if (k !== 'int') fail(e, `${e.getText()} is lane-varying where a uniform int is needed`);
    if (ts.isNumericLiteral(e)) return [`i32.const ${Number(e.text)}`];
    if (isThread(e, 'y')) return ['local.get $.y'];
    if (isThread(e, 'z')) return ['local.get $.z'];
    if (ts.isIdentifier(e)) return [`local.get ${declOf.get(e)!.locals[0]}`];
    if (ts.isPrefixUnaryExpression(e)) return ['i32.const 0', ...intCode(e.operand), 'i32.sub'];
    if (ts.isCallExpression(e)) {
      const name = callName(e);
      // floor of the float32 value, as every other lowering computes it (r / B divides in float32)
      if (name === 'floor') return [...f32Code(e.arguments[0]), 'f32.floor', 'i32.trunc_f32_s'];
      const [a, b] = [temp('i32'), temp('i32')];
      return [...intCode(e.arguments[0]), `local.set ${a}`, ...intCode(e.arguments[1]), `local.set ${b}`, `local.get ${a}`, `local.get ${b}`, `local.get ${a}`, `local.get ${b}`, name === 'min' ? 'i32.lt_s' : 'i32.gt_s', 'select'];
    }
    if (ts.isBinaryExpression(e)) {
      const op = ARITH[e.operatorToken.kind] === 'rem' ? 'rem_s' : ARITH[e.operatorToken.kind]!;
      const code = [...intCode(e.left), ...intCode(e.right), `i32.${op}`];
      // a product invariant in the innermost loop: computed once before it
      const loop = loops[loops.length - 1];
      if (loop && op === 'mul' && invariant(e, loop.written)) {
        const t = temp('i32');
        loop.pre.push(...code, `local.set ${t}`);
        return [`local.get ${t}`];
      }
      return code;
    }
    if (ts.isConditionalExpression(e)) return [...boolCode(e.condition), 'if (result i32)', ...intCode(e.whenTrue), 'else', ...intCode(e.whenFalse), 'end'];
    return fail(e, `${e.getText()} is not a uniform int expression`);
  };
  /** code that leaves the i32 base of an x-affine int (its value in lane 0) */
  const xintCode = (e: ts.Expression): string[] => {
    if (ts.isParenthesizedExpression(e)) return xintCode(e.expression);
    if (isThread(e, 'x')) return ['local.get $.x0'];
    if (ts.isIdentifier(e)) return [`local.get ${declOf.get(e)!.locals[0]}`];
    if (ts.isBinaryExpression(e)) {
      const l = kindOf(e.left) === 'xint' ? xintCode(e.left) : intCode(e.left);
      const r = kindOf(e.right) === 'xint' ? xintCode(e.right) : intCode(e.right);
      return [...l, ...r, e.operatorToken.kind === ts.SyntaxKind.PlusToken ? 'i32.add' : 'i32.sub'];
    }
    return fail(e, `${e.getText()} is not an x-affine int expression`);
  };
  /** code that leaves a uniform condition (i32 0 / 1) */
  const boolCode = (e: ts.Expression): string[] => {
    if (ts.isParenthesizedExpression(e)) return boolCode(e.expression);
    if (kindOf(e) !== 'bool') fail(e, `${e.getText()} is not a uniform condition`);
    if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.ExclamationToken) return [...boolCode(e.operand), 'i32.eqz'];
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      if (op === ts.SyntaxKind.AmpersandAmpersandToken) return [...boolCode(e.left), 'if (result i32)', ...boolCode(e.right), 'else', 'i32.const 0', 'end'];
      if (op === ts.SyntaxKind.BarBarToken) return [...boolCode(e.left), 'if (result i32)', 'i32.const 1', 'else', ...boolCode(e.right), 'end'];
      const c = COMPARE[op];
      if (c) {
        if (kindOf(e.left) === 'int' && kindOf(e.right) === 'int') return [...intCode(e.left), ...intCode(e.right), `i32.${c[0]}`];
        return [...f32Code(e.left), ...f32Code(e.right), `f32.${c[1]}`];
      }
    }
    return fail(e, `${e.getText()} is not a condition`);
  };
  /** code that leaves a uniform f32 */
  const f32Code = (e: ts.Expression): string[] => {
    if (ts.isNumericLiteral(e)) return [`f32.const ${f32Hex(Number(e.text))}`];
    const k = kindOf(e);
    if (k === 'int') return [...intCode(e), 'f32.convert_i32_s'];
    if (k !== 'f32') fail(e, `${e.getText()} is lane-varying where a uniform float is needed`);
    if (ts.isParenthesizedExpression(e)) return f32Code(e.expression);
    if (ts.isIdentifier(e)) return [`local.get ${declOf.get(e)!.locals[0]}`];
    if (ts.isPrefixUnaryExpression(e)) return [...f32Code(e.operand), 'f32.neg'];
    if (ts.isElementAccessExpression(e)) return [...addr(e, intCode(e.argumentExpression)), 'f32.load'];
    if (ts.isBinaryExpression(e)) return [...f32Code(e.left), ...f32Code(e.right), `f32.${ARITH[e.operatorToken.kind]}`];
    if (ts.isConditionalExpression(e)) return [...boolCode(e.condition), 'if (result f32)', ...f32Code(e.whenTrue), 'else', ...f32Code(e.whenFalse), 'end'];
    if (ts.isCallExpression(e)) {
      const name = callName(e);
      const args = e.arguments.map(f32Code);
      if (name === 'bf16') {
        const t = temp('f32');
        return [...args[0], `local.set ${t}`, `local.get ${t}`, `local.get ${t}`, 'i32.reinterpret_f32', `local.get ${t}`, 'i32.reinterpret_f32', 'i32.const 16', 'i32.shr_u', 'i32.const 1', 'i32.and', 'i32.add', 'i32.const 0x7fff', 'i32.add', 'i32.const 0xffff0000', 'i32.and', 'f32.reinterpret_i32', `local.get ${t}`, `local.get ${t}`, 'f32.ne', 'select'];
      }
      if (name === 'f32') return args[0];
      return [...args.flat(), `f32.${name}`];
    }
    return fail(e, `the expression ${e.getText()}`);
  };
  /** the byte address of arr[index] (index code leaves an i32) */
  const addr = (e: ts.ElementAccessExpression, index: string[]): string[] => [...arrayBase(e), ...index, 'i32.const 2', 'i32.shl', 'i32.add'];
  const arrayBase = (e: ts.ElementAccessExpression): string[] => {
    if (!ts.isIdentifier(e.expression) || declOf.get(e.expression)?.kind !== 'array') fail(e, `${e.expression.getText()} is not an array parameter`);
    return [`local.get $${e.expression.text}`];
  };
  /** V vectors of a uniform value computed once (lines run first go to `out` now) */
  const splat = (code: string[], op: 'f32x4.splat' | 'i32x4.splat'): string[][] => {
    const t = temp('v128');
    emit(...code, op, `local.set ${t}`);
    return repeat([`local.get ${t}`]);
  };
  /** V vectors of i32 lanes for an int-valued expression */
  const vintCode = (e: ts.Expression): string[][] => {
    if (ts.isParenthesizedExpression(e)) return vintCode(e.expression);
    const k = kindOf(e);
    if (k === 'int') return splat(intCode(e), 'i32x4.splat');
    if (k === 'f32') return splat([...f32Code(e), 'i32.trunc_f32_s'], 'i32x4.splat');
    if (k === 'xint') {
      const t = temp('i32');
      emit(...xintCode(e), `local.set ${t}`);
      return Array.from({ length: V }, (_, v) => [`local.get ${t}`, 'i32x4.splat', iota(v), 'i32x4.add']);
    }
    // a lane-varying float where an int goes (integer-valued by the subset's rules)
    if (k === 'vec') return vecCode(e).map((c) => [...c, 'i32x4.trunc_sat_f32x4_s']);
    if (k !== 'vint') fail(e, `${e.getText()} is not a number`);
    if (ts.isIdentifier(e)) return declOf.get(e)!.locals.map((l) => [`local.get ${l}`]);
    if (ts.isPrefixUnaryExpression(e)) return vintCode(e.operand).map((c) => [...c, 'i32x4.neg']);
    if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PercentToken) {
      // a % b = a − b·trunc(a / b), the quotient in float32 as every other lowering computes
      // ints (exact while |a| + |b| < 2^24, the kernels' limit): wasm SIMD has no integer division
      const r = vintCode(e.right);
      return vintCode(e.left).map((a, v) => {
        const [ta, tb] = [temp('v128'), temp('v128')];
        return [...a, `local.set ${ta}`, ...r[v], `local.set ${tb}`, `local.get ${ta}`, `local.get ${tb}`, `local.get ${ta}`, 'f32x4.convert_i32x4_s', `local.get ${tb}`, 'f32x4.convert_i32x4_s', 'f32x4.div', 'f32x4.trunc', 'i32x4.trunc_sat_f32x4_s', 'i32x4.mul', 'i32x4.sub'];
      });
    }
    if (ts.isBinaryExpression(e)) return pairwise(vintCode(e.left), vintCode(e.right), `i32x4.${ARITH[e.operatorToken.kind]}`);
    if (ts.isConditionalExpression(e)) return select(e, vintCode);
    if (ts.isCallExpression(e)) {
      const name = callName(e);
      if (name === 'floor') return vecCode(e.arguments[0]).map((c) => [...c, 'f32x4.floor', 'i32x4.trunc_sat_f32x4_s']);
      const [a, b] = e.arguments.map(vintCode);
      return pairwise(a, b, `i32x4.${name}_s`);
    }
    return fail(e, `the expression ${e.getText()}`);
  };
  /** cond ? a : b per lane (a lane-varying condition) or as a whole (a uniform one) */
  const select = (e: ts.ConditionalExpression, code: (x: ts.Expression) => string[][]): string[][] => {
    const a = code(e.whenTrue);
    const b = code(e.whenFalse);
    if (kindOf(e.condition) === 'bool') {
      const c = temp('i32');
      emit(...boolCode(e.condition), `local.set ${c}`);
      return a.map((x, v) => [...x, ...b[v], `local.get ${c}`, 'select']);
    }
    const m = maskCode(e.condition);
    return a.map((x, v) => [...x, ...b[v], ...m[v], 'v128.bitselect']);
  };
  /** V vectors of lane masks (all ones where true) for a condition */
  const maskCode = (e: ts.Expression): string[][] => {
    if (ts.isParenthesizedExpression(e)) return maskCode(e.expression);
    if (kindOf(e) === 'bool') return splat(['i32.const 0', ...boolCode(e), 'i32.sub'], 'i32x4.splat');
    if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.ExclamationToken) return maskCode(e.operand).map((c) => [...c, 'v128.not']);
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      if (op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken) return pairwise(maskCode(e.left), maskCode(e.right), op === ts.SyntaxKind.AmpersandAmpersandToken ? 'v128.and' : 'v128.or');
      const c = COMPARE[op];
      if (c) {
        const float = isFloat(kindOf(e.left)) || isFloat(kindOf(e.right));
        const code = float ? vecCode : vintCode;
        return pairwise(code(e.left), code(e.right), float ? `f32x4.${c[1]}` : `i32x4.${c[0]}`);
      }
    }
    return fail(e, `${e.getText()} is not a condition`);
  };
  /** code for V vectors of a lane-varying float (lines run first go to `out` now) */
  const vecCode = (e: ts.Expression): string[][] => {
    const k = kindOf(e);
    if (k === 'int' || k === 'f32') {
      // a uniform array element goes straight into all lanes
      if (ts.isElementAccessExpression(e) && k === 'f32') {
        const t = temp('v128');
        emit(...addr(e, intCode(e.argumentExpression)), 'v128.load32_splat', `local.set ${t}`);
        return repeat([`local.get ${t}`]);
      }
      return splat(f32Code(e), 'f32x4.splat');
    }
    if (k === 'xint' || k === 'vint') return vintCode(e).map((c) => [...c, 'f32x4.convert_i32x4_s']);
    if (k !== 'vec') fail(e, `${e.getText()} is not a number`);
    if (ts.isParenthesizedExpression(e)) return vecCode(e.expression);
    if (ts.isIdentifier(e)) return declOf.get(e)!.locals.map((l) => [`local.get ${l}`]);
    if (ts.isPrefixUnaryExpression(e)) return vecCode(e.operand).map((c) => [...c, 'f32x4.neg']);
    if (ts.isElementAccessExpression(e)) {
      if (kindOf(e.argumentExpression) === 'xint') {
        const t = temp('i32');
        emit(...addr(e, xintCode(e.argumentExpression)), `local.set ${t}`);
        return Array.from({ length: V }, (_, v) => [`local.get ${t}`, `v128.load offset=${16 * v} align=4`]);
      }
      // a gather: each lane's element on its own
      const idx = vintCode(e.argumentExpression);
      const base = arrayBase(e);
      return idx.map((c) => {
        const ti = temp('v128');
        emit(...c, 'i32.const 2', 'i32x4.shl', `local.set ${ti}`);
        return ['v128.const i32x4 0 0 0 0', ...[0, 1, 2, 3].flatMap((l) => [...base, `local.get ${ti}`, `i32x4.extract_lane ${l}`, 'i32.add', 'f32.load', `f32x4.replace_lane ${l}`])];
      });
    }
    if (ts.isBinaryExpression(e)) return pairwise(vecCode(e.left), vecCode(e.right), `f32x4.${ARITH[e.operatorToken.kind]}`);
    if (ts.isConditionalExpression(e)) return select(e, vecCode);
    if (ts.isCallExpression(e)) {
      const name = callName(e);
      if (name === 'f32') return vecCode(e.arguments[0]);
      if (name === 'bf16') {
        return vecCode(e.arguments[0]).map((c) => {
          const t = temp('v128');
          emit(...c, `local.set ${t}`);
          return [`local.get ${t}`, `local.get ${t}`, `local.get ${t}`, 'i32.const 16', 'i32x4.shr_u', 'v128.const i32x4 1 1 1 1', 'v128.and', 'i32x4.add', 'v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff', 'i32x4.add', 'v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000', 'v128.and', `local.get ${t}`, `local.get ${t}`, 'f32x4.ne', 'v128.bitselect'];
        });
      }
      const args = e.arguments.map(vecCode);
      return pairwise(args[0], args[1] ?? repeat([]), `f32x4.${name}`);
    }
    return fail(e, `the expression ${e.getText()}`);
  };

  /** store to a declaration's locals the value of e (converted to its kind) */
  const assign = (d: Decl, e: ts.Expression): void => {
    if (d.kind === 'int') return emit(...intCode(e), `local.set ${d.locals[0]}`);
    if (d.kind === 'xint') {
      if (kindOf(e) !== 'xint') fail(e, `${d.name} is x-affine, but ${e.getText()} is not`);
      return emit(...xintCode(e), `local.set ${d.locals[0]}`);
    }
    if (d.kind === 'f32') return emit(...f32Code(e), `local.set ${d.locals[0]}`);
    const code = d.kind === 'vint' ? vintCode(e) : vecCode(e);
    // every vector computed before any is stored (e may read the local itself)
    if (V > 1 && code.some((c) => c.some((l) => d.locals.some((x) => l === `local.get ${x}`)))) {
      materialize(code).forEach((t, v) => emit(`local.get ${t}`, `local.set ${d.locals[v]}`));
      return;
    }
    code.forEach((c, v) => emit(...c, `local.set ${d.locals[v]}`));
  };

  let components = 0;
  /** the locals a statement writes that are declared outside it */
  const written = (s: ts.Node, outsideOnly = false): Set<Decl> => {
    const set = new Set<Decl>();
    const inside = new Set<Decl>();
    const visit = (n: ts.Node): void => {
      if (ts.isVariableDeclaration(n)) {
        set.add(declNode.get(n)!);
        inside.add(declNode.get(n)!);
      }
      if (isAssign(n) && ts.isIdentifier(n.left)) set.add(declOf.get(n.left)!);
      if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && ts.isIdentifier(n.operand) && declOf.has(n.operand)) set.add(declOf.get(n.operand)!);
      ts.forEachChild(n, visit);
    };
    visit(s);
    if (outsideOnly) for (const d of inside) set.delete(d);
    return set;
  };
  const hasReturn = (s: ts.Node): boolean => ts.isReturnStatement(s) || (ts.forEachChild(s, (c) => (hasReturn(c) ? true : undefined)) ?? false);

  const statement = (s: ts.Statement): void => {
    if (ts.isBlock(s)) return s.statements.forEach(statement);
    if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) assign(declNode.get(d)!, d.initializer!);
      return;
    }
    if (ts.isExpressionStatement(s)) {
      const e = s.expression;
      if ((ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e)) && ts.isIdentifier(e.operand)) {
        const one = ts.factory.createNumericLiteral(1);
        return assign(declOf.get(e.operand)!, ts.factory.createBinaryExpression(e.operand, e.operator === ts.SyntaxKind.PlusPlusToken ? ts.SyntaxKind.PlusToken : ts.SyntaxKind.MinusToken, one));
      }
      if (ts.isBinaryExpression(e) && ts.isIdentifier(e.left)) {
        const d = declOf.get(e.left)!;
        const op = e.operatorToken.kind;
        if (op === ts.SyntaxKind.EqualsToken) return assign(d, e.right);
        const bin = COMPOUND[op];
        if (bin) return assign(d, ts.factory.createBinaryExpression(e.left, bin, ts.factory.createParenthesizedExpression(e.right)));
      }
      return fail(s, `the statement ${s.getText()}`);
    }
    if (ts.isIfStatement(s)) {
      if (kindOf(s.expression) === 'bool') {
        emit(...boolCode(s.expression), 'if');
        statement(s.thenStatement);
        if (s.elseStatement) {
          emit('else');
          statement(s.elseStatement);
        }
        return emit('end');
      }
      // a lane-varying condition: both branches run for every lane, and each local they write
      // takes, lane by lane, the value of the branch its lane chose (so they must not return)
      if (hasReturn(s)) fail(s, `a return under a lane-varying condition (${s.expression.getText()})`);
      const mask = materialize(maskCode(s.expression));
      // the locals written under the condition (lane-varying by the kinds' fixed point: v128)
      const targets = [...new Set([...written(s.thenStatement, true), ...(s.elseStatement ? written(s.elseStatement, true) : [])])];
      const before = targets.map((d) => materialize(d.locals.map((l) => [`local.get ${l}`])));
      const chosen = targets.map((d) => d.locals.map(() => temp('v128')));
      const merge = (): void => targets.forEach((d, i) => d.locals.forEach((l, v) => emit(`local.get ${chosen[i][v]}`, `local.get ${l}`, `local.get ${mask[v]}`, 'v128.bitselect', `local.set ${l}`)));
      /** whether any lane's mask is set (negated: any lane's is clear) */
      const any = (negate: boolean): string[] => [...mask.flatMap((m, v) => [`local.get ${m}`, ...(negate ? ['v128.not'] : []), ...(v ? ['v128.or'] : [])]), 'v128.any_true'];
      // a branch no lane takes is skipped (its locals keep their values: the same result)
      emit(...any(false), 'if');
      statement(s.thenStatement);
      targets.forEach((d, i) => d.locals.forEach((l, v) => emit(`local.get ${l}`, `local.set ${chosen[i][v]}`, `local.get ${before[i][v]}`, `local.set ${l}`)));
      if (!s.elseStatement) {
        merge();
        emit('end');
        return;
      }
      emit('else');
      targets.forEach((d, i) => d.locals.forEach((l, v) => emit(`local.get ${before[i][v]}`, `local.set ${chosen[i][v]}`)));
      emit('end');
      emit(...any(true), 'if');
      statement(s.elseStatement);
      emit('end');
      merge();
      return;
    }
    if (ts.isForStatement(s)) {
      if (!s.initializer || !ts.isVariableDeclarationList(s.initializer) || !s.condition || !s.incrementor) fail(s, 'a for loop not of the form for (let i: int = a; i < b; i++)');
      if (kindOf(s.condition) !== 'bool') fail(s, `a loop whose condition is lane-varying (${s.condition.getText()})`);
      for (const d of s.initializer.declarations) assign(declNode.get(d)!, d.initializer!);
      const n = labels++;
      const loop = { written: written(s), pre: [] as string[] };
      // the body is emitted first so that its invariant products are known, then spliced in after them
      const start = out.length;
      const depth0 = depth;
      loops.push(loop);
      emit(`block $done${n}`, `loop $next${n}`);
      emit(...boolCode(s.condition), 'i32.eqz', `br_if $done${n}`);
      statement(s.statement);
      statement(ts.factory.createExpressionStatement(s.incrementor));
      emit(`br $next${n}`, 'end', 'end');
      loops.pop();
      out.splice(start, 0, ...loop.pre.map((l) => '  '.repeat(depth0) + l));
      return;
    }
    if (ts.isReturnStatement(s)) {
      if (!s.expression) fail(s, 'a bare return');
      const parts = ts.isArrayLiteralExpression(s.expression) ? [...s.expression.elements] : [s.expression];
      if (components && components !== parts.length) fail(s, `returns of ${components} and ${parts.length} numbers`);
      components = parts.length;
      const C = parts.length;
      // each component's V vectors into temporaries, then the stores
      const vals = parts.map((p) => materialize(vecCode(p)));
      const base = temp('i32');
      // byte address of cell (x0, y, z): out + (((z·Y + y)·X + x0)·C)·4
      emit('local.get $.out', 'local.get $.z', 'local.get $.Y', 'i32.mul', 'local.get $.y', 'i32.add', 'local.get $.X', 'i32.mul', 'local.get $.x0', 'i32.add', `i32.const ${4 * C}`, 'i32.mul', 'i32.add', `local.set ${base}`);
      for (let v = 0; v < V; v++) {
        if (C === 1) emit(`local.get ${base}`, `local.get ${vals[0][v]}`, `v128.store offset=${16 * v} align=4`);
        else if (C === 4) {
          const [c0, c1, c2, c3] = vals.map((x) => x[v]);
          const lo01 = temp('v128'), lo23 = temp('v128'), hi01 = temp('v128'), hi23 = temp('v128');
          emit(`local.get ${c0}`, `local.get ${c1}`, `i8x16.shuffle ${LO}`, `local.set ${lo01}`);
          emit(`local.get ${c2}`, `local.get ${c3}`, `i8x16.shuffle ${LO}`, `local.set ${lo23}`);
          emit(`local.get ${c0}`, `local.get ${c1}`, `i8x16.shuffle ${HI}`, `local.set ${hi01}`);
          emit(`local.get ${c2}`, `local.get ${c3}`, `i8x16.shuffle ${HI}`, `local.set ${hi23}`);
          // lane l's four components, contiguous: cell x0 + 4v + l at byte (4v + l)·16
          const rows: [string, string, string][] = [[lo01, lo23, LO2], [lo01, lo23, HI2], [hi01, hi23, LO2], [hi01, hi23, HI2]];
          rows.forEach(([a, b, sh], l) => emit(`local.get ${base}`, `local.get ${a}`, `local.get ${b}`, `i8x16.shuffle ${sh}`, `v128.store offset=${64 * v + 16 * l} align=4`));
        } else
          for (let l = 0; l < LANES; l++)
            for (let c = 0; c < C; c++) emit(`local.get ${base}`, `local.get ${vals[c][v]}`, `f32x4.extract_lane ${l}`, `f32.store offset=${4 * ((4 * v + l) * C + c)}`);
      }
      return emit('br $cell');
    }
    return fail(s, `the statement ${ts.SyntaxKind[s.kind]}`);
  };

  // the cell loops: 0 ≤ z < Z, y0 ≤ y < y1, x0 = 0, 4V, … < X
  emit('i32.const 0', 'local.set $.z');
  emit('block $planes_done', 'loop $planes');
  emit('local.get $.z', 'local.get $.Z', 'i32.ge_s', 'br_if $planes_done');
  emit('local.get $.y0', 'local.set $.y');
  emit('block $rows_done', 'loop $rows');
  emit('local.get $.y', 'local.get $.y1', 'i32.ge_s', 'br_if $rows_done');
  emit('i32.const 0', 'local.set $.x0');
  emit('block $cols_done', 'loop $cols');
  emit('local.get $.x0', 'local.get $.X', 'i32.ge_s', 'br_if $cols_done');
  emit('block $cell');
  const last = fn.body!.statements[fn.body!.statements.length - 1];
  if (!last || !ts.isReturnStatement(last)) fail(fn, `${fnName} must end with a return`);
  statement(fn.body!);
  emit('end');
  emit('local.get $.x0', `i32.const ${4 * V}`, 'i32.add', 'local.set $.x0', 'br $cols', 'end', 'end');
  emit('local.get $.y', 'i32.const 1', 'i32.add', 'local.set $.y', 'br $rows', 'end', 'end');
  emit('local.get $.z', 'i32.const 1', 'i32.add', 'local.set $.z', 'br $planes', 'end', 'end');

  const sig = [...params.map((p) => `(param $${p.name} ${p.type === 'float' ? 'f32' : 'i32'})`), '(param $.out i32) (param $.X i32) (param $.Y i32) (param $.y0 i32) (param $.y1 i32) (param $.Z i32)'];
  const wat = [
    `;; ${fnName}: @simd ${V} lowering (codegen/simd.ts). Cells (x, y, z) for 0 <= z < Z, y0 <= y < y1, 0 <= x < X (X a multiple of ${4 * V}),`,
    `;; ${4 * V} lanes of x per step; arrays are byte offsets into the imported memory; out gets the components interleaved.`,
    '(module',
    '  (import "env" "mem" (memory 1))',
    `  (func $kernel (export "kernel") ${sig.join(' ')}`,
    `    (local $.z i32) (local $.y i32) (local $.x0 i32)`,
    ...locals.map((l) => `    (local ${l.name} ${l.type})`),
    ...out,
    '  )',
    ')',
    '',
  ].join('\n');
  return { wat, params, components };
}

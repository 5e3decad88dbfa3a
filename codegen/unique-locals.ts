// The webasm transform "one name, one variable". gpu.js webasm decides per local NAME, over the
// whole function, whether a value varies across the 4 SIMD lanes: a name assigned anywhere under
// a lane-varying condition is vector (and its loop masked) everywhere. Two loops that both count
// with `e`, one of them inside a varying branch, would make the other one a masked vector loop
// whose every read is a 4-load gather (measured: attnScores 1097 → 966 ms at L = 4096). So every
// declaration of a name that is already declared elsewhere in the function gets a fresh name
// (`e` → `e_2`), scoping respected; the semantics are unchanged.

import { ts } from 'ts-morph';

const f = ts.factory;

/** `code` (one function declaration) with every local declared once; scoping as in JS `let` */
export function uniqueLocals(code: string): string {
  const sf = ts.createSourceFile('kernel.js', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const taken = new Set<string>();
  const collect = (n: ts.Node): void => {
    if (ts.isIdentifier(n)) taken.add(n.text);
    ts.forEachChild(n, collect);
  };
  collect(sf);
  const declared = new Set<string>();
  const fresh = (name: string): string => {
    if (!declared.has(name)) {
      declared.add(name);
      return name;
    }
    let k = 2;
    while (taken.has(`${name}_${k}`)) k++;
    const renamed = `${name}_${k}`;
    taken.add(renamed);
    declared.add(renamed);
    return renamed;
  };
  // scopes: innermost last; each maps a source name to its emitted name
  const scopes: Map<string, string>[] = [];
  const lookup = (name: string): string => {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const hit = scopes[i].get(name);
      if (hit !== undefined) return hit;
    }
    return name;
  };
  const transformer: ts.TransformerFactory<ts.SourceFile> = (ctx) => {
    const visit = (n: ts.Node): ts.Node => {
      if (ts.isFunctionDeclaration(n)) {
        scopes.push(new Map(n.parameters.map((p) => [(p.name as ts.Identifier).text, fresh((p.name as ts.Identifier).text)])));
        const out = ts.visitEachChild(n, visit, ctx);
        scopes.pop();
        return out;
      }
      if (ts.isBlock(n) || ts.isForStatement(n)) {
        scopes.push(new Map());
        const out = ts.visitEachChild(n, visit, ctx);
        scopes.pop();
        return out;
      }
      if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name)) {
        // the initializer sees the outer binding (a `let` is not in scope in its own initializer)
        const init = n.initializer ? (ts.visitNode(n.initializer, visit) as ts.Expression) : undefined;
        const name = fresh(n.name.text);
        scopes[scopes.length - 1].set(n.name.text, name);
        return f.updateVariableDeclaration(n, f.createIdentifier(name), n.exclamationToken, n.type, init);
      }
      if (ts.isPropertyAccessExpression(n)) return f.updatePropertyAccessExpression(n, ts.visitNode(n.expression, visit) as ts.Expression, n.name);
      if (ts.isIdentifier(n)) {
        const name = lookup(n.text);
        return name === n.text ? n : f.createIdentifier(name);
      }
      return ts.visitEachChild(n, visit, ctx);
    };
    return (root) => ts.visitNode(root, visit) as ts.SourceFile;
  };
  const result = ts.transform(sf, [transformer]);
  const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed, removeComments: true });
  const fn = result.transformed[0].statements[0];
  const text = printer.printNode(ts.EmitHint.Unspecified, fn, result.transformed[0]);
  result.dispose();
  return text;
}

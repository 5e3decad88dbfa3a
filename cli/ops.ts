import '../ops/index.ts';
import { listOps } from '../ops/registry.ts';
import type { Command } from './main.ts';

export const command: Command = {
  summary: 'list the registered ops with their arguments and tensors (--json for machines)',
  usage: 'anchor-oracle ops [--json]',
  options: { json: { type: 'boolean', description: 'one JSON array of the ops (name, summary, args, inputs, outputs) instead of text' } },
  examples: ['anchor-oracle ops', "anchor-oracle ops --json | jq '.[].name'"],
  async run(v) {
    const ops = listOps().map((o) => ({
      name: o.name,
      summary: o.summary,
      args: o.args,
      inputs: o.inputs.map((t) => ({ name: t.name, dtypes: t.dtypes, shape: t.shape, optional: t.optional ?? false, doc: t.doc })),
      outputs: o.outputs.map((t) => ({ name: t.name, dtypes: t.dtypes, shape: t.shape, doc: t.doc })),
    }));
    if (v.json) {
      console.log(JSON.stringify(ops, null, 2));
      return 0;
    }
    for (const o of ops) {
      console.log(`${o.name}: ${o.summary}`);
      for (const [k, a] of Object.entries(o.args)) console.log(`    arg ${k}: ${a.type}${a.enum ? ` {${a.enum.join(', ')}}` : ''}${a.default !== undefined ? ` = ${JSON.stringify(a.default)}` : ''}: ${a.doc}`);
      for (const t of o.inputs) console.log(`    in  ${t.name}: ${t.dtypes.join('|')}${t.shape ? ` [${t.shape.join(', ')}]` : ''}${t.optional ? ' (optional)' : ''}: ${t.doc}`);
      for (const t of o.outputs) console.log(`    out ${t.name}: ${t.dtypes.join('|')}${t.shape ? ` [${t.shape.join(', ')}]` : ''}: ${t.doc}`);
    }
    return 0;
  },
};

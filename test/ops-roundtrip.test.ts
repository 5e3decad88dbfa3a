// Every registered op: its generated cases evaluate and verify against themselves (the registry
// is one path for gen, eval and verify), and verify catches a perturbed output under the contract.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../ops/index.ts';
import { evalLine, generateLines } from '../ops/cases.ts';
import { listOps } from '../ops/registry.ts';
import { Verifier } from '../ops/verify.ts';

const CONFORMANCE_OPS = [
  'bf16.from_f32', 'bf16.from_f64', 'bf16.to_f32', 'bf16.add', 'bf16.sub', 'bf16.mul', 'bf16.div', 'bf16.sqrt', 'bf16.fma',
  'rope.inv_freq', 'rope.cos_sin', 'rope.apply', 'rope.rotate',
  'attention.positions', 'attention.mask', 'attention.block_mask', 'attention.forward',
  'model.forward', 'model.loss_grad', 'drift.shift', 'drift.logit',
];

test('every op named by the conformance format is registered', () => {
  const names = listOps().map((o) => o.name);
  for (const n of CONFORMANCE_OPS) assert.ok(names.includes(n), n);
});

for (const op of listOps().filter((o) => !o.name.startsWith('bf16.'))) // bf16 ops: test/cli.test.ts, both levels
  test(`${op.name}: gen → eval → verify passes, and a perturbed result fails`, () => {
    const lines = generateLines(op.name, { n: 0, seed: 9, level: 1 }).slice(0, 12).map((l) => JSON.stringify(l));
    assert.ok(lines.length > 0);
    const v = new Verifier();
    const results = lines.map((l) => evalLine(l));
    lines.forEach((l, i) => v.check(l, i + 1, JSON.stringify(results[i])));
    assert.is(v.report.failed, 0, v.report.messages.join('\n'));
    // perturb the first float output of the first case with a float output by a large relative amount
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as { out?: Record<string, { dtype: string; b64: string }> };
      const entry = Object.entries(r.out ?? {}).find(([, t]) => t.dtype === 'f64' || t.dtype === 'f32');
      if (!entry) continue;
      const [, t] = entry;
      const bytes = Buffer.from(t.b64, 'base64');
      if (t.dtype === 'f64') bytes.writeDoubleLE(bytes.readDoubleLE(0) * 1e3 + 1, 0);
      else bytes.writeFloatLE(bytes.readFloatLE(0) * 1e3 + 1, 0);
      t.b64 = bytes.toString('base64');
      const bad = new Verifier();
      bad.check(lines[i], i + 1, JSON.stringify(r));
      assert.is(bad.report.failed, 1, `${op.name}: a perturbed ${entry[0]} passed verify`);
      return;
    }
  });

test.run();

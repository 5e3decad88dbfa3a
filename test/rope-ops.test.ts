// The rope.* ops in the case-file registry: generated cases evaluate and pass their own
// contracts, a perturbed output fails them, and bad inputs get error lines naming the problem.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../ops/index.ts';
import { evalLine, generateLines } from '../ops/cases.ts';
import { offendingIndices } from '../ops/compare.ts';
import { getOp, runOp } from '../ops/registry.ts';
import { decodeTensor, tensor, type Tensor } from '../io/tensor.ts';

const OPS = ['rope.inv_freq', 'rope.cos_sin', 'rope.apply', 'rope.rotate'];

test('level-1 cases cover every rope_type, path and layout and pass their own contracts', () => {
  const seen = new Set<string>();
  for (const name of OPS) {
    const op = getOp(name);
    const lines = generateLines(name, { n: 0, seed: 3, level: 1 }) as { id: string; args: Record<string, unknown>; in: Record<string, unknown>; expect: Record<string, unknown> }[];
    assert.ok(lines.length >= 10, `${name}: ${lines.length} cases`);
    for (const l of lines) {
      const type = ((l.args.scaling as Record<string, unknown> | undefined)?.rope_type as string) ?? 'default';
      seen.add(`${name}:${type}`).add(`${name}:${l.args.path ?? ''}`).add(`${name}:${l.args.layout ?? ''}`);
      const res = evalLine(JSON.stringify(l));
      assert.ok('out' in res, `${name} ${l.id}: ${JSON.stringify(res)}`);
      if (!('out' in res)) continue;
      const inputs = Object.fromEntries(Object.entries(l.in).map(([k, v]) => [k, decodeTensor(v, k)]));
      const expected = Object.fromEntries(Object.entries(l.expect).map(([k, v]) => [k, decodeTensor(v, k)]));
      const contract = op.contract(l.args);
      for (const [k, want] of Object.entries(expected)) {
        const got = decodeTensor(res.out[k], k);
        assert.equal(offendingIndices(got, want, contract[k], { args: l.args, inputs, expected }), [], `${name} ${l.id} ${k}`);
      }
    }
  }
  for (const t of ['default', 'linear', 'dynamic', 'yarn', 'longrope', 'llama3']) assert.ok(seen.has(`rope.cos_sin:${t}`) && seen.has(`rope.rotate:${t}`), t);
  for (const p of ['hf', 'paper', 'f32', 'f64']) assert.ok(seen.has(`rope.cos_sin:${p}`) && seen.has(`rope.rotate:${p}`), p);
  for (const l of ['half', 'interleaved']) assert.ok(seen.has(`rope.apply:${l}`), l);
});

test('contracts catch a one-step change: apply exact, cos_sin within its ulps', () => {
  const x = tensor('bf16', [1, 1, 4], Uint16Array.from([0x3f80, 0x4000, 0xbf80, 0x3f00]));
  const { cos, sin } = runOp('rope.cos_sin', { dim: 4, base: 1e4, path: 'hf' }, { positions: tensor('i32', [1], Int32Array.from([65535])) });
  const { y } = runOp('rope.apply', { dtype: 'bf16' }, { x, cos, sin });
  const bumped = { ...y, data: Uint16Array.from(y.data as Uint16Array, (b, i) => (i === 2 ? b + 1 : b)) } as Tensor;
  const ctx = { args: {}, inputs: { x, cos, sin }, expected: { y } };
  assert.equal(offendingIndices(bumped, y, getOp('rope.apply').contract({}).y, ctx), [2]);
  const c2 = { ...cos, data: Uint16Array.from(cos.data as Uint16Array, (b, i) => (i === 0 ? b + 2 : b)) } as Tensor;
  const tol = getOp('rope.cos_sin').contract({ dim: 4, base: 1e4, path: 'hf' }).cos;
  assert.equal(offendingIndices(c2, cos, tol, { args: {}, inputs: {}, expected: {} }), [0]);
});

test('bad inputs are named', () => {
  const line = (o: object) => evalLine(JSON.stringify(o));
  const err = (r: ReturnType<typeof evalLine>) => ('error' in r ? r.error.message : 'no error');
  const pos = { dtype: 'i32', shape: [2], b64: Buffer.from(new Int32Array([0, 5]).buffer).toString('base64') };
  assert.match(err(line({ id: 1, op: 'rope.cos_sin', args: { dim: 8, base: 1e4, scaling: { rope_type: 'nope' } }, in: { positions: pos } })), /unknown rope_type "nope"/);
  assert.match(err(line({ id: 2, op: 'rope.cos_sin', args: { dim: 8, base: 1e4, path: 'bf16' }, in: { positions: pos } })), /path/);
  assert.match(err(line({ id: 3, op: 'rope.inv_freq', args: { dim: 8, base: 1e4, scaling: { rope_type: 'yarn', factor: 4 } } })), /needs max_position_embeddings/);
  const f32 = (shape: number[]) => ({ dtype: 'f32', shape, b64: Buffer.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).buffer).toString('base64') });
  assert.match(err(line({ id: 4, op: 'rope.apply', args: { dtype: 'bf16' }, in: { x: f32([1, 2, 4]), cos: f32([2, 4]), sin: f32([2, 4]) } })), /x is f32; path hf takes bf16/);
  assert.match(err(line({ id: 5, op: 'rope.apply', args: { dtype: 'f32' }, in: { x: f32([1, 2, 4]), cos: f32([3, 4]), sin: f32([3, 4]) } })), /cos has shape \[3,4\] but x has \[1,2,4\]/);
  assert.match(err(line({ id: 6, op: 'rope.apply', args: { dtype: 'f32', path: 'hf' }, in: { x: f32([1, 2, 4]), cos: f32([2, 4]), sin: f32([2, 4]) } })), /produces bf16/);
  assert.match(err(line({ id: 7, op: 'rope.rotate', args: { dim: 8, base: 1e4, path: 'f32' }, in: { x: f32([1, 2, 4]), positions: pos } })), /head dim 4 but dim is 8/);
  const neg = { dtype: 'i32', shape: [1], b64: Buffer.from(new Int32Array([-3]).buffer).toString('base64') };
  assert.match(err(line({ id: 8, op: 'rope.cos_sin', args: { dim: 8, base: 1e4 }, in: { positions: neg } })), /positions must be ≥ 0/);
});

test.run();

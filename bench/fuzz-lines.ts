// Hostile case lines for every op, mixed with valid ones (seeded): the input of the suite's
// fuzz test and of `npm run fuzz`. Each valid line is a generated case with a unique id; each
// hostile line is a valid one broken in one of many ways (its JSON, its fields, its tensors).

import '../ops/index.ts';
import { generateLines } from '../ops/cases.ts';
import { listOps } from '../ops/registry.ts';
import { Rng } from '../reference/rng.ts';

type Json = Record<string, any>;

/** a few valid cases of every op (level 1, the first `perOp`), ids made unique */
export function validCases(perOp: number): Json[] {
  return listOps().flatMap((op) =>
    (generateLines(op.name, { n: 0, seed: 1, level: 1 }) as Json[]).slice(0, perOp).map((c, i) => ({ ...c, id: `${op.name}#${i}` })),
  );
}

const clone = (c: Json): Json => structuredClone(c);
const pickKey = (rng: Rng, o: Json | undefined): string | undefined => {
  const ks = o ? Object.keys(o) : [];
  return ks.length ? ks[rng.int(0, ks.length - 1)] : undefined;
};

/** ways to break a case: each returns the hostile line's text */
const BREAKERS: ((c: Json, rng: Rng) => string)[] = [
  // the JSON itself
  (c, rng) => JSON.stringify(c).slice(0, rng.int(1, JSON.stringify(c).length - 1)),
  (c, rng) => {
    const s = JSON.stringify(c);
    const i = rng.int(0, s.length - 1);
    return s.slice(0, i) + rng.pick(['"', '{', ']', ',', ':', '\\', '\u0001', 'x', '\u00ff']) + s.slice(i + 1);
  },
  (c) => JSON.stringify(c) + ' trailing',
  (_c, rng) => rng.pick(['null', '42', '"string"', '[]', '{}', 'true', '[{"id":1}]', '{"id":null}', '{"id":1}', '{"id":"x","op":"bf16.add"}']),
  () => `{"id":"deep","op":"rope.inv_freq","args":{"dim":8,"base":1e4,"scaling":${'['.repeat(3000)}${']'.repeat(3000)}}}`,
  (c) => JSON.stringify(c).replace(/"b64":"/, '"b64":"\\u0000'),
  // fields
  (c) => JSON.stringify({ ...c, op: 'bf16.nope' }),
  (c) => JSON.stringify({ ...c, op: 42 }),
  (c) => JSON.stringify({ ...c, id: { nested: true } }),
  (c) => JSON.stringify({ ...c, args: [1, 2] }),
  (c, rng) => JSON.stringify({ ...c, args: { ...c.args, [rng.pick(['bogus', 'constructor', 'toString', '__proto__', 'hasOwnProperty'])]: 1 } }),
  (c, rng) => {
    const k = pickKey(rng, c.args);
    return JSON.stringify({ ...c, args: { ...c.args, ...(k ? { [k]: rng.pick([null, -1, 1e308, 'x', [], {}, true, -0, 2 ** 53]) } : { x: 1 }) } });
  },
  (c) => JSON.stringify({ ...c, in: 'tensors' }),
  (c) => JSON.stringify({ ...c, expect: 5 }),
  (c, rng) => {
    const x = clone(c);
    const k = pickKey(rng, x.in);
    if (k) delete x.in[k];
    else x.in = { extra: { dtype: 'u8', shape: [1], b64: 'AA==' } };
    return JSON.stringify(x);
  },
  (c) => `{"__proto__": {"op": "bf16.add"}, "id": ${JSON.stringify(c.id)}, "in": {"__proto__": {"dtype": "u8", "shape": [1], "b64": "AA=="}}}`,
  // tensors
  (c, rng) => breakTensor(c, rng, (t) => ({ ...t, dtype: rng.pick(['f16', 'bool', 'u16', 1, null, 'toString']) })),
  (c, rng) => breakTensor(c, rng, (t) => ({ ...t, dtype: rng.pick(['bf16', 'f32', 'f64', 'i32', 'i64', 'u8']) })),
  (c, rng) => breakTensor(c, rng, (t) => ({ ...t, shape: rng.pick([[-1], [1.5], 'x', [2 ** 31], [2 ** 20, 2 ** 20, 2 ** 20], [1, 2, 3, 4, 5, 6, 7, 8, 9], [...t.shape, 1], [0]]) })),
  (c, rng) => breakTensor(c, rng, (t) => ({ ...t, b64: rng.pick(['', '=', 'A', 'AB=C', '****', t.b64 + 'AAAA', t.b64.slice(4), 5, null]) })),
  (c, rng) => breakTensor(c, rng, (t) => ({ dtype: t.dtype, shape: t.shape, file: rng.pick(['missing.safetensors', '.', '/dev/null', '', 7]), key: 'k' })),
  (c, rng) => breakTensor(c, rng, (t) => ({ ...t, file: 'x.safetensors', key: 'k' })),
  (c, rng) => breakTensor(c, rng, () => rng.pick([null, 1, 'x', [], {}])),
  (c, rng) => breakTensor(c, rng, (t) => {
    // NaN / Inf / extreme values in the data
    const b = Buffer.from(t.b64, 'base64');
    if (b.length) b[rng.int(0, b.length - 1)] = 0xff;
    if (b.length > 1) b[rng.int(0, b.length - 1)] = 0x7f;
    return { ...t, b64: b.toString('base64') };
  }),
];

function breakTensor(c: Json, rng: Rng, f: (t: Json) => unknown): string {
  const x = clone(c);
  const section = x.in && Object.keys(x.in).length ? x.in : x.expect;
  const k = pickKey(rng, section);
  if (!k) return JSON.stringify({ ...x, in: { x: f({ dtype: 'u8', shape: [1], b64: 'AA==' }) } });
  section[k] = f(section[k]);
  return JSON.stringify(x);
}

/** `count` lines: valid cases and broken ones, about half each, seeded */
export function fuzzLines(seed: number, count: number, valid: Json[]): { text: string; valid: boolean }[] {
  const rng = new Rng(seed);
  const out: { text: string; valid: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    const c = valid[rng.int(0, valid.length - 1)];
    if (rng.float() < 0.5) out.push({ text: JSON.stringify(c), valid: true });
    else out.push({ text: BREAKERS[rng.int(0, BREAKERS.length - 1)]({ ...c, id: `${c.id}/broken${i}` }, rng), valid: false });
  }
  return out;
}

export const BREAKER_COUNT = BREAKERS.length;

// Registration of the bf16.* ops (SPEC.md, "bf16 ops").

import { bf16BitsToValues } from '../io/bf16-codec.ts';
import * as A from '../reference/bf16-arith.ts';
import { fromF32Bits, fromF64, nanFromF64Words, PROFILES, ROUNDINGS, type Profile, type Rounding } from '../reference/bf16.ts';
import { BF16_CLASSES, F32_CLASSES, F64_CLASSES, randomBf16Bits, randomF32Bits, randomF64 } from '../reference/bf16-cases.ts';
import { Rng } from '../reference/rng.ts';
import { alloc, tensor, type Tensor } from '../io/tensor.ts';
import { type ArgSpec, type GenCase, type GenOptions, type OpDef, registerOp } from './registry.ts';

const profileArg: ArgSpec = { type: 'string', enum: PROFILES, default: 'ieee', doc: 'NaN / subnormal policy: ieee, pytorch (c10::BFloat16), ftz' };
const conversionArgs: Record<string, ArgSpec> = {
  profile: profileArg,
  rounding: { type: 'string', enum: ROUNDINGS, default: 'rne', doc: 'rne (round to nearest, ties to even), rtz (toward zero), stochastic' },
  seed: { type: 'integer', default: 0, min: 0, max: 2 ** 32 - 1, doc: 'stochastic rounding: element i uses draw (seed, i)' },
};
const exact = () => ({ y: { kind: 'exact' as const } });
const RANDOM_CASE_SIZE = 64;

/** level-1 classes, then seeded random cases: at least as many at level 2, and up to n in all */
function withRandom(level1: GenCase[], opts: GenOptions, random: (rng: Rng, i: number) => GenCase): GenCase[] {
  const rng = new Rng(opts.seed);
  const out = [...level1];
  const target = Math.max(opts.n, opts.level === 2 ? 2 * level1.length : level1.length);
  for (let i = 0; out.length < target; i++) out.push(random(rng, i));
  return out;
}

/** every profile × rounding for a unary conversion's input classes */
function conversionCases(classes: Record<string, number[]>, make: (vals: number[]) => Tensor, opts: GenOptions, random: (rng: Rng) => number): GenCase[] {
  const cases: GenCase[] = [];
  for (const profile of PROFILES)
    for (const rounding of ROUNDINGS)
      for (const [cls, vals] of Object.entries(classes))
        cases.push({ id: `${cls}/${profile}/${rounding}`, args: { profile, rounding, ...(rounding === 'stochastic' ? { seed: opts.seed } : {}) }, in: { x: make(vals) } });
  return withRandom(cases, opts, (rng, i) => {
    const profile = rng.pick(PROFILES);
    const rounding = rng.pick(ROUNDINGS);
    const vals = Array.from({ length: RANDOM_CASE_SIZE }, () => random(rng));
    return { id: `random${i}/${profile}/${rounding}`, args: { profile, rounding, ...(rounding === 'stochastic' ? { seed: opts.seed + i } : {}) }, in: { x: make(vals) } };
  });
}

const f32FromBits = (bits: number[]): Tensor => {
  const t = alloc('f32', [bits.length]);
  new Uint32Array(t.data.buffer).set(bits);
  return t;
};

registerOp({
  name: 'bf16.from_f32',
  summary: 'float32 → bf16 under a profile and rounding mode',
  args: conversionArgs,
  inputs: [{ name: 'x', dtypes: ['f32'], doc: 'any shape' }],
  outputs: [{ name: 'y', dtypes: ['bf16'], doc: 'shape of x' }],
  run(args, { x }) {
    const u = new Uint32Array(x.data.buffer, x.data.byteOffset, x.data.length); // raw bits keep NaN payloads
    const y = alloc('bf16', x.shape);
    for (let i = 0; i < u.length; i++)
      y.data[i] = fromF32Bits(u[i], { profile: args.profile as Profile, rounding: args.rounding as Rounding, seed: args.seed, index: i });
    return { y };
  },
  contract: exact,
  generate: (opts) => conversionCases(F32_CLASSES, f32FromBits, opts, randomF32Bits),
});

registerOp({
  name: 'bf16.from_f64',
  summary: 'float64 → bf16: one correct rounding (ieee, ftz) or via float32 (pytorch)',
  args: conversionArgs,
  inputs: [{ name: 'x', dtypes: ['f64'], doc: 'any shape' }],
  outputs: [{ name: 'y', dtypes: ['bf16'], doc: 'shape of x' }],
  run(args, { x }) {
    const words = new Uint32Array(x.data.buffer, x.data.byteOffset, x.data.length * 2);
    const data = x.data as Float64Array;
    const y = alloc('bf16', x.shape);
    const opts = { profile: args.profile as Profile, rounding: args.rounding as Rounding, seed: args.seed as number, index: 0 };
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v !== v && opts.profile !== 'pytorch') y.data[i] = nanFromF64Words(words[2 * i + 1], words[2 * i]);
      else y.data[i] = fromF64(v, { ...opts, index: i });
    }
    return { y };
  },
  contract: exact,
  generate: (opts) => conversionCases(F64_CLASSES, (v) => tensor('f64', [v.length], Float64Array.from(v)), opts, randomF64),
});

registerOp({
  name: 'bf16.to_f32',
  summary: 'bf16 → float32 (exact: the bits shifted into the upper half)',
  args: {},
  inputs: [{ name: 'x', dtypes: ['bf16'], doc: 'any shape' }],
  outputs: [{ name: 'y', dtypes: ['f32'], doc: 'shape of x' }],
  run(_args, { x }) {
    const y = alloc('f32', x.shape);
    bf16BitsToValues(x.data as Uint16Array, y.data as Float32Array);
    return { y };
  },
  contract: exact,
  generate(opts) {
    const all = Object.entries(BF16_CLASSES).map(([cls, v]) => ({ id: cls, args: {}, in: { x: tensor('bf16', [v.length], Uint16Array.from(v)) } }));
    return withRandom(all, opts, (rng, i) => ({ id: `random${i}`, args: {}, in: { x: bf16Vector(rng, RANDOM_CASE_SIZE) } }));
  },
});

function bf16Vector(rng: Rng, n: number): Tensor {
  return tensor('bf16', [n], Uint16Array.from({ length: n }, () => randomBf16Bits(rng)));
}

/** every class × class (× class for fma) per profile, each case holding all member combinations */
function crossCases(arity: number, opts: GenOptions): GenCase[] {
  const names = ['a', 'b', 'c'].slice(0, arity);
  const classes = Object.entries(BF16_CLASSES);
  const combos: [string, number[]][][] = arity === 1 ? classes.map((c) => [c]) : arity === 2 ? classes.flatMap((c1) => classes.map((c2) => [c1, c2])) : [];
  if (arity === 3) {
    // fma: a × b over all class pairs, c over a representative per class (keeps level 1 at ~1000 cases)
    for (const c1 of classes) for (const c2 of classes) for (const c3 of classes) combos.push([c1, c2, [c3[0], [c3[1][0], c3[1][c3[1].length - 1]]]]);
  }
  const cases: GenCase[] = [];
  for (const profile of PROFILES)
    for (const combo of combos) {
      const columns: number[][] = names.map(() => []);
      const rec = (k: number, picked: number[]) => {
        if (k === combo.length) return picked.forEach((v, j) => columns[j].push(v));
        for (const v of combo[k][1]) rec(k + 1, [...picked, v]);
      };
      rec(0, []);
      const inputs = Object.fromEntries(names.map((nm, j) => [nm, tensor('bf16', [columns[j].length], Uint16Array.from(columns[j]))]));
      cases.push({ id: `${combo.map((c) => c[0]).join('×')}/${profile}`, args: { profile }, in: inputs });
    }
  return withRandom(cases, opts, (rng, i) => {
    const profile = rng.pick(PROFILES);
    return { id: `random${i}/${profile}`, args: { profile }, in: Object.fromEntries(names.map((nm) => [nm, bf16Vector(rng, RANDOM_CASE_SIZE)])) };
  });
}

function elementwise(name: string, summary: string, arity: number, f: (xs: number[], p: Profile) => number): OpDef {
  const names = ['a', 'b', 'c'].slice(0, arity);
  return registerOp({
    name,
    summary,
    args: { profile: profileArg },
    inputs: names.map((nm, i) => ({ name: nm, dtypes: ['bf16'], sameShapeAs: i ? 'a' : undefined, doc: i ? 'shape of a' : 'any shape' })),
    outputs: [{ name: 'y', dtypes: ['bf16'], doc: 'shape of a' }],
    run(args, inputs) {
      const y = alloc('bf16', inputs.a.shape);
      const cols = names.map((nm) => inputs[nm].data as Uint16Array);
      for (let i = 0; i < y.data.length; i++) y.data[i] = f(cols.map((c) => c[i]), args.profile as Profile);
      return { y };
    },
    contract: exact,
    generate: (opts) => crossCases(arity, opts),
  });
}

for (const op of A.BINARY_OPS) elementwise(`bf16.${op}`, `bf16 ${op}, correctly rounded`, 2, ([a, b], p) => A.binary(op, a, b, p));
elementwise('bf16.sqrt', 'bf16 square root, correctly rounded', 1, ([a], p) => A.sqrt(a, p));
elementwise('bf16.fma', 'a·b + c with a single rounding', 3, ([a, b, c], p) => A.fma(a, b, c, p));

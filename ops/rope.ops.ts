// Registration of the rope.* ops (SPEC.md, "rope"): inv_freq, cos_sin, apply, rotate.

import { OpError } from '../io/errors.ts';
import { alloc, floatValues, intValues, slice0, tensor, type DType, type Tensor } from '../io/tensor.ts';
import { bf16Value, bulkFromF32 } from '../reference/bf16.ts';
import {
  ROPE_LAYOUTS, ROPE_PATHS, ropeApply, ropeCosSin, ropeInvFreq, seqLenOf,
  type RopeConfig, type RopeLayout, type RopePath,
} from '../reference/rope.ts';
import { cosSinUlpTolerance, F64_COS_SIN_ABS, invFreqTolerance } from '../reference/rope-contract.ts';

import { Rng } from '../reference/rng.ts';
import { type ArgSpec, type Args, type GenCase, type GenOptions, type Tolerance, registerOp } from './registry.ts';

// ------------------------------------------------------------------ arguments
const freqArgs: Record<string, ArgSpec> = {
  dim: { type: 'integer', required: true, min: 2, max: 65536, doc: 'rotary dimension (even); inv_freq has dim/2 entries' },
  base: { type: 'number', required: true, doc: 'rope_theta, e.g. 10000' },
  scaling: { type: 'object', doc: 'a transformers rope_scaling object: rope_type (default, linear, dynamic, yarn, longrope, llama3) and its fields' },
  max_position_embeddings: { type: 'integer', min: 1, doc: 'the model config value (dynamic, and the default original length of yarn/longrope/llama3)' },
};
const pathArg: ArgSpec = { type: 'string', enum: ROPE_PATHS, default: 'hf', doc: 'hf (transformers in bf16), paper (f32 rotation, one bf16 cast), f32, f64 (ideal)' };
const layoutArg: ArgSpec = { type: 'string', enum: ROPE_LAYOUTS, default: 'half', doc: 'half (rotate_half, pairs i, i+D/2) or interleaved (pairs 2i, 2i+1)' };
const cosSinArgs: Record<string, ArgSpec> = {
  ...freqArgs,
  path: pathArg,
  inv_freq_dtype: { type: 'string', enum: ['f32', 'bf16'], default: 'f32', doc: 'bf16: the inv_freq buffer rounded to bf16 (DeepSpeed module.bfloat16()), then used as f32' },
  layout: layoutArg,
};

const cfgOf = (a: Args): RopeConfig => ({
  dim: a.dim, base: a.base, scaling: a.scaling, maxPositionEmbeddings: a.max_position_embeddings,
  path: (a.path ?? 'hf') as RopePath, layout: (a.layout ?? 'half') as RopeLayout, invFreqDtype: a.inv_freq_dtype,
});

/** the dtype cos/sin and y carry on each path */
export const OUT_DTYPE: Record<RopePath, 'bf16' | 'f32' | 'f64'> = { hf: 'bf16', paper: 'f32', f32: 'f32', f64: 'f64' };
export const Y_DTYPE: Record<RopePath, 'bf16' | 'f32' | 'f64'> = { hf: 'bf16', paper: 'bf16', f32: 'f32', f64: 'f64' };
/** the x dtypes a path accepts */
export const X_DTYPES: Record<RopePath, readonly DType[]> = { hf: ['bf16'], paper: ['bf16', 'f32'], f32: ['f32'], f64: ['f64'] };

function fromValues(dtype: 'bf16' | 'f32' | 'f64', shape: number[], v: ArrayLike<number>): Tensor {
  if (dtype === 'f64') return tensor('f64', shape, Float64Array.from(v));
  const f = Float32Array.from(v);
  return dtype === 'f32' ? tensor('f32', shape, f) : tensor('bf16', shape, bulkFromF32(f));
}

/**
 * y [H, T, D] of dtype from x [H, T, D], one head at a time: f gets the f64 values of a head
 * and returns its outputs. At long T this keeps the f64 copies to one head (tensor memory
 * stays within a small multiple of the case's tensors).
 */
function perHead(x: Tensor, dtype: 'bf16' | 'f32' | 'f64', f: (xh: Float64Array) => Float64Array): Tensor {
  const y = alloc(dtype, x.shape);
  for (let h = 0; h < x.shape[0]; h++) {
    const yh = f(floatValues(slice0(x, h)));
    y.data.set(fromValues(dtype, [yh.length], yh).data as Float64Array, h * yh.length);
  }
  return y;
}

function positionsOf(t: Tensor, where: string): number[] {
  const p = intValues(t, where);
  for (const v of p) if (v < 0) throw new OpError('BAD_TENSOR', `${where}: positions must be ≥ 0, got ${v}`);
  return p;
}

// ------------------------------------------------------------------ contracts
/** f64 cos/sin: |Δ| ≤ 8·2^-53·(1 + |angle|), the angle from the f64 inv_freq */
function f64CosSinCheck(got: Tensor, want: Tensor, args: Args, positions: number[]): number[] {
  const { invFreq } = ropeInvFreq({ ...cfgOf(args), path: 'f64' }, seqLenOf(positions));
  const D = args.dim as number;
  const half = D / 2;
  const g = floatValues(got);
  const w = floatValues(want);
  const bad: number[] = [];
  for (let i = 0; i < w.length; i++) {
    const t = Math.floor(i / D);
    const j = i % D;
    const m = args.layout === 'interleaved' ? j >> 1 : j % half;
    if (!(Math.abs(g[i] - w[i]) <= F64_COS_SIN_ABS(invFreq[m] * positions[t]))) bad.push(i);
  }
  return bad;
}

/** rope.rotate through another libm's cos/sin: each product may move by |x|·δ (δ = one
 * cos/sin step), plus a step of the output for each rounding that flips */
function rotateCheck(got: Tensor, want: Tensor, args: Args, x: Tensor, positions: number[]) {
  const path = args.path as RopePath;
  const D = args.dim as number;
  const { invFreq, attentionScaling } = ropeInvFreq({ ...cfgOf(args), path: 'f64' }, seqLenOf(positions));
  const maxInv = Math.max(...invFreq);
  const scale = Math.max(1, Math.abs(attentionScaling));
  const outUlp = (v: number) => {
    const a = Math.max(Math.abs(v), 2 ** -126);
    const e = Math.floor(Math.log2(a));
    return Y_DTYPE[path] === 'bf16' ? 2 ** (e - 7) : Y_DTYPE[path] === 'f32' ? 2 ** (e - 23) : 2 ** (e - 52);
  };
  const T = positions.length;
  const bad: { i: number; error: number; bound: number }[] = [];
  // one head at a time: f64 copies of a head, not of the whole [H, T, D] tensors
  for (let h = 0; h < x.shape[0]; h++) {
    const g = floatValues(slice0(got, h));
    const w = floatValues(slice0(want, h));
    const xv = floatValues(slice0(x, h));
    for (let i = 0; i < w.length; i++) {
      const t = Math.floor(i / D) % T;
      const j = i % D;
      const row = i - j;
      const partner = args.layout === 'interleaved' ? row + (j ^ 1) : row + ((j + D / 2) % D);
      const step = path === 'hf' ? 2 ** -7 * scale * 2 : path === 'f64' ? F64_COS_SIN_ABS(maxInv * positions[t]) * scale : 2 ** -23 * scale * 2;
      const tol = (Math.abs(xv[i]) + Math.abs(xv[partner])) * step * 2 + 3 * outUlp(Math.abs(w[i]) + (Math.abs(xv[i]) + Math.abs(xv[partner])) * step);
      if (!(Math.abs(g[i] - w[i]) <= tol)) bad.push({ i: h * w.length + i, error: Math.abs(g[i] - w[i]), bound: tol });
    }
  }
  return bad;
}

// ------------------------------------------------------------------ case generation
const DIM = 64;
/** positions from the start, the bf16-hostile middle, 2^17 and past f32's integers */
function positions(rng: Rng, T: number): number[] {
  const fixed = [0, 1, 255, 257, 4097, 65535, 65536, 131071, 131072, 131073, 262147, 1048577, 16777217];
  return Array.from({ length: T }, (_, i) => (i < 2 ? fixed[rng.int(0, fixed.length - 1)] : rng.pick([rng.int(0, 4096), rng.int(0, 1 << 17), rng.int(1 << 17, 1 << 21), rng.int(0, 1 << 25)])));
}
const posTensor = (rng: Rng, p: number[]): Tensor =>
  rng.float() < 0.5 ? tensor('i32', [p.length], Int32Array.from(p)) : tensor('i64', [p.length], BigInt64Array.from(p.map(BigInt)));

/** one scaling object per rope_type (and variants), for a given dim */
function scalings(dim: number, rng: Rng): { scaling?: Record<string, unknown>; mpe?: number; base: number }[] {
  const factors = (lo: number, hi: number) => Array.from({ length: dim / 2 }, () => Number((lo + (hi - lo) * rng.float()).toFixed(4)));
  const all = [
    { base: 1e4 },
    { base: 5e7, scaling: { rope_type: 'default' } },
    { base: 1e4, scaling: { rope_type: 'linear', factor: 4 } },
    { base: 1e4, scaling: { rope_type: 'dynamic', factor: 2 }, mpe: 4096 },
    { base: 5e5, scaling: { rope_type: 'dynamic', factor: 3 }, mpe: 1 << 22 },
    { base: 1e4, scaling: { rope_type: 'yarn', factor: 16, original_max_position_embeddings: 4096 }, mpe: 65536 },
    { base: 1e6, scaling: { rope_type: 'yarn', factor: 8, original_max_position_embeddings: 4096, mscale: 0.707, mscale_all_dim: 1, beta_fast: 16, beta_slow: 2 } },
    { base: 5e5, scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 8192, truncate: false, attention_factor: 1.25 } },
    { base: 1e4, scaling: { rope_type: 'longrope', short_factor: factors(1, 2), long_factor: factors(1, 40), original_max_position_embeddings: 4096, factor: 32 } },
    { base: 5e5, scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } },
  ];
  // dynamic's exponent dim/(dim−2) needs dim > 2
  return dim > 2 ? all : all.filter((c) => c.scaling?.rope_type !== 'dynamic');
}

function fill(level1: GenCase[], opts: GenOptions, random: (rng: Rng, i: number) => GenCase): GenCase[] {
  const rng = new Rng(opts.seed ^ 0x5eed);
  const out = [...level1];
  const target = Math.max(opts.n, opts.level === 2 ? 2 * level1.length : level1.length);
  for (let i = 0; out.length < target; i++) out.push(random(rng, i));
  return out;
}

const typeOf = (s?: Record<string, unknown>) => (s?.rope_type as string | undefined) ?? 'default';
const freqArgsOf = (c: ReturnType<typeof scalings>[number], dim: number) => ({
  dim, base: c.base, ...(c.scaling ? { scaling: c.scaling } : {}), ...(c.mpe ? { max_position_embeddings: c.mpe } : {}),
});

function randomScaling(rng: Rng, dim: number) {
  const all = scalings(dim, rng);
  const c = rng.pick(all);
  return { ...c, base: rng.pick([1e4, 1e5, 5e5, 1e6, 5e6, 1e7, 5e7]) };
}

// ------------------------------------------------------------------ ops
registerOp({
  name: 'rope.inv_freq',
  summary: 'inv_freq[dim/2] and attention_scaling for a transformers rope_type (f32 steps as torch, correctly rounded pow)',
  args: { ...freqArgs, seq_len: { type: 'integer', min: 1, doc: 'current length (max position + 1): dynamic grows past max_position_embeddings, longrope switches to long_factor' } },
  inputs: [],
  outputs: [
    { name: 'inv_freq', dtypes: ['f32'], shape: ['dim/2'], doc: 'f32 [dim/2]' },
    { name: 'attention_scaling', dtypes: ['f32'], shape: [], doc: 'f32 []: multiplies cos and sin' },
  ],
  run(args) {
    const { invFreq, attentionScaling } = ropeInvFreq({ ...cfgOf(args), path: 'hf', invFreqDtype: 'f32' }, args.seq_len);
    return { inv_freq: fromValues('f32', [invFreq.length], invFreq), attention_scaling: fromValues('f32', [], [attentionScaling]) };
  },
  contract: (args) => ({
    inv_freq: { kind: 'ulp', max: invFreqTolerance(args.scaling), why: 'f32 pow of a 1-ulp libm, then the reciprocal and the scaling ops (SPEC.md rope contracts)' },
    attention_scaling: { kind: 'ulp', max: 1, why: 'a double-precision log/sqrt rounded to f32' },
  }),
  generate(opts) {
    const rng = new Rng(opts.seed);
    const cases: GenCase[] = [];
    for (const dim of [2, 8, 128])
      for (const c of scalings(dim, rng)) {
        cases.push({ id: `${typeOf(c.scaling)}/${c.base}/d${dim}`, args: freqArgs0(c, dim), in: {} });
        if (c.mpe || typeOf(c.scaling) === 'longrope') cases.push({ id: `${typeOf(c.scaling)}/${c.base}/d${dim}/long`, args: { ...freqArgs0(c, dim), seq_len: 1 << 18 }, in: {} });
      }
    for (const base of [1e4, 1e5, 5e5, 1e6, 5e6, 1e7, 5e7, 1e9]) cases.push({ id: `default/${base}/d128`, args: { dim: 128, base }, in: {} });
    return fill(cases, opts, (r, i) => {
      const dim = 2 * r.int(1, 128);
      const c = randomScaling(r, dim);
      return { id: `random${i}`, args: { ...freqArgs0(c, dim), ...(r.float() < 0.5 ? { seq_len: r.int(1, 1 << 20) } : {}) }, in: {} };
    });
  },
});
function freqArgs0(c: ReturnType<typeof scalings>[number], dim: number): Args {
  return freqArgsOf(c, dim);
}

registerOp({
  name: 'rope.cos_sin',
  summary: 'cos, sin [T, dim] for positions on a precision path (hf: bf16, paper/f32: f32, f64: f64)',
  args: cosSinArgs,
  inputs: [{ name: 'positions', dtypes: ['i32', 'i64'], shape: ['T'], doc: 'position ids [T] (≥ 0)' }],
  outputs: [
    { name: 'cos', dtypes: ['bf16', 'f32', 'f64'], shape: ['T', 'dim'], doc: '[T, dim] in the path dtype' },
    { name: 'sin', dtypes: ['bf16', 'f32', 'f64'], shape: ['T', 'dim'], doc: '[T, dim] in the path dtype' },
  ],
  run(args, inputs) {
    const cfg = cfgOf(args);
    const p = positionsOf(inputs.positions, 'rope.cos_sin: positions');
    const { cos, sin } = ropeCosSin(p, cfg);
    const dt = OUT_DTYPE[cfg.path];
    return { cos: fromValues(dt, [p.length, cfg.dim], cos), sin: fromValues(dt, [p.length, cfg.dim], sin) };
  },
  contract(args) {
    const path = args.path as RopePath;
    if (path === 'f64') {
      const check = (got: Tensor, want: Tensor, ctx: { inputs: Record<string, Tensor> }) => f64CosSinCheck(got, want, args, positionsOf(ctx.inputs.positions, 'positions'));
      const t: Tolerance = { kind: 'custom', describe: '|Δ| ≤ 8·2^-53·(1 + |angle|) (two 1-ulp libms and the angle product)', check };
      return { cos: t, sin: t };
    }
    const { attentionScaling } = ropeInvFreq({ ...cfgOf(args), path: 'f64' });
    const max = cosSinUlpTolerance(path, attentionScaling);
    const t: Tolerance = { kind: 'ulp', max, why: "a 1-ulp libm cos/sin (PyTorch's) given the oracle's inv_freq (SPEC.md rope contracts)" };
    return { cos: t, sin: t };
  },
  generate(opts) {
    const rng = new Rng(opts.seed);
    const cases: GenCase[] = [];
    for (const c of scalings(DIM, rng))
      for (const path of ROPE_PATHS)
        for (const invDt of ['f32', 'bf16'])
          cases.push({
            id: `${typeOf(c.scaling)}/${c.base}/${path}/${invDt}`,
            args: { ...freqArgsOf(c, DIM), path, inv_freq_dtype: invDt, layout: rng.pick(ROPE_LAYOUTS) },
            in: { positions: posTensor(rng, positions(rng, 8)) },
          });
    return fill(cases, opts, (r, i) => {
      const dim = 2 * r.int(1, 64);
      const c = randomScaling(r, dim);
      return {
        id: `random${i}`,
        args: { ...freqArgsOf(c, dim), path: r.pick(ROPE_PATHS), inv_freq_dtype: r.pick(['f32', 'bf16']), layout: r.pick(ROPE_LAYOUTS) },
        in: { positions: posTensor(r, positions(r, r.int(1, 12))) },
      };
    });
  },
});

/** rope.apply: the path from `path`, or from dtype (bf16 → hf, f32 → f32, f64 → f64) */
function applyPath(args: Args): RopePath {
  const byDtype: Record<string, RopePath> = { bf16: 'hf', f32: 'f32', f64: 'f64' };
  const path = (args.path ?? byDtype[args.dtype]) as RopePath;
  if (Y_DTYPE[path] !== args.dtype) throw new OpError('BAD_ARGS', `rope.apply: path "${path}" produces ${Y_DTYPE[path]}, but dtype is "${args.dtype}"`);
  return path;
}

registerOp({
  name: 'rope.apply',
  summary: 'y = x·cos + rot(x)·sin with the rounding of the dtype (bf16: three bf16 ops, as transformers in bf16)',
  args: {
    layout: layoutArg,
    dtype: { type: 'string', enum: ['bf16', 'f32', 'f64'], default: 'bf16', doc: 'the arithmetic and the dtype of y' },
    path: { type: 'string', enum: ROPE_PATHS, doc: 'optional: "paper" = f32 x/cos/sin rotation rounded once to bf16 (dtype bf16); default from dtype' },
  },
  inputs: [
    { name: 'x', dtypes: ['bf16', 'f32', 'f64'], shape: ['H', 'T', 'D'], doc: '[H, T, D]' },
    { name: 'cos', dtypes: ['bf16', 'f32', 'f64'], shape: ['T', 'D'], doc: '[T, D]' },
    { name: 'sin', dtypes: ['bf16', 'f32', 'f64'], shape: ['T', 'D'], doc: '[T, D]' },
  ],
  outputs: [{ name: 'y', dtypes: ['bf16', 'f32', 'f64'], shape: ['H', 'T', 'D'], doc: '[H, T, D] in dtype' }],
  run(args, { x, cos, sin }) {
    const path = applyPath(args);
    if (!X_DTYPES[path].includes(x.dtype)) throw new OpError('BAD_TENSOR', `rope.apply: x is ${x.dtype}; path ${path} takes ${X_DTYPES[path].join(' or ')}`);
    for (const [n, t] of [['cos', cos], ['sin', sin]] as const)
      if (t.dtype !== OUT_DTYPE[path]) throw new OpError('BAD_TENSOR', `rope.apply: ${n} is ${t.dtype}; path ${path} takes ${OUT_DTYPE[path]}`);
    const [, T, D] = x.shape;
    if (D % 2) throw new OpError('BAD_TENSOR', `rope.apply: head dim D must be even, got ${D}`);
    const [c, sn] = [floatValues(cos), floatValues(sin)];
    return { y: perHead(x, Y_DTYPE[path], (xh) => ropeApply(xh, 1, T, D, c, sn, { path, layout: args.layout })) };
  },
  contract: () => ({ y: { kind: 'exact' } }),
  generate(opts) {
    const rng = new Rng(opts.seed);
    const make = (r: Rng, path: RopePath, layout: RopeLayout, H: number, T: number, D: number, base: number, id: string): GenCase => {
      const p = positions(r, T);
      const { cos, sin } = ropeCosSin(p, { dim: D, base, path, layout });
      const xdt = path === 'paper' && r.float() < 0.5 ? 'f32' : X_DTYPES[path][0];
      const xs = Array.from({ length: H * T * D }, () => {
        const v = r.normal() * 4;
        return xdt === 'bf16' ? bf16Value(v) : v;
      });
      const args: Args = { layout, dtype: Y_DTYPE[path], ...(path === 'paper' ? { path } : {}) };
      const dt = OUT_DTYPE[path];
      return { id, args, in: { x: fromValues(xdt as 'bf16' | 'f32' | 'f64', [H, T, D], xs), cos: fromValues(dt, [T, D], cos), sin: fromValues(dt, [T, D], sin) } };
    };
    const cases: GenCase[] = [];
    for (const path of ROPE_PATHS)
      for (const layout of ROPE_LAYOUTS)
        for (const base of [1e4, 5e6]) cases.push(make(rng, path, layout, 2, 8, DIM, base, `${path}/${layout}/${base}`));
    return fill(cases, opts, (r, i) => make(r, r.pick(ROPE_PATHS), r.pick(ROPE_LAYOUTS), r.int(1, 3), r.int(1, 8), 2 * r.int(1, 64), r.pick([1e4, 5e5, 1e6, 5e7]), `random${i}`));
  },
});

registerOp({
  name: 'rope.rotate',
  summary: 'the whole path: inv_freq → angles → cos/sin → apply, for x [H, T, dim]',
  args: cosSinArgs,
  inputs: [
    { name: 'x', dtypes: ['bf16', 'f32', 'f64'], shape: ['H', 'T', 'D'], doc: '[H, T, dim]: bf16 for hf/paper (paper also f32), f32, f64' },
    { name: 'positions', dtypes: ['i32', 'i64'], shape: ['T'], doc: 'position ids [T]' },
  ],
  outputs: [{ name: 'y', dtypes: ['bf16', 'f32', 'f64'], shape: ['H', 'T', 'D'], doc: '[H, T, dim]: bf16 for hf/paper, else the path dtype' }],
  run(args, { x, positions: pt }) {
    const cfg = cfgOf(args);
    if (!X_DTYPES[cfg.path].includes(x.dtype)) throw new OpError('BAD_TENSOR', `rope.rotate: x is ${x.dtype}; path ${cfg.path} takes ${X_DTYPES[cfg.path].join(' or ')}`);
    const [, T, D] = x.shape;
    const pos = positionsOf(pt, 'rope.rotate: positions');
    if (D !== cfg.dim) throw new OpError('BAD_ARGS', `rope.rotate: x has head dim ${D} but dim is ${cfg.dim} (partial rotary is not supported)`);
    const { cos, sin } = ropeCosSin(pos, cfg); // once for every head
    return { y: perHead(x, Y_DTYPE[cfg.path], (xh) => ropeApply(xh, 1, T, D, cos, sin, cfg)) };
  },
  contract: (args) => ({
    y: {
      kind: 'custom',
      describe: 'exact with the oracle\'s cos/sin; through a 1-ulp libm each product moves by ≤ |x|·(2 cos/sin steps), plus 3 output steps',
      check: (got, want, ctx) => rotateCheck(got, want, args, ctx.inputs.x, positionsOf(ctx.inputs.positions, 'positions')),
    },
  }),
  generate(opts) {
    const rng = new Rng(opts.seed);
    const make = (r: Rng, c: ReturnType<typeof scalings>[number], path: RopePath, layout: RopeLayout, dim: number, T: number, id: string, invDt = 'f32'): GenCase => {
      const H = 2;
      const xdt = X_DTYPES[path][0] as 'bf16' | 'f32' | 'f64';
      const xs = Array.from({ length: H * T * dim }, () => r.normal() * 4);
      return {
        id,
        args: { ...freqArgsOf(c, dim), path, layout, inv_freq_dtype: invDt },
        in: { x: fromValues(xdt, [H, T, dim], xs), positions: posTensor(r, positions(r, T)) },
      };
    };
    const cases: GenCase[] = [];
    for (const c of scalings(DIM, rng))
      for (const path of ROPE_PATHS) cases.push(make(rng, c, path, rng.pick(ROPE_LAYOUTS), DIM, 6, `${typeOf(c.scaling)}/${c.base}/${path}`));
    for (const layout of ROPE_LAYOUTS) cases.push(make(rng, { base: 1e4 }, 'hf', layout, DIM, 6, `deepspeed-bf16-inv_freq/${layout}`, 'bf16'));
    return fill(cases, opts, (r, i) => {
      const dim = 2 * r.int(1, 64);
      return make(r, randomScaling(r, dim), r.pick(ROPE_PATHS), r.pick(ROPE_LAYOUTS), dim, r.int(1, 6), `random${i}`, r.pick(['f32', 'bf16']));
    });
  },
});


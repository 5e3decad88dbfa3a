// Every op a generated kernel implements, on every available backend, judged by the op's own
// registry contract (SPEC.md, "Kernels"): the cases come from the op's `generate` (levels 1 and
// 2, one fixed seed), the kernel runs through kernels/ops.ts, its outputs are wrapped as the
// op's output tensors and checkCase (what `verify` applies) judges them. No tolerance is
// written here: bf16Round is bf16.from_f32 (ieee, rne), ropeApply is rope.apply (paths f32,
// hf, paper), the attention forward plan is attention.forward (every variant; f32, bf16_flash).
// A backend that flushes float32 subnormals (`flushesSubnormals`) has SPEC.md's FTZ allowance
// for bf16Round only; the contract cannot express it, so those cases (a subnormal input or
// result) are skipped there, counted and printed. Generated cases outside a kernel's scope
// (other profiles, roundings, the f64 rope path, the f64 and bf16_eager attention paths) are
// counted and printed too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import '../ops/index.ts';
import { getOp, validateArgs, type Args, type GenCase } from '../ops/registry.ts';
import { checkCase, type ResultValue } from '../ops/verify.ts';
import { alloc, floatValues, tensor, type Tensor } from '../io/tensor.ts';
import { bf16Value, f32ToBits } from '../reference/bf16.ts';
import { Y_DTYPE } from '../ops/rope.ops.ts';
import type { RopePath } from '../reference/rope.ts';
import type { Variant } from '../reference/masks.ts';
import { attentionForward, bf16Round, ropeApply, type RopeKernelPath } from '../kernels/ops.ts';
import { closeBackends, type KernelBackend } from '../kernels/runtime.ts';
import { availableBackends } from './backends.ts';

const SEED = 7;
const { backends } = await availableBackends();

type Output = Tensor | { problem: string };

/** kernel values (float32) as a tensor of the op's output dtype; a value the dtype cannot hold is a problem, not a rounding */
function wrap(values: Float32Array, dtype: 'f32' | 'bf16', shape: number[], name: string): Output {
  if (dtype === 'f32') return tensor('f32', shape, values);
  const t = alloc('bf16', shape);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x !== x) {
      t.data[i] = 0x7fc0; // NaN: the exact contract matches any NaN
      continue;
    }
    const bits = f32ToBits(x);
    if (bits & 0xffff) return { problem: `out.${name}[${i}] = ${x} is not a bf16 value` };
    t.data[i] = bits >>> 16;
  }
  return t;
}

const isSub32 = (x: number) => x !== 0 && Math.abs(x) < 2 ** -126;

interface KernelOp {
  /** the registry op the kernel implements */
  op: string;
  kernel: string;
  /** most cases per backend (spread evenly over the in-scope cases of levels 1 and 2) */
  cap: number;
  /** why a generated case is outside the kernel's scope (undefined: in scope) */
  outOfScope(args: Args): string | undefined;
  /** why a case is skipped on this backend (SPEC.md's allowances), or undefined */
  skip?(c: GenCase, be: KernelBackend): string | undefined;
  run(args: Args, inputs: Record<string, Tensor>, be: KernelBackend, index: number): Promise<Record<string, Output>>;
}

const KERNEL_OPS: KernelOp[] = [
  {
    op: 'bf16.from_f32',
    kernel: 'bf16Round',
    cap: 40,
    outOfScope: (a) => (a.profile !== 'ieee' || a.rounding !== 'rne' ? `profile ${a.profile} / rounding ${a.rounding} (the kernel is ieee, rne)` : undefined),
    skip(c, be) {
      if (!be.flushesSubnormals) return undefined;
      const x = c.in.x.data as Float32Array;
      for (let i = 0; i < x.length; i++) if (isSub32(x[i]) || isSub32(bf16Value(x[i]))) return 'FTZ backend: a subnormal input or result (SPEC.md, Kernels: bf16Round allowance)';
      return undefined;
    },
    async run(_args, { x }, be) {
      const y = await bf16Round(x.data as Float32Array, be);
      return { y: wrap(y, 'bf16', x.shape, 'y') };
    },
  },
  {
    op: 'rope.apply',
    kernel: 'ropeApply',
    cap: 30,
    outOfScope: (a) => (ropePath(a) === 'f64' ? 'path f64 (the kernel does f32, hf, paper)' : undefined),
    async run(args, { x, cos, sin }, be) {
      const [H, T, D] = x.shape;
      const path = ropePath(args) as RopeKernelPath;
      const y = await ropeApply(floatValues(x), H, T, D, floatValues(cos), floatValues(sin), path, args.layout, be);
      return { y: wrap(y, Y_DTYPE[path] as 'f32' | 'bf16', x.shape, 'y') };
    },
  },
  {
    op: 'attention.forward',
    kernel: 'attentionForward',
    cap: 36,
    outOfScope: (a) => (a.precision !== 'f32' && a.precision !== 'bf16_flash' ? `precision ${a.precision} (the kernels do f32, bf16_flash)` : undefined),
    async run(args, { q, k, v, doc_ids }, be, index) {
      const [Hq, L, D] = q.shape;
      const Hkv = k.shape[0];
      const precision = args.precision as 'f32' | 'bf16_flash';
      // tile sizes 4…32 in turn (several full and partial tiles even at small L); every third
      // case in chunks of 4 tiles (rows continue across chunks), else the default chunking
      const blockSize = [4, 8, 16, 32][index % 4];
      const chunkTiles = index % 3 === 1 ? 4 : undefined;
      const got = await attentionForward(floatValues(q), floatValues(k), floatValues(v), { Hq, Hkv, L, D }, floatValues(doc_ids), { variant: args.variant as Variant, precision, scale: args.scale, blockSize, chunkTiles }, be);
      return { out: wrap(got.out, precision === 'f32' ? 'f32' : 'bf16', [Hq, L, D], 'out'), lse: wrap(got.lse, 'f32', [Hq, L], 'lse') };
    },
  },
];

/** rope.apply's path: `path`, else from dtype (the op's own rule) */
function ropePath(a: Args): RopePath {
  return (a.path ?? ({ bf16: 'hf', f32: 'f32', f64: 'f64' } as Record<string, RopePath>)[a.dtype]) as RopePath;
}

/** the op's generated cases of levels 1 and 2 (duplicates by content dropped), split into in scope and not */
function kernelCases(k: KernelOp): { cases: (GenCase & { level: number; args: Args })[]; inScope: number; outside: Map<string, number> } {
  const op = getOp(k.op);
  const seen = new Set<string>();
  const inScope: (GenCase & { level: number; args: Args })[] = [];
  const outside = new Map<string, number>();
  for (const level of [1, 2] as const)
    for (const c of op.generate({ n: 0, seed: SEED, level })) {
      const h = createHash('sha1').update(JSON.stringify(c.args));
      for (const [n, t] of Object.entries(c.in)) h.update(`${n}:${t.dtype}[${t.shape}]`).update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      const key = h.digest('hex');
      if (seen.has(key)) continue;
      seen.add(key);
      const args = validateArgs(op, c.args);
      const why = k.outOfScope(args);
      if (why) outside.set(why, (outside.get(why) ?? 0) + 1);
      else inScope.push({ ...c, args, level });
    }
  // at most cap, spread evenly (fixed cases and random ones of both levels)
  const n = Math.min(k.cap, inScope.length);
  const cases = Array.from({ length: n }, (_, i) => inScope[Math.floor((i * inScope.length) / n)]);
  return { cases, inScope: inScope.length, outside };
}

for (const k of KERNEL_OPS) {
  const { cases, inScope, outside } = kernelCases(k);
  const kinds = new Set(cases.map((c) => JSON.stringify(c.args)));
  console.log(`${k.op}: ${cases.length} of ${inScope} in-scope generated cases (seed ${SEED}, levels 1–2), ${kinds.size} argument sets: ${[...kinds].join(' ')}`);
  for (const [why, n] of outside) console.log(`${k.op}: ${n} generated cases outside the ${k.kernel} kernel: ${why}`);
  for (const be of backends)
    test(`${be.name}: ${k.kernel} within the ${k.op} contract on its generated cases`, async () => {
      let run = 0, passed = 0;
      const skipped = new Map<string, number>();
      const failures: string[] = [];
      for (const [i, c] of cases.entries()) {
        const why = k.skip?.(c, be);
        if (why) {
          skipped.set(why, (skipped.get(why) ?? 0) + 1);
          continue;
        }
        run++;
        const label = `${k.op} case "${c.id}" (level ${c.level}, ${JSON.stringify(c.args)}) via ${k.kernel} on ${be.name}`;
        let res: ResultValue;
        try {
          res = { id: c.id, out: await k.run(c.args, c.in, be, i) };
        } catch (e) {
          res = { id: c.id, error: (e as Error).message };
        }
        const outcome = checkCase({ id: c.id, op: k.op, args: c.args, in: c.in }, label, res);
        if (outcome.status === 'passed') passed++;
        else failures.push(outcome.messages.slice(0, 4).join('\n'));
      }
      const nSkipped = [...skipped.values()].reduce((a, b) => a + b, 0);
      console.log(`${k.op} × ${be.name}: ${run} run, ${passed} passed, ${nSkipped} skipped`);
      for (const [why, n] of skipped) console.log(`  skipped ${n}: ${why}`);
      assert.ok(run > 0, `${k.op} × ${be.name}: no case ran`);
      assert.ok(failures.length === 0, `${failures.length} of ${run} cases outside the ${k.op} contract:\n${failures.slice(0, 6).join('\n')}`);
    });
}

test.after(closeBackends);
test.run();

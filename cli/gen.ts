import '../ops/index.ts';
import { withExpect } from '../ops/cases.ts';
import { getOp, validateArgs, type GenCase } from '../ops/registry.ts';
import { sampleRows } from '../ops/rows.ts';
import { DOCS_FORMS, parseDocsSpec, sizedAttentionCases, sizedAttentionLayoutCases, sizedRopeCases, type SizedLayoutOp, type SizedRopeOp } from '../ops/sized-cases.ts';
import { PRECISIONS, type AttnPrecision } from '../reference/attention.ts';
import { VARIANTS, type Variant } from '../reference/masks.ts';
import { ROPE_LAYOUTS, ROPE_PATHS, type RopeLayout, type RopePath } from '../reference/rope.ts';
import { JsonlWriter } from '../io/line-writer.ts';
import { yieldToEvents } from '../io/lines.ts';
import { tensor } from '../io/tensor.ts';
import { fmtSeconds, info } from '../io/progress.ts';
import { type Command, enumOption, intOption, listOption, numberOption, type Options, shardOption, tensorsOption, UsageError } from './main.ts';

const ATTENTION_SIZE = ['L', 'Hq', 'Hkv', 'D', 'variant', 'precision', 'docs', 'block-size'] as const;
const ROPE_SIZE = ['T', 'dim', 'max-position', 'H', 'path', 'layout', 'base'] as const;

const O = {
  op: { type: 'string', placeholder: 'OP', description: 'the op to write cases for, required (anchor-oracle ops lists them)' },
  n: { type: 'string', placeholder: 'N', description: "at least N cases: the level's, then seeded random ones (with size flags: N per combination of the lists, ≥ 1, 1 if not given)", default: 0 },
  seed: { type: 'string', placeholder: 'S', description: 'seed of the random cases and tensors (integer ≥ 0)', default: 1 },
  level: { type: 'string', placeholder: '1|2', description: 'TestFloat-style level: 1 the edge-class cross product, 2 adds as many seeded random cases', default: '1' as const },
  out: { type: 'string', placeholder: 'FILE', description: 'write the cases to FILE (atomically) instead of standard output', default: 'standard output' },
  tensors: { type: 'string', placeholder: 'inline|sidecar', description: 'tensors inline as base64, or in a .safetensors sidecar beside --out', default: 'inline' },
  shard: { type: 'string', placeholder: 'i/n', description: 'write only shard i of n: cases k with k mod n = i - 1 (1 ≤ i ≤ n)' },
  'sample-rows': { type: 'string', placeholder: 'K', description: "attention.forward: carry at least K query rows (row 0, the last, each document's first, seeded ones); expect holds only those (K ≥ 1)" },
  'id-prefix': { type: 'string', placeholder: 'P', description: 'ids are P + the generated id (ids must be unique in a file that verify reads)' },
  'no-expect': { type: 'boolean', description: 'inputs only, no expected outputs (check a full-size result later with verify --sample-rows)' },
  L: { type: 'string', placeholder: 'N', description: 'attention size flag: the window length (required with attention size flags, ≥ 1)' },
  Hq: { type: 'string', placeholder: 'N', description: 'attention.forward: query heads (≥ 1)', default: 1 },
  Hkv: { type: 'string', placeholder: 'N', description: 'attention.forward: key/value heads (≥ 1, dividing Hq)', default: 1 },
  D: { type: 'string', placeholder: 'N', description: 'attention.forward: head dimension (≥ 1)', default: 64 },
  variant: { type: 'string', placeholder: 'V,...|all', description: `attention masks, comma-separated: ${VARIANTS.join(', ')}`, default: 'all' },
  precision: { type: 'string', placeholder: 'P,...|all', description: `attention.forward precisions, comma-separated: ${PRECISIONS.join(', ')}`, default: 'bf16_flash' as const },
  docs: { type: 'string', placeholder: 'SPEC', description: `the documents of the window: ${DOCS_FORMS}`, default: 'one' },
  'block-size': { type: 'string', placeholder: 'B', description: 'attention.block_mask: the block size (≥ 1)', default: 128 },
  T: { type: 'string', placeholder: 'N', description: 'rope size flag: the number of tokens (required with rope size flags, ≥ 1)' },
  dim: { type: 'string', placeholder: 'N', description: 'rope: the rotary dimension (≥ 2)', default: 128 },
  H: { type: 'string', placeholder: 'N', description: 'rope.apply / rope.rotate: heads (≥ 1)', default: 1 },
  'max-position': { type: 'string', placeholder: 'N', description: 'rope: positions are drawn from [0, N) (≥ 1)', default: 'T' },
  path: { type: 'string', placeholder: 'P,...|all', description: `rope precision paths, comma-separated: ${ROPE_PATHS.join(', ')}`, default: 'hf' as const },
  layout: { type: 'string', placeholder: 'L,...|all', description: `rope layouts, comma-separated: ${ROPE_LAYOUTS.join(', ')}`, default: 'half' as const },
  base: { type: 'string', placeholder: 'B', description: 'rope: the base θ (a number > 0)', default: 10000 },
} satisfies Options;

/** the cases of a sized run (size flags given), or undefined for the TestFloat-style levels */
function sizedCases(op: string, v: Record<string, string | boolean | undefined>, seed: number, shard?: { index: number; count: number }): Iterable<GenCase> | undefined {
  const attention = ATTENTION_SIZE.some((k) => v[k] !== undefined);
  const rope = ROPE_SIZE.some((k) => v[k] !== undefined);
  if (!attention && !rope) return undefined;
  const n = intOption(v.n, 'n', 1, 1); // cases per combination of the lists (O.n describes it)
  const wrong = (flags: readonly string[], kind: string) => {
    const f = flags.find((k) => v[k] !== undefined);
    if (f) throw new UsageError(`--${f} is a ${kind} size flag; ${op} does not take it`);
  };
  try {
    if (op === 'attention.forward' || op === 'attention.positions' || op === 'attention.mask' || op === 'attention.block_mask') {
      wrong(ROPE_SIZE, 'rope');
      if (v.L === undefined) throw new UsageError('--L (the window length) is required with attention size flags');
      const common = {
        L: intOption(v.L, 'L', 0, 1), // given: checked above
        variants: listOption<Variant>(v.variant, 'variant', VARIANTS, VARIANTS),
        docs: parseDocsSpec(typeof v.docs === 'string' ? v.docs : O.docs.default),
        n,
        seed,
        shard,
      };
      if (op !== 'attention.forward') {
        wrong(['Hq', 'Hkv', 'D', 'precision'], 'attention.forward');
        return sizedAttentionLayoutCases(op as SizedLayoutOp, { ...common, blockSize: intOption(v['block-size'], 'block-size', O['block-size'].default, 1) });
      }
      return sizedAttentionCases({
        ...common,
        Hq: intOption(v.Hq, 'Hq', O.Hq.default, 1),
        Hkv: intOption(v.Hkv, 'Hkv', O.Hkv.default, 1),
        D: intOption(v.D, 'D', O.D.default, 1),
        precisions: listOption<AttnPrecision>(v.precision, 'precision', PRECISIONS, [O.precision.default]),
      });
    }
    if (op === 'rope.apply' || op === 'rope.rotate' || op === 'rope.cos_sin') {
      wrong(ATTENTION_SIZE, 'attention');
      if (v.T === undefined) throw new UsageError('--T (the number of tokens) is required with rope size flags');
      const T = intOption(v.T, 'T', 0, 1);
      return sizedRopeCases(op as SizedRopeOp, {
        T,
        dim: intOption(v.dim, 'dim', O.dim.default, 2),
        H: intOption(v.H, 'H', O.H.default, 1),
        maxPosition: intOption(v['max-position'], 'max-position', T, 1), // O['max-position'].default: T
        paths: listOption<RopePath>(v.path, 'path', ROPE_PATHS, [O.path.default]),
        layouts: listOption<RopeLayout>(v.layout, 'layout', ROPE_LAYOUTS, [O.layout.default]),
        base: numberOption(v.base, 'base', O.base.default, { min: 0, exclusive: true }),
        n,
        seed,
        shard,
      });
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message);
  }
  throw new UsageError(`${op} takes no size flags (they are for attention.* and rope.apply / rope.rotate / rope.cos_sin)`);
}

export const command: Command = {
  summary: 'write cases (inputs + expected outputs) for an op as JSON Lines',
  usage: [
    'anchor-oracle gen --op OP [--n N] [--seed S] [--level 1|2] [--out FILE] [--tensors inline|sidecar] [--shard i/n]',
    '  sized attention cases: --L N [--Hq N] [--Hkv N] [--D N] [--variant V,...|all] [--precision P,...|all] [--docs SPEC] [--block-size B]',
    `     SPEC: ${DOCS_FORMS}`,
    '  sized rope cases:      --T N [--dim N] [--H N] [--max-position N] [--path P,...|all] [--layout half|interleaved|all] [--base B]',
    '  [--sample-rows K] [--id-prefix P] [--no-expect]',
  ].join('\n'),
  options: O,
  examples: [
    'anchor-oracle gen --op rope.apply --seed 1 --level 2 > cases.jsonl',
    'anchor-oracle gen --op bf16.add --shard 2/8 --out cases-2.jsonl',
    'anchor-oracle gen --op attention.forward --L 8192 --Hq 8 --Hkv 2 --D 128 --variant anchor --docs mix:slimpajama-64k --no-expect --tensors sidecar --out long.jsonl',
    'anchor-oracle gen --op rope.rotate --T 131072 --H 8 --dim 128 --path hf,paper --tensors sidecar --out rope.jsonl',
  ],
  async run(v) {
    if (!v.op) throw new UsageError('--op is required (anchor-oracle ops lists them)');
    let op;
    try {
      op = getOp(v.op);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const level = Number(enumOption(v.level, 'level', ['1', '2'], O.level.default)) as 1 | 2;
    const mode = tensorsOption(v.tensors, v.out);
    const shard = shardOption(v.shard);
    const seed = intOption(v.seed, 'seed', O.seed.default);
    const sample = intOption(v['sample-rows'], 'sample-rows', undefined, 1);
    if (sample !== undefined && !op.rowSampling) throw new UsageError(`--sample-rows is for ops computed per query row (attention.forward), not ${op.name}`);
    const sized = sizedCases(op.name, v, seed, shard && { index: shard.index - 1, count: shard.count });
    const cases: Iterable<GenCase> = sized ?? op.generate({ n: intOption(v.n, 'n', O.n.default), seed, level }).filter((_, k) => !shard || shard.has(k));
    const out = new JsonlWriter(v.out as string | undefined, mode); // unwritable: one line, exit 2 (cli/main.ts failure)
    let count = 0;
    try {
      for (const generated of cases) {
        await yieldToEvents(); // an interruption between cases removes the temporary files
        const started = Date.now();
        const c = { ...generated, id: `${v['id-prefix'] ?? ''}${generated.id}` };
        let line: GenCase & { op?: string; expect?: unknown } = c;
        if (sample !== undefined) {
          const rows = sampleRows(op, { id: c.id, args: validateArgs(op, c.args), in: c.in }, sample, seed);
          line = { ...c, in: { ...c.in, [op.rowSampling!.input]: tensor('i32', [rows.length], rows) } };
        }
        const g = v['no-expect'] ? { id: line.id, op: op.name, args: line.args, in: line.in } : withExpect(op.name, line);
        out.write({ id: g.id, op: g.op, args: g.args, in: g.in, ...('expect' in g ? { expect: g.expect } : {}) });
        count++;
        const secs = (Date.now() - started) / 1000;
        if (secs > 2) info(`gen: case ${JSON.stringify(c.id)} written in ${fmtSeconds(secs)}`);
      }
      out.close();
    } catch (e) {
      out.abort(); // nothing half-written; the error is reported by cli/main.ts failure
      throw e;
    }
    if (v.out) info(`gen: wrote ${count} ${op.name} cases${shard ? ` (shard ${shard.label})` : ''} to ${v.out}${mode === 'sidecar' ? ' (tensors in its .safetensors sidecar)' : ''}`);
    return 0;
  },
};

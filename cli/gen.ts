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
import { fmtSeconds } from './progress.ts';
import { type Command, intOption, shardOption, tensorsOption, UsageError } from './main.ts';

const ATTENTION_SIZE = ['L', 'Hq', 'Hkv', 'D', 'variant', 'precision', 'docs', 'block-size'] as const;
const ROPE_SIZE = ['T', 'dim', 'max-position', 'H', 'path', 'layout', 'base'] as const;

/** a comma-separated list of allowed words ("all": every one) */
function listOption<T extends string>(v: string | boolean | undefined, name: string, allowed: readonly T[], dflt: readonly T[]): T[] {
  if (v === undefined) return [...dflt];
  if (v === 'all') return [...allowed];
  const items = String(v).split(',');
  for (const x of items) if (!allowed.includes(x as T)) throw new UsageError(`--${name}: unknown "${x}" (accepted: ${allowed.join(', ')}, or all)`);
  return items as T[];
}

function numberOption(v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
}

/** the cases of a sized run (size flags given), or undefined for the TestFloat-style levels */
function sizedCases(op: string, v: Record<string, string | boolean | undefined>, seed: number, shard?: { index: number; count: number }): Iterable<GenCase> | undefined {
  const attention = ATTENTION_SIZE.some((k) => v[k] !== undefined);
  const rope = ROPE_SIZE.some((k) => v[k] !== undefined);
  if (!attention && !rope) return undefined;
  const n = intOption(v.n, 'n', 1, 1); // cases per combination of the lists
  const wrong = (flags: readonly string[], kind: string) => {
    const f = flags.find((k) => v[k] !== undefined);
    if (f) throw new UsageError(`--${f} is a ${kind} size flag; ${op} does not take it`);
  };
  try {
    if (op === 'attention.forward' || op === 'attention.positions' || op === 'attention.mask' || op === 'attention.block_mask') {
      wrong(ROPE_SIZE, 'rope');
      if (v.L === undefined) throw new UsageError('--L (the window length) is required with attention size flags');
      const common = {
        L: intOption(v.L, 'L', 0, 1),
        variants: listOption<Variant>(v.variant, 'variant', VARIANTS, VARIANTS),
        docs: parseDocsSpec(typeof v.docs === 'string' ? v.docs : 'one'),
        n,
        seed,
        shard,
      };
      if (op !== 'attention.forward') {
        wrong(['Hq', 'Hkv', 'D', 'precision'], 'attention.forward');
        return sizedAttentionLayoutCases(op as SizedLayoutOp, { ...common, blockSize: v['block-size'] === undefined ? undefined : intOption(v['block-size'], 'block-size', 128, 1) });
      }
      return sizedAttentionCases({
        ...common,
        Hq: intOption(v.Hq, 'Hq', 1, 1),
        Hkv: intOption(v.Hkv, 'Hkv', 1, 1),
        D: intOption(v.D, 'D', 64, 1),
        precisions: listOption<AttnPrecision>(v.precision, 'precision', PRECISIONS, ['bf16_flash']),
      });
    }
    if (op === 'rope.apply' || op === 'rope.rotate' || op === 'rope.cos_sin') {
      wrong(ATTENTION_SIZE, 'attention');
      if (v.T === undefined) throw new UsageError('--T (the number of tokens) is required with rope size flags');
      const T = intOption(v.T, 'T', 0, 1);
      return sizedRopeCases(op as SizedRopeOp, {
        T,
        dim: intOption(v.dim, 'dim', 128, 2),
        H: intOption(v.H, 'H', 1, 1),
        maxPosition: v['max-position'] === undefined ? undefined : intOption(v['max-position'], 'max-position', T, 1),
        paths: listOption<RopePath>(v.path, 'path', ROPE_PATHS, ['hf']),
        layouts: listOption<RopeLayout>(v.layout, 'layout', ROPE_LAYOUTS, ['half']),
        base: numberOption(v.base, 'base'),
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
    '  --sample-rows K: attention.forward cases carry at least K query rows (row 0, the last, each document\'s first, then seeded ones) and expect holds only those',
    '  --id-prefix P: ids are P + the generated id (ids must be unique in a file that verify reads)',
    '  --no-expect: inputs only (check a full-size result later with verify --sample-rows)',
  ].join('\n'),
  options: {
    op: { type: 'string' }, n: { type: 'string' }, seed: { type: 'string' }, level: { type: 'string' }, out: { type: 'string' },
    tensors: { type: 'string' }, shard: { type: 'string' }, 'sample-rows': { type: 'string' }, 'no-expect': { type: 'boolean' }, 'id-prefix': { type: 'string' },
    ...Object.fromEntries([...ATTENTION_SIZE, ...ROPE_SIZE].map((k) => [k, { type: 'string' as const }])),
  },
  async run(v) {
    if (!v.op) throw new UsageError('--op is required (anchor-oracle ops lists them)');
    let op;
    try {
      op = getOp(v.op);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const level = intOption(v.level, 'level', 1, 1);
    if (level !== 1 && level !== 2) throw new UsageError(`--level must be 1 or 2, got ${level}`);
    const mode = tensorsOption(v.tensors, v.out);
    const shard = shardOption(v.shard);
    const seed = intOption(v.seed, 'seed', 1);
    const sample = v['sample-rows'] === undefined ? undefined : intOption(v['sample-rows'], 'sample-rows', 0, 1);
    if (sample !== undefined && !op.rowSampling) throw new UsageError(`--sample-rows is for ops computed per query row (attention.forward), not ${op.name}`);
    const sized = sizedCases(op.name, v, seed, shard && { index: shard.index - 1, count: shard.count });
    const cases: Iterable<GenCase> = sized ?? op.generate({ n: intOption(v.n, 'n', 0), seed, level }).filter((_, k) => !shard || shard.has(k));
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
        if (secs > 2) console.error(`gen: case ${JSON.stringify(c.id)} written in ${fmtSeconds(secs)}`);
      }
      out.close();
    } catch (e) {
      out.abort(); // nothing half-written; the error is reported by cli/main.ts failure
      throw e;
    }
    if (v.out) console.error(`gen: wrote ${count} ${op.name} cases${shard ? ` (shard ${shard.label})` : ''} to ${v.out}${mode === 'sidecar' ? ' (tensors in its .safetensors sidecar)' : ''}`);
    return 0;
  },
};

// anchor-oracle eval-long: RULER-style synthetic long-context accuracy of a checkpoint
// (passkey, multi-key needle, variable tracking) at chosen context lengths.

import type { Command } from './main.ts';
import { intOption, UsageError } from './main.ts';
import { getTokenizer } from '../data/tokenizer.ts';
import { OpError } from '../io/errors.ts';
import { makeSample, scoreSample, TASKS, type Task } from '../data/long-context.ts';
import { modelForward, policy, PRECISIONS, roundModel, type Precision } from '../reference/model/index.ts';
import { checkForwardFits, EVAL_BYTES_PER_PARAM, loadModelChecked, readCheckedConfig, resolveCheckpointDir } from '../train/checkpoint.ts';
import { Progress } from './progress.ts';

export const command: Command = {
  summary: 'synthetic long-context eval (passkey, multi-key NIAH, variable tracking) of a checkpoint',
  usage: 'anchor-oracle eval-long --checkpoint DIR|RUN_DIR [--lengths 512,1024,2048] [--samples N] [--seed S] [--tasks passkey,multikey,vartrack] [--precision f32|bf16|f64] [--tokenizer DIR]',
  options: {
    checkpoint: { type: 'string' },
    lengths: { type: 'string' },
    samples: { type: 'string' },
    seed: { type: 'string' },
    tasks: { type: 'string' },
    precision: { type: 'string' },
    tokenizer: { type: 'string' },
  },
  async run(v) {
    if (!v.checkpoint) throw new UsageError('--checkpoint DIR is required');
    const lengths = String(v.lengths ?? '512,1024,2048').split(',').map((s) => Number(s));
    if (!lengths.every((n) => Number.isSafeInteger(n) && n >= 32)) throw new UsageError('--lengths must be integers ≥ 32, comma-separated');
    const tasks = String(v.tasks ?? TASKS.join(',')).split(',') as Task[];
    for (const t of tasks) if (!TASKS.includes(t)) throw new UsageError(`unknown task ${t} (known: ${TASKS.join(', ')})`);
    const prec = (v.precision ?? 'f32') as Precision;
    if (!PRECISIONS.includes(prec)) throw new UsageError(`--precision must be one of ${PRECISIONS.join(', ')}`);
    const n = intOption(v.samples, 'samples', 4, 1);
    const seed = intOption(v.seed, 'seed', 1, 0);
    // a run folder (latest.json) resolves to its newest step folder; the config is checked
    // against the machine's memory, for the weights and the longest forward, before loading
    const dir = resolveCheckpointDir(v.checkpoint as string);
    checkForwardFits(readCheckedConfig(dir, EVAL_BYTES_PER_PARAM), Math.max(...lengths), `eval-long --lengths ${Math.max(...lengths)}`);
    const tok = getTokenizer(v.tokenizer as string | undefined);
    const model = roundModel(loadModelChecked(dir, 'checkpoint'), policy(prec).act);
    if (model.config.vocabSize < tok.vocabSize) throw new OpError('BAD_ARGS', `the checkpoint's vocab_size ${model.config.vocabSize} is smaller than the tokenizer's ${tok.vocabSize}: give the --tokenizer it was trained with`);
    const progress = new Progress('eval-long', tasks.length * lengths.length * n);
    let done = 0;
    const rows: string[] = [];
    for (const task of tasks)
      for (const L of lengths) {
        let correct = 0;
        for (let i = 0; i < n; i++) {
          const s = makeSample(task, L, seed * 1000 + i, tok);
          const f = modelForward(model, s.ids, { precision: prec });
          if (scoreSample(s, f.logits, f.V)) correct++;
          progress.update(++done);
        }
        rows.push(JSON.stringify({ task, length: L, samples: n, accuracy: correct / n }));
        console.log(`${task.padEnd(9)} L=${String(L).padStart(6)}  accuracy ${(correct / n).toFixed(3)} (${correct}/${n})`);
      }
    return 0;
  },
};

// anchor-oracle eval-long: RULER-style synthetic long-context accuracy of a checkpoint
// (passkey, multi-key needle, variable tracking) at chosen context lengths.

import type { Command, Options } from './main.ts';
import { enumOption, intListOption, intOption, listOption, UsageError } from './main.ts';
import { getTokenizer } from '../data/tokenizer.ts';
import { OpError } from '../io/errors.ts';
import { makeSample, scoreSample, TASKS, type Task } from '../data/long-context.ts';
import { modelForward, PRECISIONS, roundModel, type Precision } from '../reference/model/index.ts';
import { checkForwardFits, EVAL_BYTES_PER_PARAM, loadModelChecked, readCheckedConfig, resolveCheckpointDir } from '../train/checkpoint.ts';
import { Progress } from '../io/progress.ts';

const O = {
  checkpoint: { type: 'string', placeholder: 'DIR', description: 'a model folder, or a train run folder (its newest checkpoint), required' },
  lengths: { type: 'string', placeholder: 'LIST', description: 'context lengths in tokens, comma-separated (each ≥ 32)', default: [512, 1024, 2048] },
  samples: { type: 'string', placeholder: 'N', description: 'samples per task and length (≥ 1)', default: 4 },
  seed: { type: 'string', placeholder: 'S', description: 'seed of the samples (integer ≥ 0)', default: 1 },
  tasks: { type: 'string', placeholder: 'LIST', description: `tasks, comma-separated: ${TASKS.join(', ')}`, default: 'all' },
  precision: { type: 'string', placeholder: PRECISIONS.join('|'), description: 'the precision of the forward pass', default: 'f32' as const },
  tokenizer: { type: 'string', placeholder: 'DIR', description: 'a folder with the Hugging Face tokenizer.json the checkpoint was trained with', default: 'bytes' },
} satisfies Options;

export const command: Command = {
  summary: 'synthetic long-context eval (passkey, multi-key NIAH, variable tracking) of a checkpoint',
  usage: 'anchor-oracle eval-long --checkpoint DIR|RUN_DIR [--lengths 512,1024,2048] [--samples N] [--seed S] [--tasks passkey,multikey,vartrack] [--precision f32|bf16|f64] [--tokenizer DIR]',
  options: O,
  examples: [
    'anchor-oracle eval-long --checkpoint out/train-tiny --lengths 256,512',
    'anchor-oracle eval-long --checkpoint out/train-tiny/step-000200 --tasks passkey --samples 16 --precision bf16',
  ],
  async run(v) {
    if (!v.checkpoint) throw new UsageError('--checkpoint DIR is required');
    const lengths = intListOption(v.lengths, 'lengths', O.lengths.default, 32);
    const tasks = listOption<Task>(v.tasks, 'tasks', TASKS, TASKS);
    const prec = enumOption<Precision>(v.precision, 'precision', PRECISIONS, O.precision.default);
    const n = intOption(v.samples, 'samples', O.samples.default, 1);
    const seed = intOption(v.seed, 'seed', O.seed.default, 0);
    // a run folder (latest.json) resolves to its newest step folder; the config is checked
    // against the machine's memory, for the weights and the longest forward, before loading
    const dir = resolveCheckpointDir(v.checkpoint as string);
    checkForwardFits(readCheckedConfig(dir, EVAL_BYTES_PER_PARAM), Math.max(...lengths), `eval-long --lengths ${Math.max(...lengths)}`);
    const tok = getTokenizer(v.tokenizer as string | undefined);
    const model = roundModel(loadModelChecked(dir, 'checkpoint'), prec);
    if (model.config.vocabSize < tok.vocabSize) throw new OpError('BAD_ARGS', `the checkpoint's vocab_size ${model.config.vocabSize} is smaller than the tokenizer's ${tok.vocabSize}: give the --tokenizer it was trained with`);
    const progress = new Progress('eval-long', tasks.length * lengths.length * n);
    let done = 0;
    const rows: string[] = [];
    for (const task of tasks)
      for (const L of lengths) {
        let correct = 0;
        for (let i = 0; i < n; i++) {
          const s = makeSample(task, L, seed * 1000 + i, tok);
          const f = modelForward(model, s.ids, { precision: prec, keepActivations: false });
          if (scoreSample(s, f.logits, f.V)) correct++;
          progress.update(++done);
        }
        rows.push(JSON.stringify({ task, length: L, samples: n, accuracy: correct / n }));
        console.log(`${task.padEnd(9)} L=${String(L).padStart(6)}  accuracy ${(correct / n).toFixed(3)} (${correct}/${n})`);
      }
    return 0;
  },
};

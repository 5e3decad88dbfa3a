// Training presets: named model + options bundles the CLI, the report, the experiments and the
// benches start from.

import { ByteTokenizer } from '../data/tokenizer.ts';
import { parseConfig } from '../reference/model/config.ts';
import { defaultTrainOptions, type TrainOptions } from './trainer.ts';

/** the tiny preset: a 2-layer LLaMA over the byte tokenizer (vocab 267) */
export function tinyPreset(out: string): TrainOptions {
  const tok = new ByteTokenizer();
  const model = parseConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: tok.vocabSize,
    hidden_size: 64,
    intermediate_size: 176,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 4096,
    rope_parameters: { rope_theta: 10000, rope_type: 'default' },
    bos_token_id: tok.bos,
    eos_token_id: tok.eos,
    pad_token_id: tok.pad,
  });
  return { ...defaultTrainOptions(model, out), L: 128, steps: 200, lr: 3e-3, warmup: 10, checkpointEvery: 50, bos: tok.bos, tag: tok.tag(0) };
}

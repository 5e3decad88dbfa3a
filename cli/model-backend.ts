// --backend reference|webasm|cpu, --threads N and --attention eager|flash for the model commands
// (train, drift): the model's compute backend, reference loops by default or generated kernels
// (kernels/model-backend.ts), the threads its matmuls split over, and the bf16 attention path.
import { enumOption, intOption, UsageError } from './main.ts';
import { setBackend } from '../reference/model/backend.ts';
import { MODEL_BACKENDS, modelBackendByName } from '../kernels/model-backend.ts';
import { defaultModelThreads } from '../kernels/kernel-pool.ts';

/** the --backend option of the model commands */
export const BACKEND = { type: 'string', placeholder: 'reference|webasm|cpu', description: "the model's compute backend: the reference loops, or generated gpu.js kernels", default: 'reference' } as const;
/** the --threads option of the model commands */
export const THREADS = { type: 'string', placeholder: 'N', description: 'with --backend webasm|cpu: threads the matmuls split over (1 to 64; the results are the same)', default: 'the usable cores, at most 8' } as const;

const ATTENTIONS = ['eager', 'flash'] as const;
/** the --attention option of the model commands (the bf16 attention path) */
export const ATTENTION = {
  type: 'string',
  placeholder: ATTENTIONS.join('|'),
  description: 'bf16 attention: eager (transformers eager: bf16 logits and P) or flash (f32 logits, bf16 P; on the kernels with --backend webasm|cpu)',
  default: 'eager',
} as const;
/** --attention as the policy's bf16 attention path */
export function bf16AttentionOption(v: string | boolean | undefined): 'bf16_eager' | 'bf16_flash' {
  return enumOption(v, 'attention', ATTENTIONS, ATTENTION.default) === 'flash' ? 'bf16_flash' : 'bf16_eager';
}

export function useModelBackend(name: string | undefined, threadsArg?: string | boolean): void {
  if (name !== undefined && !(MODEL_BACKENDS as readonly string[]).includes(name)) throw new UsageError(`--backend must be one of ${MODEL_BACKENDS.join(', ')}, got ${JSON.stringify(name)}`);
  const threads = intOption(threadsArg, 'threads', defaultModelThreads(), 1);
  if (threads > 64) throw new UsageError(`--threads must be ≤ 64, got ${threads}`);
  setBackend(modelBackendByName(name, threads));
}

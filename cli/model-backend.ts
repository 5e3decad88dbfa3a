// --backend reference|webasm|cpu and --threads N for the model commands (train, drift): the
// model's compute backend, reference loops by default or generated kernels
// (kernels/model-backend.ts), and the threads its matmuls split over.
import { intOption, UsageError } from './main.ts';
import { setBackend } from '../reference/model/backend.ts';
import { MODEL_BACKENDS, modelBackendByName } from '../kernels/model-backend.ts';
import { defaultModelThreads } from '../kernels/kernel-pool.ts';

/** the --backend option of the model commands */
export const BACKEND = { type: 'string', placeholder: 'reference|webasm|cpu', description: "the model's compute backend: the reference loops, or generated gpu.js kernels", default: 'reference' } as const;
/** the --threads option of the model commands */
export const THREADS = { type: 'string', placeholder: 'N', description: 'with --backend webasm|cpu: threads the matmuls split over (1 to 64; the results are the same)', default: 'the usable cores, at most 8' } as const;

export function useModelBackend(name: string | undefined, threadsArg?: string | boolean): void {
  if (name !== undefined && !(MODEL_BACKENDS as readonly string[]).includes(name)) throw new UsageError(`--backend must be one of ${MODEL_BACKENDS.join(', ')}, got ${JSON.stringify(name)}`);
  const threads = intOption(threadsArg, 'threads', defaultModelThreads(), 1);
  if (threads > 64) throw new UsageError(`--threads must be ≤ 64, got ${threads}`);
  setBackend(modelBackendByName(name, threads));
}

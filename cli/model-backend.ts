// --backend reference|webasm|cpu for the model commands (train, drift): the model's
// compute backend, reference loops by default or generated kernels (kernels/model-backend.ts).
import { UsageError } from './main.ts';
import { setBackend } from '../reference/model/backend.ts';
import { MODEL_BACKENDS, modelBackendByName } from '../kernels/model-backend.ts';

export function useModelBackend(name: string | undefined): void {
  if (name !== undefined && !(MODEL_BACKENDS as readonly string[]).includes(name)) throw new UsageError(`--backend must be one of ${MODEL_BACKENDS.join(', ')}, got ${JSON.stringify(name)}`);
  setBackend(modelBackendByName(name));
}

// Starting a worker thread whose body is a module beside the caller: from the TypeScript sources
// the worker registers tsx first (io/ts-worker.mjs), compiled (npm run build) it is plain JS.
import { Worker } from 'node:worker_threads';

/**
 * A worker running the module `name` (no extension) next to the module at `callerUrl` (its
 * import.meta.url), with `workerData`; `.ts` when the caller runs from the sources, else `.js`.
 */
export function startWorker(callerUrl: string, name: string, workerData: Record<string, unknown> = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`${name}.js`, callerUrl), { workerData });
  return new Worker(new URL('./ts-worker.mjs', import.meta.url), { workerData: { ...workerData, entry: new URL(`${name}.ts`, callerUrl).href } });
}

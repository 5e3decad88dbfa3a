// Worker-thread bootstrap: registers tsx so a TypeScript module can be the worker body.
// io/worker.ts startWorker uses it when the caller runs from the sources (workerData.entry: the module)
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);

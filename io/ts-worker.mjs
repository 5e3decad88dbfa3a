// Worker-thread bootstrap: registers tsx so a TypeScript module can be the worker body.
// new Worker(new URL('../io/ts-worker.mjs', import.meta.url), { workerData: { entry: fileUrl, ... } })
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);

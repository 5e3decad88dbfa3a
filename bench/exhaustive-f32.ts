// npm run exhaustive: every one of the 2^32 float32 bit patterns through the fast bulk
// f32 → bf16 path (reference/bf16.ts bulkFromF32, the bias trick), compared with an
// independent formulation (truncate, then compare the dropped half with the tie), on all
// cores via worker threads. Prints mismatches (first 10) and the time.
//   npm run exhaustive [-- --workers N]

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { bulkFromF32 } from '../reference/bf16.ts';
import { Progress } from '../io/progress.ts';
import { startWorker } from '../io/worker.ts';
import { checkBlock, independent } from './exhaustive-check.ts';

const CHUNK = 1 << 16; // one block of equal top halves; the buffers stay in cache

function checkRange(start: number, end: number, report: (done: number) => void): { mismatches: number; first: string[] } {
  const u = new Int32Array(CHUNK); // int32 views keep V8 on small integers (uint32 above 2^31 would be doubles)
  const f = new Float32Array(u.buffer);
  const out = new Uint16Array(CHUNK);
  let mismatches = 0;
  const first: string[] = [];
  for (let base = start; base < end; base += CHUNK) {
    const b = base | 0;
    for (let i = 0; i < CHUNK; i++) u[i] = (b + i) | 0;
    bulkFromF32(f, out);
    for (let blk = 0; blk < CHUNK; blk += 0x10000) {
      const bad = checkBlock((base + blk) >>> 16, out, blk);
      if (bad) {
        mismatches += bad;
        for (let lo = 0; lo < 0x10000 && first.length < 10; lo++) {
          const x = (base + blk + lo) >>> 0;
          if (out[blk + lo] !== independent(x)) first.push(`0x${x.toString(16).padStart(8, '0')}: fast 0x${out[blk + lo].toString(16)} independent 0x${independent(x).toString(16)}`);
        }
      }
    }
    if (((base + CHUNK) & 0xffffff) === 0) report(base + CHUNK - start); // every 2^24 inputs
  }
  return { mismatches, first };
}

if (!isMainThread) {
  const { start, end } = workerData as { start: number; end: number };
  let last = 0;
  const result = checkRange(start, end, (done) => {
    parentPort!.postMessage({ progress: done - last });
    last = done;
  });
  parentPort!.postMessage({ result });
} else {
  const argIdx = process.argv.indexOf('--workers');
  const workers = argIdx > 0 ? Number(process.argv[argIdx + 1]) : Math.max(1, availableParallelism());
  const total = 2 ** 32;
  const started = performance.now();
  const progress = new Progress('exhaustive f32→bf16', total);
  let done = 0;
  const per = Math.ceil(total / workers / CHUNK) * CHUNK;
  const results = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const start = w * per;
      const end = Math.min(total, start + per);
      return new Promise<{ mismatches: number; first: string[] }>((resolve, reject) => {
        const worker = startWorker(import.meta.url, './exhaustive-f32', { start, end });
        worker.on('message', (m) => {
          if (m.progress) progress.update((done += m.progress));
          if (m.result) resolve(m.result);
        });
        worker.on('error', reject);
      });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const mismatches = results.reduce((a, r) => a + r.mismatches, 0);
  for (const line of results.flatMap((r) => r.first).slice(0, 10)) console.log(line);
  console.log(`exhaustive f32→bf16: ${total} inputs, ${mismatches} mismatches, ${seconds.toFixed(1)} s on ${workers} worker threads`);
  process.exitCode = mismatches ? 1 : 0;
}

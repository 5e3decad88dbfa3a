// npm run exhaustive: every one of the 2^32 float32 bit patterns through the fast bulk
// f32 → bf16 path (reference/bf16.ts bulkFromF32, the bias trick), compared with an
// independent formulation (truncate, then compare the dropped half with the tie), on all
// cores via worker threads. Prints mismatches (first 10) and the time.
//   npm run exhaustive [-- --workers N]

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { bulkFromF32 } from '../reference/bf16.ts';
import { Progress } from '../cli/progress.ts';

const CHUNK = 1 << 20;

/** the independent formulation: keep the top half, round up when the dropped half exceeds the tie or ties to odd */
function independent(u: number): number {
  const hi = u >>> 16;
  const lo = u & 0xffff;
  if ((hi & 0x7f80) === 0x7f80 && (u & 0x7fffff) !== 0) return hi | 0x40; // NaN: quieted, sign and top payload kept
  return lo > 0x8000 || (lo === 0x8000 && (hi & 1) === 1) ? hi + 1 : hi;
}

function checkRange(start: number, end: number, report: (done: number) => void): { mismatches: number; first: string[] } {
  const u = new Uint32Array(CHUNK);
  const f = new Float32Array(u.buffer);
  const out = new Uint16Array(CHUNK);
  let mismatches = 0;
  const first: string[] = [];
  for (let base = start; base < end; base += CHUNK) {
    const n = Math.min(CHUNK, end - base);
    for (let i = 0; i < n; i++) u[i] = base + i;
    bulkFromF32(n === CHUNK ? f : f.subarray(0, n), n === CHUNK ? out : out.subarray(0, n));
    for (let i = 0; i < n; i++) {
      // the independent formulation, inlined for speed (same as independent() below)
      const x = base + i;
      const hi = x >>> 16;
      const lo = x & 0xffff;
      const want = (hi & 0x7f80) === 0x7f80 && (x & 0x7fffff) !== 0 ? hi | 0x40 : lo > 0x8000 || (lo === 0x8000 && (hi & 1) === 1) ? hi + 1 : hi;
      if (out[i] !== want) {
        mismatches++;
        if (first.length < 10) first.push(`0x${x.toString(16).padStart(8, '0')}: fast 0x${out[i].toString(16)} independent 0x${independent(x).toString(16)}`);
      }
    }
    report(base + n - start);
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
        const worker = new Worker(new URL('../io/ts-worker.mjs', import.meta.url), { workerData: { entry: import.meta.url, start, end } });
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

// A worker thread of the pool (ops/pool.ts): evaluates or checks the cases it is handed.
import { parentPort } from 'node:worker_threads';
import './index.ts';
import { runOp } from './registry.ts';
import { errorOf } from './cases.ts';
import { checkCase } from './verify.ts';
import { computeRows, type RowsPart } from './rows.ts';
import type { Tensor } from '../io/tensor.ts';
import type { Answer, Task } from './pool.ts';

parentPort!.on('message', ({ seq, task }: { seq: number; task: Task }) => {
  let answer: Answer;
  try {
    if (task.kind === 'eval') {
      try {
        answer = { id: task.c.id, out: runOp(task.c.op, task.c.args, task.c.in) };
      } catch (e) {
        answer = { id: task.c.id, error: errorOf(e) };
      }
      const transfer = 'out' in answer ? Object.values(answer.out).map((t) => t.data.buffer).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer) : [];
      parentPort!.postMessage({ seq, answer }, [...new Set(transfer)]);
      return;
    }
    if (task.kind === 'rows') {
      const { c, positions, rows } = task;
      let part: RowsPart;
      try {
        part = computeRows(c, positions, rows, task.evidence, task.axisLength);
      } catch (e) {
        parentPort!.postMessage({ seq, answer: { error: errorOf(e) } });
        return;
      }
      const buffers = [...Object.values(part.expected), ...Object.values(part.evidence)].map((t: Tensor) => t.data.buffer).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
      parentPort!.postMessage({ seq, answer: part }, [...new Set(buffers)]);
      return;
    }
    answer = checkCase(task.c, task.label, task.res, task.opts);
    parentPort!.postMessage({ seq, answer });
  } catch (e) {
    parentPort!.postMessage({ seq, crash: (e as Error)?.stack ?? String(e) });
  }
});

// Every op under hostile lines mixed with valid ones (seeded): one result line per case line in
// order, no INTERNAL, valid lines' results equal to a clean run. `npm run fuzz` runs longer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BREAKER_COUNT } from '../bench/fuzz-lines.ts';
import { fuzzEval } from '../bench/fuzz-run.ts';

test(`eval keeps its promises on 600 mixed lines of every op (${BREAKER_COUNT} ways to break a line), one and two jobs`, () => {
  for (const [seed, jobs] of [[1, 1], [2, 2]]) {
    const r = fuzzEval(seed, 300, 3, jobs);
    console.log(`fuzz seed ${seed}, --jobs ${jobs}: ${r.lines} lines (${r.hostile} hostile), ${r.failures.length} failures`);
    assert.equal(r.failures, [], r.failures.slice(0, 10).join('\n'));
  }
});

test.run();

// npm run fuzz [-- SEEDS LINES]: the fuzz test at length (default 20 seeds × 2000 lines).
import { fuzzEval } from './fuzz-run.ts';

const seeds = Number(process.argv[2] ?? 20);
const count = Number(process.argv[3] ?? 2000);
let lines = 0;
let failures = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const r = fuzzEval(1000 + seed, count, 6, seed % 2 ? 1 : 2);
  lines += r.lines;
  failures += r.failures.length;
  console.log(`seed ${1000 + seed}: ${r.lines} lines, ${r.hostile} hostile, ${r.failures.length} failures`);
  for (const f of r.failures.slice(0, 5)) console.log(`  ${f}`);
}
console.log(`fuzz: ${lines} lines tried, ${failures} failures`);
process.exitCode = failures ? 1 : 0;

// The Python helper (python/anchor_oracle.py) and its example, through python/test_anchor_oracle.py:
// run with pytest when it is importable, else as a plain script, and reported one uvu test per
// Python test. Skipped, with the reason printed, when python3 cannot import numpy.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const python = process.env.PYTHON || 'python3';
const file = join('python', 'test_anchor_oracle.py');
const py = (args: string[], timeout = 30_000) =>
  spawnSync(python, args, {
    cwd: root,
    encoding: 'utf8',
    timeout,
    // the same node runs the CLI; no __pycache__ or .pytest_cache in the tree
    env: { ...process.env, NODE: process.execPath, PYTHONDONTWRITEBYTECODE: '1' },
  });

const probe = py(['-c', 'import numpy']);
if (probe.status !== 0) {
  const why = probe.error ? `${python} could not be run (${(probe.error as NodeJS.ErrnoException).code})` : `${python} cannot import numpy`;
  console.log(`skipped the Python tests: ${why} (.ci/system-deps installs python3-numpy)`);
  test.skip(`python/test_anchor_oracle.py: ${why}`, () => {});
} else {
  const pytest = py(['-c', 'import pytest']).status === 0;
  const r = py(pytest ? ['-m', 'pytest', '-v', '--color=no', '-p', 'no:cacheprovider', file] : [file], 300_000);
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '');
  // pytest -v: "python/test_anchor_oracle.py::test_x PASSED"; the plain runner: "ok    test_x"
  const line = pytest ? /::(test_\w+) (PASSED|FAILED|SKIPPED|ERROR)/g : /^(ok|FAIL|skip)\s+(test_\w+)/gm;
  const outcomes = [...output.matchAll(line)].map((m) => (pytest ? { name: m[1], status: m[2] } : { name: m[2], status: m[1] }));
  const runner = pytest ? 'pytest' : 'plain runner';
  if (outcomes.some((o) => /FAIL|ERROR/.test(o.status)) || r.status !== 0) console.log(output);
  for (const { name, status } of outcomes) {
    const label = `python ${name} (${runner})`;
    if (/SKIP|skip/.test(status)) test.skip(label, () => {});
    else
      test(label, () => {
        assert.ok(status === 'PASSED' || status === 'ok', `${name}: ${status}; the Python output is printed above`);
      });
  }
  test(`python tests ran to the end (${runner})`, () => {
    assert.ok(outcomes.length > 0, `no test results in the output of ${python} ${file}:\n${output.slice(-4000)}`);
    const failed = outcomes.some((o) => /FAIL|ERROR/.test(o.status));
    assert.ok(failed || r.status === 0, `exit status ${r.status}${r.signal ? ` (${r.signal})` : ''} with no failed test:\n${output.slice(-4000)}`);
  });
}

test.run();

// reference/norms.ts relativeL2: the metric the kernel Backend's gradient and update checks and
// the model bench use, on arrays and on maps of arrays taken together.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { relativeL2 } from '../reference/norms.ts';

test('relativeL2 is ‖got − want‖ / ‖want‖ over an array, and over a map of arrays together', () => {
  assert.is(relativeL2([1, 2], [1, 2]), 0);
  assert.is(relativeL2([0, 0], [3, 4]), 1);
  assert.is(relativeL2(Float32Array.of(3, 4 + 5), Float64Array.of(3, 4)), 1);
  // a map is one vector: ‖(3, 4)‖ = 5, the difference (0, 5) has norm 5
  const want = new Map([['a', [3]], ['b', [4]]]);
  assert.is(relativeL2(new Map([['b', [9]], ['a', [3]]]), want), 1);
  assert.ok(Number.isNaN(relativeL2([0], [0])));
  assert.is(relativeL2([1], [0]), Infinity);
});

test('relativeL2 refuses mismatched shapes and missing names', () => {
  assert.throws(() => relativeL2([1, 2], [1]), /2 values against 1/);
  assert.throws(() => relativeL2(new Map([['a', [1]]]), new Map([['b', [1]]])), /got has no b/);
  assert.throws(() => relativeL2([1], new Map([['a', [1]]])), /want is a map/);
});

test.run();

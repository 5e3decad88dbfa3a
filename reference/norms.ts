// The relative L2 difference ‖got − want‖₂ / ‖want‖₂: how the model Backend's gradients,
// training updates and bench checks compare a kernel result with the reference's (SPEC.md,
// "Kernels"). Over one array, or over every array of a map taken together (a model's gradients
// or parameters, by name: want's names, each required in got).

type Arrays = ArrayLike<number> | Map<string, ArrayLike<number>>;

/** ‖got − want‖₂ / ‖want‖₂ (NaN when want is all zeros and got equals it; Infinity when only got is nonzero) */
export function relativeL2(got: Arrays, want: Arrays): number {
  const pairs: [ArrayLike<number>, ArrayLike<number>][] = [];
  if (want instanceof Map) {
    if (!(got instanceof Map)) throw new TypeError('relativeL2: want is a map of arrays, got is not');
    for (const [name, w] of want) {
      const g = got.get(name);
      if (!g) throw new RangeError(`relativeL2: got has no ${name}`);
      pairs.push([g, w]);
    }
  } else {
    if (got instanceof Map) throw new TypeError('relativeL2: got is a map of arrays, want is not');
    pairs.push([got, want]);
  }
  let num = 0, den = 0;
  for (const [g, w] of pairs) {
    if (g.length !== w.length) throw new RangeError(`relativeL2: ${g.length} values against ${w.length}`);
    for (let i = 0; i < w.length; i++) {
      num += (g[i] - w[i]) ** 2;
      den += w[i] ** 2;
    }
  }
  return Math.sqrt(num / den);
}

// The WebAssembly binary of a module codegen/simd.ts wrote, assembled from its flat text:
// one imported memory, one exported function, one instruction per line. Only the
// instructions the SIMD lowering emits are known; anything else is an error naming the line.
// test/simd.test.ts checks the bytes against wabt's assembler (an independent one).

const TYPES: Record<string, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** [opcode bytes, immediate kind, natural alignment (log2) for memory ops] */
type Imm = 'none' | 'block' | 'label' | 'local' | 'i32' | 'f32' | 'mem' | 'lane' | 'shuffle' | 'v128';
const simd = (n: number): number[] => [0xfd, ...uleb(n)];
const OPS: Record<string, [number[], Imm, number?]> = {
  block: [[0x02], 'block'],
  loop: [[0x03], 'block'],
  if: [[0x04], 'block'],
  else: [[0x05], 'none'],
  end: [[0x0b], 'none'],
  br: [[0x0c], 'label'],
  br_if: [[0x0d], 'label'],
  select: [[0x1b], 'none'],
  'local.get': [[0x20], 'local'],
  'local.set': [[0x21], 'local'],
  'local.tee': [[0x22], 'local'],
  'f32.load': [[0x2a], 'mem', 2],
  'f32.store': [[0x38], 'mem', 2],
  'i32.const': [[0x41], 'i32'],
  'f32.const': [[0x43], 'f32'],
  'i32.eqz': [[0x45], 'none'],
  'i32.eq': [[0x46], 'none'],
  'i32.ne': [[0x47], 'none'],
  'i32.lt_s': [[0x48], 'none'],
  'i32.gt_s': [[0x4a], 'none'],
  'i32.le_s': [[0x4c], 'none'],
  'i32.ge_s': [[0x4e], 'none'],
  'f32.eq': [[0x5b], 'none'],
  'f32.ne': [[0x5c], 'none'],
  'f32.lt': [[0x5d], 'none'],
  'f32.gt': [[0x5e], 'none'],
  'f32.le': [[0x5f], 'none'],
  'f32.ge': [[0x60], 'none'],
  'i32.add': [[0x6a], 'none'],
  'i32.sub': [[0x6b], 'none'],
  'i32.mul': [[0x6c], 'none'],
  'i32.rem_s': [[0x6f], 'none'],
  'i32.and': [[0x71], 'none'],
  'i32.shl': [[0x74], 'none'],
  'i32.shr_u': [[0x76], 'none'],
  'f32.abs': [[0x8b], 'none'],
  'f32.neg': [[0x8c], 'none'],
  'f32.floor': [[0x8e], 'none'],
  'f32.sqrt': [[0x91], 'none'],
  'f32.add': [[0x92], 'none'],
  'f32.sub': [[0x93], 'none'],
  'f32.mul': [[0x94], 'none'],
  'f32.div': [[0x95], 'none'],
  'f32.min': [[0x96], 'none'],
  'f32.max': [[0x97], 'none'],
  'i32.trunc_f32_s': [[0xa8], 'none'],
  'f32.convert_i32_s': [[0xb2], 'none'],
  'i32.reinterpret_f32': [[0xbc], 'none'],
  'f32.reinterpret_i32': [[0xbe], 'none'],
  'v128.load': [simd(0), 'mem', 4],
  'v128.load32_splat': [simd(9), 'mem', 2],
  'v128.store': [simd(11), 'mem', 4],
  'v128.const': [simd(12), 'v128'],
  'i8x16.shuffle': [simd(13), 'shuffle'],
  'i32x4.splat': [simd(17), 'none'],
  'f32x4.splat': [simd(19), 'none'],
  'f32x4.extract_lane': [simd(31), 'lane'],
  'f32x4.eq': [simd(65), 'none'],
  'f32x4.ne': [simd(66), 'none'],
  'f32x4.lt': [simd(67), 'none'],
  'f32x4.gt': [simd(68), 'none'],
  'f32x4.le': [simd(69), 'none'],
  'f32x4.ge': [simd(70), 'none'],
  'v128.not': [simd(77), 'none'],
  'v128.or': [simd(80), 'none'],
  'i32x4.extract_lane': [simd(27), 'lane'],
  'f32x4.replace_lane': [simd(32), 'lane'],
  'i32x4.eq': [simd(55), 'none'],
  'i32x4.ne': [simd(56), 'none'],
  'i32x4.lt_s': [simd(57), 'none'],
  'i32x4.gt_s': [simd(59), 'none'],
  'i32x4.le_s': [simd(61), 'none'],
  'i32x4.ge_s': [simd(63), 'none'],
  'f32x4.floor': [simd(104), 'none'],
  'f32x4.trunc': [simd(105), 'none'],
  'i32x4.neg': [simd(161), 'none'],
  'i32x4.shl': [simd(171), 'none'],
  'i32x4.sub': [simd(177), 'none'],
  'i32x4.mul': [simd(181), 'none'],
  'i32x4.min_s': [simd(182), 'none'],
  'i32x4.max_s': [simd(184), 'none'],
  'i32x4.trunc_sat_f32x4_s': [simd(248), 'none'],
  'v128.and': [simd(78), 'none'],
  'v128.any_true': [simd(83), 'none'],
  'v128.bitselect': [simd(82), 'none'],
  'i32x4.shr_u': [simd(173), 'none'],
  'i32x4.add': [simd(174), 'none'],
  'f32x4.abs': [simd(224), 'none'],
  'f32x4.neg': [simd(225), 'none'],
  'f32x4.sqrt': [simd(227), 'none'],
  'f32x4.add': [simd(228), 'none'],
  'f32x4.sub': [simd(229), 'none'],
  'f32x4.mul': [simd(230), 'none'],
  'f32x4.div': [simd(231), 'none'],
  'f32x4.min': [simd(232), 'none'],
  'f32x4.max': [simd(233), 'none'],
  'f32x4.convert_i32x4_s': [simd(250), 'none'],
};

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}
function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return out.push(b), out;
    out.push(b | 0x80);
  }
}
const name = (s: string): number[] => [...uleb(s.length), ...new TextEncoder().encode(s)];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];

/** the float32 value of a literal as codegen/simd.ts writes it (hex float, nan, inf) */
function f32Bytes(t: string): number[] {
  let v: number;
  const m = /^(-?)0x([0-9a-f]+)(?:\.([0-9a-f]*))?p([+-]?\d+)$/i.exec(t);
  if (t === 'nan') v = NaN;
  else if (t === 'inf' || t === '-inf') v = t[0] === '-' ? -Infinity : Infinity;
  else if (m) {
    const frac = m[3] ?? '';
    v = parseInt(m[2] + frac, 16) * 2 ** (Number(m[4]) - 4 * frac.length) * (m[1] ? -1 : 1);
    if (m[1] && v === 0) v = -0;
  } else throw new Error(`f32.const ${t}: not a hex float`);
  if (Math.fround(v) !== v && !Number.isNaN(v)) throw new Error(`f32.const ${t} is not a float32 value`);
  return [...new Uint8Array(Float32Array.of(v).buffer)];
}

/** assemble the text of one codegen/simd.ts module */
export function assembleSimd(wat: string): Uint8Array {
  const lines = wat.split('\n').map((l) => l.replace(/;;.*$/, '').trim()).filter(Boolean);
  const head = lines.find((l) => l.startsWith('(func '));
  if (!head) throw new Error('no (func …) line');
  const params = [...head.matchAll(/\(param (\$[\w.]+) (\w+)\)/g)].map((m) => ({ name: m[1], type: m[2] }));
  const exportName = /\(export "(\w+)"\)/.exec(head)?.[1] ?? 'kernel';
  const locals: { name: string; type: string }[] = [];
  const body: string[] = [];
  for (const l of lines.slice(lines.indexOf(head) + 1)) {
    if (l === ')') break;
    for (const m of l.matchAll(/\(local (\$[\w.]+) (\w+)\)/g)) locals.push({ name: m[1], type: m[2] });
    if (!l.startsWith('(local')) body.push(l);
  }
  const index = new Map([...params, ...locals].map((x, i) => [x.name, i]));
  const code: number[] = [];
  const labels: (string | null)[] = [];
  for (const line of body) {
    const [op, ...args] = line.split(/\s+/);
    const spec = OPS[op];
    if (!spec) throw new Error(`unknown instruction: ${line}`);
    const [bytes, imm, align] = spec;
    code.push(...bytes);
    const bad = (): never => {
      throw new Error(`bad operands: ${line}`);
    };
    switch (imm) {
      case 'none':
        if (op === 'end') labels.pop();
        break;
      case 'block': {
        const label = args[0]?.startsWith('$') ? args.shift()! : null;
        labels.push(label);
        const rest = args.join(' ');
        if (!rest) code.push(0x40);
        else code.push(TYPES[/^\(result (\w+)\)$/.exec(rest)?.[1] ?? ''] ?? bad());
        break;
      }
      case 'label': {
        const d = labels.lastIndexOf(args[0]);
        if (d < 0) bad();
        code.push(...uleb(labels.length - 1 - d));
        break;
      }
      case 'local':
        code.push(...uleb(index.get(args[0]) ?? bad()));
        break;
      case 'i32':
        code.push(...sleb(Number(args[0])));
        break;
      case 'f32':
        code.push(...f32Bytes(args[0]));
        break;
      case 'mem': {
        const kv = Object.fromEntries(args.map((a) => a.split('=')));
        const al = kv.align ? Math.log2(Number(kv.align)) : align!;
        code.push(...uleb(al), ...uleb(Number(kv.offset ?? 0)));
        break;
      }
      case 'lane':
        code.push(Number(args[0]));
        break;
      case 'shuffle':
        if (args.length !== 16) bad();
        code.push(...args.map(Number));
        break;
      case 'v128': {
        if (args[0] !== 'i32x4' || args.length !== 5) bad();
        for (const a of args.slice(1)) code.push(...new Uint8Array(Int32Array.of(Number(a) | 0).buffer));
        break;
      }
    }
  }
  // locals in runs of one type
  const runs: [number, number][] = [];
  for (const l of locals) {
    const t = TYPES[l.type];
    if (runs.length && runs[runs.length - 1][1] === t) runs[runs.length - 1][0]++;
    else runs.push([1, t]);
  }
  const fnBody = [...vec(runs.map(([n, t]) => [...uleb(n), t])), ...code, 0x0b];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(params.map((p) => [TYPES[p.type]])), 0]])),
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x00, 0x01]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name(exportName), 0x00, 0]])),
    ...section(10, vec([[...uleb(fnBody.length), ...fnBody]])),
  ];
  return Uint8Array.from(bytes);
}

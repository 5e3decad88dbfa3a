// io/json-stream.ts, the streaming JSON Lines reader, against JSON.parse: generated JSON texts
// (unicode, escapes, lone surrogates, number spellings, duplicate and "__proto__" keys,
// whitespace, CRLF, blank lines, BOM), lines far longer than its 1 MiB read chunks with every
// kind of token cut by a chunk boundary, tensors' "b64" strings (decoded as read, checked
// against Buffer.from), malformed lines (one error each, the next line fine), the memory
// budget, skim, re-reading one line by offset, and the speed of a 64 MiB tensor.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { OpError } from '../io/errors.ts';
import { Base64Bytes, jsonLines, MAX_DEPTH, type JsonLine, type ReadOptions } from '../io/json-stream.ts';

const CHUNK = 1 << 20; // the reader's chunk size
const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'json-stream-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

/** write the content to a file and run `use` on it open */
function withFile<T>(content: string | Uint8Array, use: (fd: number) => T): T {
  const path = join(dir, `f${fileNo++ % 8}.jsonl`);
  writeFileSync(path, content);
  const fd = openSync(path, 'r');
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}
const read = (content: string | Uint8Array, opts?: ReadOptions & { seekable?: boolean }): JsonLine[] => withFile(content, (fd) => [...jsonLines(fd, opts)]);

const viewBytes = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
/** where two parsed values differ (undefined: the same, -0, key order, own "__proto__" and prototypes included) */
function diff(got: unknown, want: unknown, path = '$'): string | undefined {
  const show = (v: unknown) => (Object.is(v, -0) ? '-0' : typeof v === 'object' && v ? (Array.isArray(v) ? 'an array' : 'an object') : JSON.stringify(v));
  if (typeof want !== 'object' || want === null || typeof got !== 'object' || got === null) return Object.is(got, want) ? undefined : `${path}: got ${show(got)}, want ${show(want)}`;
  if (ArrayBuffer.isView(want)) return ArrayBuffer.isView(got) && Buffer.compare(viewBytes(got), viewBytes(want)) === 0 ? undefined : `${path}: bytes differ`;
  if (Array.isArray(got) !== Array.isArray(want) || Object.getPrototypeOf(got) !== Object.getPrototypeOf(want)) return `${path}: got ${show(got)}, want ${show(want)}`;
  const gk = Reflect.ownKeys(got);
  const wk = Reflect.ownKeys(want);
  if (gk.join('\0') !== wk.join('\0')) return `${path}: keys ${JSON.stringify(gk)}, want ${JSON.stringify(wk)}`;
  for (const k of wk) {
    if (Array.isArray(want) && k === 'length') continue;
    const g = Object.getOwnPropertyDescriptor(got, k)!;
    if (!('value' in g) || !g.writable || !g.enumerable || !g.configurable) return `${path}[${String(k)}]: not a plain data property`;
    const d = diff(g.value, (want as Record<string | symbol, unknown>)[k], `${path}[${JSON.stringify(k)}]`);
    if (d) return d;
  }
  return undefined;
}

interface Want {
  lineNo: number;
  offset: number;
  value?: unknown;
  bad: boolean;
}
/** JSON.parse's value with each tensor's b64 string as jsonLines gives it (valid base64 of the size dtype and shape say) */
function withTensors(v: unknown, skim: boolean): unknown {
  if (typeof v !== 'object' || v === null) return v;
  for (const [k, x] of Object.entries(v)) {
    if (k === 'b64' && typeof x === 'string' && !Array.isArray(v)) {
      const bytes = Buffer.from(x, 'base64');
      (v as Record<string, unknown>).b64 = new Base64Bytes(skim ? undefined : new Uint8Array(bytes), bytes.length);
    } else withTensors(x, skim);
  }
  return v;
}

/** the lines JSON.parse makes of the bytes: split at LF, BOM and blank lines skipped */
function wanted(bytes: Buffer, skim = false): Want[] {
  const out: Want[] = [];
  let pos = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (let lineNo = 1; pos < bytes.length; lineNo++) {
    let nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) nl = bytes.length;
    const text = bytes.toString('utf8', pos, nl);
    if (!/^[ \t\r]*$/.test(text)) {
      try {
        out.push({ lineNo, offset: pos, value: withTensors(JSON.parse(text), skim), bad: false });
      } catch {
        out.push({ lineNo, offset: pos, bad: true });
      }
    }
    pos = nl + 1;
  }
  return out;
}

/** read the content and compare every line with JSON.parse; each line re-read alone at its offset is the same */
function check(content: string | Uint8Array, opts: ReadOptions = {}): JsonLine[] {
  const bytes = Buffer.from(content);
  const want = wanted(bytes, opts.skim);
  return withFile(bytes, (fd) => {
    const got = [...jsonLines(fd, opts)];
    assert.is(got.length, want.length, 'number of lines');
    got.forEach((g, k) => {
      const w = want[k];
      assert.is(g.lineNo, w.lineNo, 'lineNo');
      assert.is(g.offset, w.offset, `offset of line ${w.lineNo}`);
      if (w.bad) assert.ok(g.error instanceof OpError, `line ${w.lineNo}: JSON.parse refuses it, jsonLines gave a value`);
      else {
        assert.is(g.error, undefined, `line ${w.lineNo}: ${g.error?.message}`);
        const d = diff(g.value, w.value);
        if (d) assert.unreachable(`line ${w.lineNo}: ${d}`);
      }
      const again = [...jsonLines(fd, { ...opts, start: g.offset, maxLines: 1, firstLineNo: g.lineNo })];
      assert.is(again.length, 1);
      assert.is(again[0].lineNo, g.lineNo);
      assert.is(again[0].offset, g.offset, 're-read offset');
      assert.is(again[0].error?.message, g.error?.message);
      const d = diff(again[0].value, g.value);
      if (d) assert.unreachable(`line ${w.lineNo} re-read at its offset: ${d}`);
    });
    return got;
  });
}

// ---- generated JSON texts ----

const ws = fc.constantFrom('', '', '', ' ', '\t', '\r', ' \r\t ');
const hex4 = (n: number, upper: boolean) => (upper ? n.toString(16).toUpperCase() : n.toString(16)).padStart(4, '0');
const escape = fc.oneof(
  fc.constantFrom('\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t'),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.boolean()).map(([n, u]) => '\\u' + hex4(n, u)),
  fc.tuple(fc.integer({ min: 0xd800, max: 0xdfff }), fc.boolean()).map(([n, u]) => '\\u' + hex4(n, u)), // lone surrogates
);
// raw text: JSON.stringify escapes only quotes, backslashes and control characters; the rest stays raw UTF-8
const raw = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ unit: 'binary-ascii', maxLength: 4 })).map((s) => JSON.stringify(s).slice(1, -1));
const stringText = fc.array(fc.oneof(raw, escape), { maxLength: 5 }).map((parts) => `"${parts.join('')}"`);
const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
const numberText = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? '-0' : String(d))),
  fc.integer().map(String),
  fc
    .tuple(
      fc.constantFrom('', '-'),
      fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom(...'123456789'), digits(0, 25)).map(([a, b]) => a + b)),
      fc.option(digits(1, 25).map((d) => '.' + d), { nil: '' }),
      fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 3)).map((p) => p.join('')), { nil: '' }),
    )
    .map((p) => p.join('')),
);
// keys: often the same few (duplicates), "__proto__" spelled plainly and escaped; never "b64" (a tensor's payload, tested below)
const keyText = fc
  .oneof(stringText, fc.constantFrom('"__proto__"', '"\\u005f_proto__"', '"id"', '"a"', '"0"', '"1"', '"constructor"', '"length"', '"dtype"', '"shape"'))
  .filter((k) => JSON.parse(k) !== 'b64');
const { value: valueText } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, stringText, numberText, fc.constantFrom('true', 'false', 'null'), tie('array'), tie('object')),
  array: fc.tuple(ws, fc.array(fc.tuple(ws, tie('value'), ws).map((p) => p.join('')), { maxLength: 5 })).map(([w, items]) => `[${items.length ? items.join(',') : w}]`),
  object: fc
    .tuple(ws, fc.array(fc.tuple(ws, keyText, ws, ws, tie('value'), ws).map(([a, k, b, c, v, d]) => `${a}${k}${b}:${c}${v}${d}`), { maxLength: 5 }))
    .map(([w, members]) => `{${members.length ? members.join(',') : w}}`),
}));
// deep-ish: a value inside up to 100 arrays and objects
const deepText = fc.tuple(valueText, fc.array(fc.tuple(fc.boolean(), keyText), { maxLength: 100 })).map(([v, wraps]) => wraps.reduce((inner, [arr, k]) => (arr ? `[1,${inner}]` : `{${k}:${inner}}`), v));
const lineText = fc.record({
  blank: fc.option(fc.constantFrom('', ' ', '\r', '\t \r'), { nil: undefined }),
  lead: ws,
  value: fc.oneof({ weight: 4, arbitrary: valueText }, { weight: 1, arbitrary: deepText }),
  trail: ws,
  eol: fc.constantFrom('\n', '\r\n'),
});
const fileText = fc
  .tuple(fc.array(lineText, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean())
  .map(([lines, bom, finalEol]) => {
    const text = lines.map((l) => (l.blank !== undefined ? l.blank + l.eol : '') + l.lead + l.value + l.trail + l.eol).join('');
    return (bom ? '\ufeff' : '') + (finalEol ? text : text.replace(/\r?\n$/, ''));
  });

test('generated JSON texts (escapes, lone surrogates, numbers, duplicate and __proto__ keys, whitespace, CRLF, blank lines, BOM) parse as JSON.parse does', () => {
  fc.assert(
    fc.property(fileText, (text) => {
      check(text);
    }),
    { numRuns: 400, seed: 1 },
  );
});

const hasB64Key = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && (Array.isArray(v) ? v.some(hasB64Key) : Object.keys(v).some((k) => k === 'b64' || hasB64Key((v as Record<string, unknown>)[k])));
test('fc.jsonValue() lines (JSON.stringify, unicode strings) and fc.json() texts parse as JSON.parse does', () => {
  const value = fc.oneof(fc.jsonValue({ stringUnit: 'binary' }), fc.jsonValue({ stringUnit: 'grapheme' }), fc.jsonValue()).filter((v) => !hasB64Key(v));
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), fc.array(fc.json(), { maxLength: 3 }), (values, texts) => {
      const lines = [...values.map((v) => JSON.stringify(v)), ...texts.filter((t) => !hasB64Key(JSON.parse(t)))];
      check(lines.join('\n') + '\n');
      check(lines.join('\r\n'));
    }),
    { numRuns: 300, seed: 2 },
  );
});

test('mutated JSON texts: a line is an error exactly when JSON.parse refuses it, and the next line is fine', () => {
  const edit = fc.tuple(fc.nat(), fc.constantFrom('delete', 'insert', 'replace', 'truncate'), fc.constantFrom(...'"{}[],:\\/-+.0eEu1tfn \t\rx\u00e9\u0001'));
  fc.assert(
    fc.property(valueText, fc.array(edit, { minLength: 1, maxLength: 3 }), (text, edits) => {
      let s = text;
      for (const [n, kind, ch] of edits) {
        const i = n % (s.length + 1);
        s = s.slice(0, i) + (kind === 'insert' || kind === 'replace' ? ch : '') + (kind === 'truncate' ? '' : s.slice(kind === 'insert' ? i : i + 1));
      }
      fc.pre(!s.includes('b64'));
      const lines = check(`${s}\n{"id":"next"}\n`);
      assert.equal(lines.at(-1)!.value, { id: 'next' });
    }),
    { numRuns: 400, seed: 5 },
  );
});

test('numbers: exponents, -0, overflow to Infinity and underflow to 0 as JSON.parse', () => {
  const numbers = ['0', '-0', '-0.0', '-0e-0', '0e0', '1E+2', '1e2', '1E-2', '-1.5e+3', '1e400', '-1e400', '1e-400', '-1e-400', '0.1', '123456789012345678901234567890',
    '9007199254740993', '1.7976931348623157e308', '1.7976931348623158e308', '1.7976931348623159e308', '5e-324', '2e-324', '2.4703282292062328e-324',
    '2.2250738585072014e-308', '1' + '0'.repeat(500), '0.' + '0'.repeat(1000) + '1', '1' + '0'.repeat(308) + '.5e-1'];
  const [line] = check(`[${numbers.join(', ')}]\n`);
  (line.value as number[]).forEach((v, i) => assert.ok(Object.is(v, JSON.parse(numbers[i])), numbers[i]));
  assert.ok(Object.is((line.value as number[])[1], -0), '-0 stays negative');
  assert.is((line.value as number[])[9], Infinity);
});

test('nesting: MAX_DEPTH levels parse, one more is an error and the next line is fine', () => {
  const arr = (n: number, inner = '') => '['.repeat(n) + inner + ']'.repeat(n);
  const obj = (n: number, inner: string) => '{"a":'.repeat(n) + inner + '}'.repeat(n);
  for (const ok of [arr(MAX_DEPTH), arr(MAX_DEPTH, '1'), obj(MAX_DEPTH, '1'), obj(MAX_DEPTH - 1, '{}'), obj(MAX_DEPTH - 1, arr(1, '"x"'))]) check(`${ok}\n{"id":"next"}\n`);
  for (const deep of [arr(MAX_DEPTH + 1), arr(MAX_DEPTH + 1, '1'), obj(MAX_DEPTH + 1, '1'), obj(MAX_DEPTH, '{}'), `{"id":"d","a":${arr(MAX_DEPTH)}}`]) {
    const lines = read(`${deep}\n{"id":"next"}\n`);
    assert.is(lines[0].error?.code, 'BAD_JSON', deep.slice(0, 20));
    assert.match(lines[0].error!.message, `nesting deeper than ${MAX_DEPTH} levels`);
    assert.equal(lines[1].value, { id: 'next' });
  }
});

// ---- chunk boundaries ----

/**
 * the line `prefix + middle + suffix` after a padding line, once for every shift that puts
 * `middle` across the boundary of the reader's first chunk (a shift s puts the chunk's last
 * byte s bytes into it), each compared with JSON.parse
 */
function straddle(prefix: string, middle: string, suffix: string, opts?: ReadOptions): void {
  const before = Buffer.byteLength(prefix);
  for (let s = 0; s <= Buffer.byteLength(middle); s++) {
    const pad = CHUNK - s - before - '{"pad":""}\n'.length;
    const text = `{"pad":"${'x'.repeat(pad)}"}\n${prefix}${middle}${suffix}\n{"id":"next"}\n`;
    const lines = check(text, opts);
    assert.is(lines.length, 3);
  }
}

test('chunk boundaries: every token cut at a chunk boundary (escapes, multi-byte UTF-8, surrogate pairs, numbers, literals, CRLF)', () => {
  straddle('{"s":"', 'é€😀\\"\\\\\\u00e9\\ud83d\\ude00\\/\\n', '"}');
  straddle('[', '-12.5e+3,null', ']');
  straddle('{"k":1}', ' \r\n', ''); // CR before the LF
  straddle('', '\r\n\r\n  ', '[]'); // blank lines
  // malformed lines that end at the boundary: one error, the next line fine
  straddle('{"s":"abc', '\\\n', '');
  straddle('{"s":tru', '\n', '');
  straddle('[1,', '\n', '');
});

test('chunk boundaries: multi-MB strings with escapes and multi-byte characters', () => {
  const unit = 'aé€😀\n"\\\t\u0001\ud800x/'; // JSON.stringify escapes the quote, backslash, controls and the lone surrogate
  const s = unit.repeat(Math.ceil((3 * CHUNK) / unit.length));
  const text = `{"id":1,"s":${JSON.stringify(s)},"after":[1,2]}\n{"s":"${'€'.repeat(CHUNK)}"}\n{"id":"next"}\n`;
  const lines = check(text);
  assert.is((lines[0].value as { s: string }).s, s);
});

const tensorLine = (b64: string, order: 'sized' | 'unsized', n: number, dtype = 'u8', shape: number[] = [n]) =>
  order === 'sized'
    ? `{"id":"t","x":{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"b64":"${b64}"},"after":["ok"]}`
    : `{"id":"t","x":{"b64":"${b64}","dtype":"${dtype}","shape":${JSON.stringify(shape)}},"after":["ok"]}`;

/** the tensor of the line's "x", checked to be exactly `bytes` in an aligned buffer of its own */
function expectTensor(line: JsonLine, bytes: Uint8Array, shared = false): void {
  assert.is(line.error, undefined, line.error?.message);
  const v = line.value as { x: { b64: Base64Bytes }; after: unknown };
  assert.equal(v.after, ['ok'], 'the rest of the line');
  const b = v.x.b64;
  assert.ok(b instanceof Base64Bytes);
  assert.is(b.invalid, undefined, b.invalid);
  assert.is(b.length, bytes.length);
  assert.ok(b.bytes, 'bytes');
  assert.is(b.bytes!.byteOffset, 0);
  assert.is(b.bytes!.buffer.byteLength, bytes.length, 'a buffer of its own');
  assert.is(b.bytes!.buffer instanceof SharedArrayBuffer, shared, 'shared');
  assert.ok(Buffer.compare(viewBytes(b.bytes!), viewBytes(bytes)) === 0, 'bytes differ');
}

test('b64: ~3 MB payloads, dtype first (preallocated) and b64 first (chunks), with and without \\/ escapes, shared or not', () => {
  const bytes = randomFillSync(new Uint8Array(3_000_003));
  const b64 = Buffer.from(bytes).toString('base64');
  for (const order of ['sized', 'unsized'] as const)
    for (const text of [b64, b64.replaceAll('/', '\\/')])
      for (const shared of [false, true]) {
        const lines = read(`${tensorLine(text, order, bytes.length)}\n{"id":"next"}\n`, { shared });
        expectTensor(lines[0], bytes, shared);
        assert.equal(lines[1].value, { id: 'next' });
      }
});

test('b64: escapes and padding cut at a chunk boundary', () => {
  // "ab/+QUJDZg==" spelled with escapes, after 1 KiB of plain base64 (so the boundary falls at each place in a group of four)
  const middle = 'a\\u0062\\/+QU\\u004aDZg\\u003d=';
  const plain = 'AAAA'.repeat(256);
  const n = Buffer.from(plain + 'ab/+QUJDZg==', 'base64').length;
  for (const order of ['sized', 'unsized'] as const) {
    const [prefix, suffix] = tensorLine('\0', order, n).split('\0');
    straddle(prefix + plain, middle, suffix);
  }
});

test('b64: generated payloads decode to exactly the bytes, in any order of keys, any dtype, any escapes', () => {
  const size: Record<string, number> = { u8: 1, bf16: 2, f32: 4, i32: 4, f64: 8, i64: 8 };
  fc.assert(
    fc.property(
      fc.constantFrom(...Object.keys(size)),
      fc.nat(40),
      fc.constantFrom('sized', 'unsized'),
      fc.array(fc.nat(2)),
      fc.boolean(),
      (dtype, n, order, escapes, shared) => {
        const bytes = randomFillSync(new Uint8Array(n * size[dtype]));
        // spell some characters as JSON escapes: \/ and \uXXXX are the same characters
        let k = 0;
        const b64 = Buffer.from(bytes)
          .toString('base64')
          .replace(/./g, (c) => {
            const e = escapes[k++ % Math.max(1, escapes.length)] ?? 0;
            return e === 1 ? `\\u${hex4(c.charCodeAt(0), k % 2 === 0)}` : e === 2 && c === '/' ? '\\/' : c;
          });
        const shape = n % 2 ? [n] : [2, n / 2];
        const [line] = read(tensorLine(b64, order as 'sized' | 'unsized', n, dtype, shape), { shared });
        expectTensor(line, bytes, shared);
      },
    ),
    { numRuns: 300, seed: 3 },
  );
});

const STRICT_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
test('b64: a string is valid exactly when it is strict base64; invalid ones say why and the rest of the line parses', () => {
  const ch = fc.constantFrom(...'AQgw+/9z=', '!', ' ', 'é', '\\n', '\\"', '\\u0041', '\\u00e9', '\\/');
  fc.assert(
    fc.property(fc.array(ch, { maxLength: 14 }), fc.constantFrom('sized', 'unsized', 'skim'), (chars, mode) => {
      const text = chars.join('');
      const plain = JSON.parse(`"${text}"`) as string;
      const valid = STRICT_B64.test(plain);
      const expected = valid ? Buffer.from(plain, 'base64') : undefined;
      const n = expected?.length ?? 3;
      const [line] = read(tensorLine(text, mode === 'unsized' ? 'unsized' : 'sized', n), { skim: mode === 'skim' });
      assert.is(line.error, undefined, line.error?.message);
      const v = line.value as { x: { b64: Base64Bytes }; after: unknown };
      assert.equal(v.after, ['ok']);
      const b = v.x.b64;
      if (!valid) {
        assert.match(b.invalid ?? '', /^not valid base64 \(.+\)$/, `${JSON.stringify(plain)} accepted`);
        assert.is(b.bytes, undefined);
      } else {
        assert.is(b.invalid, undefined, `${JSON.stringify(plain)}: ${b.invalid}`);
        assert.is(b.length, expected!.length);
        if (mode === 'skim') assert.is(b.bytes, undefined);
        else assert.equal(Buffer.from(b.bytes!), expected);
      }
    }),
    { numRuns: 500, seed: 4 },
  );
});

test('b64: invalid strings name the problem', () => {
  const cases: [string, RegExp][] = [
    ['AAA!', /'!' at character 3/],
    ['AA=A', /'A' after the '=' padding at character 3/],
    ['A===', /misplaced '=' at character 1/],
    ['AAAAA', /length 5 is not a multiple of 4/],
    ['AAA', /length 3 is not a multiple of 4/],
    ['AA=', /wrong padding/],
    ['AAA==', /wrong padding/],
    ['AAAA\\nAAAA', /at character 4/],
  ];
  for (const [b64, pattern] of cases) {
    const [line] = read(tensorLine(b64, 'sized', 3));
    const b = (line.value as { x: { b64: Base64Bytes } }).x.b64;
    assert.match(b.invalid ?? 'valid', pattern, b64);
  }
});

test('b64: a length other than dtype and shape say: no bytes, the true length (for the tensor check to name)', () => {
  const bytes = randomFillSync(new Uint8Array(12));
  const b64 = Buffer.from(bytes).toString('base64');
  for (const n of [9, 15, 0]) {
    const [line] = read(tensorLine(b64, 'sized', n));
    const b = (line.value as { x: { b64: Base64Bytes } }).x.b64;
    assert.equal([b.bytes, b.length, b.invalid], [undefined, 12, undefined], `shape [${n}]`);
  }
});

test('skim: the structure and b64 lengths, nothing decoded or allocated (no budget needed)', () => {
  const b64 = Buffer.from(randomFillSync(new Uint8Array(3000))).toString('base64');
  for (const order of ['sized', 'unsized'] as const) {
    const lines = read(`${tensorLine(b64, order, 3000)}\n{"id":"next"}\n`, { skim: true, budget: 10 });
    const v = lines[0].value as { id: string; x: { dtype: string; shape: number[]; b64: Base64Bytes } };
    assert.is(lines[0].error, undefined, lines[0].error?.message);
    assert.equal([v.id, v.x.dtype, v.x.shape], ['t', 'u8', [3000]]);
    assert.ok(v.x.b64 instanceof Base64Bytes);
    assert.equal([v.x.b64.bytes, v.x.b64.length, v.x.b64.invalid], [undefined, 3000, undefined]);
    assert.equal(lines[1].value, { id: 'next' });
  }
});

// ---- errors ----

const MALFORMED: [string, RegExp][] = [
  ['{"id":"a","x":', /unexpected end of line/],
  ['{"id":"a","x":1', /expected ',' or '}' in an object, found end of line/],
  ['[1,2', /expected ',' or ']' in an array, found end of line/],
  ['[1,2,x]', /unexpected 'x' at byte 5/],
  ['{"id":"a"} x', /unexpected 'x' after the JSON value/],
  ['{"id":"a"}{}', /unexpected '\{' after the JSON value/],
  ['1 2', /after the JSON value/],
  ['{"s":"abc', /unterminated string/],
  ['{"s":"abc\\', /unterminated string/],
  ['{"b64":"AAAA', /unterminated string/],
  ['{"b64":"AAAA\\', /unterminated string/],
  ['"a\tb"', /control character byte 0x09 in a string/],
  ['{"b64":"AA\tAA"}', /control character byte 0x09 in a string/],
  ['"a\u0000"', /control character byte 0x00/],
  ['tru', /invalid literal \(expected true\)/],
  ['[nul]', /invalid literal \(expected null\)/],
  ['fals', /invalid literal \(expected false\)/],
  ['True', /unexpected 'T'/],
  ['truex', /after the JSON value/],
  ['NaN', /unexpected 'N'/],
  ['Infinity', /unexpected 'I'/],
  ['-Infinity', /invalid number -/],
  ['01', /invalid number 01/],
  ['-01', /invalid number -01/],
  ['1.', /invalid number 1\./],
  ['.5', /unexpected '\.'/],
  ['+1', /unexpected '\+'/],
  ['-', /invalid number -/],
  ['1e', /invalid number 1e/],
  ['1e+', /invalid number 1e\+/],
  ['1.e3', /invalid number 1\.e3/],
  ['--1', /invalid number --1/],
  ['1-2', /invalid number 1-2/],
  ['0x10', /after the JSON value/],
  ['[1,]', /unexpected '\]'/],
  ['[,1]', /unexpected ','/],
  ['{"a":1,}', /expected a key string, found '\}'/],
  ['{,}', /expected a key string, found ','/],
  ["{'a':1}", /expected a key string, found '''/],
  ['{a:1}', /expected a key string, found 'a'/],
  ['{"a" 1}', /expected ':' after a key/],
  ['[1 2]', /expected ',' or ']' in an array, found '2'/],
  ['"\\x"', /invalid escape in a string/],
  ['"\\u12"', /invalid escape in a string/],
  ['"\\u12G4"', /invalid escape in a string/],
  ['"\\U0041"', /invalid escape in a string/],
  ['{"b64":"AA\\xAA"}', /invalid escape in a b64 string/],
  ['{"b64":"AA\\u00G1"}', /invalid escape in a b64 string/],
  ['\u00e9', /unexpected byte 0xc3/],
  ['\ufeff[1]', /unexpected byte 0xef/], // a BOM that is not at the start of the input
];

test('malformed lines: one error each naming the problem, the lines around them fine, line numbers and offsets right', () => {
  for (const [bad, pattern] of MALFORMED) {
    assert.throws(() => JSON.parse(bad), undefined, `JSON.parse accepts ${bad}`);
    for (const eol of ['\n', '\r\n']) {
      const text = `{"id":"before"}${eol}${bad}${eol}{"id":"after"}${eol}`;
      const lines = check(text); // lineNo, offsets and re-reading as JSON.parse says
      assert.is(lines[1].error!.code, 'BAD_JSON');
      assert.match(lines[1].error!.message, pattern, bad);
      assert.equal(lines[2].value, { id: 'after' }, `the line after ${bad}`);
    }
    const last = read(`{"id":"before"}\n${bad}`); // the last line, no newline
    assert.is(last.length, 2);
    assert.match(last[1].error!.message, pattern, `${bad} at the end of the input`);
  }
});

test('malformed lines: error positions count from the line start (leading whitespace included)', () => {
  const lines = read('[1,2,x]\n  [1,2,x]\n\t{"a":tru}\n');
  assert.equal(
    lines.map((l) => [l.offset, l.error!.message]),
    [
      [0, "malformed JSON: unexpected 'x' at byte 5"],
      [8, "malformed JSON: unexpected 'x' at byte 7"],
      [18, 'malformed JSON: invalid literal (expected true) at byte 9'],
    ],
  );
});

test('invalid UTF-8 in a string is an error (not replaced), the next line fine', () => {
  for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
    const bytes = Buffer.concat([Buffer.from('{"id":1,"s":"a'), Buffer.from(bad), Buffer.from('"}\n{"id":"next"}\n')]);
    const lines = read(bytes);
    assert.match(lines[0].error!.message, /a string is not valid UTF-8/);
    assert.is(lines[0].id, 1);
    assert.equal(lines[1].value, { id: 'next' });
  }
});

test("an error line reports the line's top-level id when it came before the error", () => {
  const lines = read(
    ['{"id":"x1","a":tru}', '{"a":tru,"id":"x1"}', '{"id":7,"a":[1,2', '{"id":{"a":', '{"x":{"id":"inner"},"a":-}', '{"id":"a","id":"b","z":.}', '[{"id":1},x]'].join('\n'),
  );
  assert.equal(
    lines.map((l) => l.id),
    ['x1', undefined, 7, undefined, undefined, 'b', undefined],
  );
  assert.ok(lines.every((l) => l.error));
});

test('blank lines, whitespace-only lines and CRLF are skipped but counted; a BOM only at the start', () => {
  const text = '\ufeff\n  \r\n\t\n{"a":1}\r\n\r\n   {"b":2}  \n\n';
  const lines = check(text);
  assert.equal(
    lines.map((l) => [l.lineNo, l.offset, l.value]),
    [
      [4, 10, { a: 1 }],
      [6, 21, { b: 2 }],
    ],
  );
  assert.equal(read('\ufeff{"a":1}').map((l) => [l.offset, l.value]), [[3, { a: 1 }]]);
  assert.equal(read(''), []);
  assert.equal(read('\n\r\n \n'), []);
  assert.equal(read('\ufeff'), []);
});

test('start, maxLines, firstLineNo: reading from an offset, and a file read without positions (seekable: false)', () => {
  const text = '{"id":1}\n\n  {"id":2}\n{"id":3}\n';
  withFile(text, (fd) => {
    const all = [...jsonLines(fd)];
    assert.equal(all.map((l) => [l.lineNo, l.offset]), [[1, 0], [3, 10], [4, 21]]);
    assert.equal([...jsonLines(fd, { start: 10, firstLineNo: 3 })].map((l) => l.value), [{ id: 2 }, { id: 3 }]);
    assert.equal([...jsonLines(fd, { start: 9, maxLines: 1, firstLineNo: 2 })].map((l) => [l.lineNo, l.value]), [[3, { id: 2 }]]);
    assert.equal([...jsonLines(fd, { maxLines: 2 })].length, 2);
    assert.equal([...jsonLines(fd, { seekable: false })], all);
  });
});

test('stdin: a pipe (short reads ending anywhere, seekable: false) gives the lines the file gives', () => {
  const bytes = randomFillSync(new Uint8Array(1_000_001));
  const b64 = Buffer.from(bytes).toString('base64');
  const text =
    '\ufeff' +
    [tensorLine(b64, 'sized', bytes.length), '', `{"s":${JSON.stringify('é€😀\n"\\'.repeat(50_000))}}`, '{"id":"bad","x":tru}', tensorLine(b64.replaceAll('/', '\\/'), 'unsized', bytes.length), '  [1e400, -0]  '].join('\r\n');
  // the lines as plain data (what v8.serialize keeps), the same way in both processes
  const plain = `(lines) => v8.deserialize(v8.serialize(lines.map((l) => [l.lineNo, l.offset, l.error?.code, l.error?.message, l.id, l.value])))`;
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', `import v8 from 'node:v8'; import { jsonLines } from ${JSON.stringify(join(root, 'io/json-stream.ts'))}; process.stdout.write(v8.serialize((${plain})([...jsonLines(0, { seekable: false })])));`],
    { input: text, maxBuffer: 1 << 26 },
  );
  assert.is(child.status, 0, child.stderr.toString());
  const fromPipe = deserialize(child.stdout);
  const fromFile = (new Function('v8', `return ${plain}`)({ serialize, deserialize }) as (l: JsonLine[]) => unknown)(read(text));
  assert.is((fromPipe as unknown[]).length, 5);
  const d = diff(fromPipe, fromFile);
  if (d) assert.unreachable(d);
});

// ---- the memory budget ----

test('budget: a tensor over it is an error naming its size, the line id kept, the next line fine', () => {
  const b64 = Buffer.from(randomFillSync(new Uint8Array(4000))).toString('base64');
  const text = `${tensorLine(b64, 'sized', 1000, 'f32', [2, 500])}\n{"id":"next"}\n`;
  const lines = read(text, { budget: 3000 });
  assert.is(lines[0].error!.code, 'BAD_TENSOR');
  assert.match(lines[0].error!.message, /memory budget of 2\.93 KiB \(at a f32 \[2,500\] tensor \(3\.91 KiB\), 0 B already read\)/);
  assert.is(lines[0].id, 't');
  assert.equal(lines[1].value, { id: 'next' });
  assert.is(read(text, { budget: 4000 })[0].error, undefined);
  // two tensors of one line count together; each line has the whole budget
  const two = `{"a":{"dtype":"u8","shape":[3000],"b64":"${b64.slice(0, 4000)}"},"b":{"dtype":"u8","shape":[3000],"b64":"${b64.slice(0, 4000)}"}}`;
  const [over] = read(two, { budget: 5000 });
  assert.match(over.error!.message, /at a u8 \[3000\] tensor \(2\.93 KiB\), 2\.93 KiB already read/);
  assert.equal(read(`${tensorLine(b64, 'sized', 4000)}\n${tensorLine(b64, 'sized', 4000)}\n`, { budget: 4000 }).map((l) => l.error), [undefined, undefined]);
});

test('budget: a b64 before its dtype and shape counts what it holds (small ones fit a small budget; a large one is stopped)', () => {
  const small = Buffer.from(randomFillSync(new Uint8Array(10))).toString('base64');
  assert.is(read(tensorLine(small, 'unsized', 10), { budget: 100 })[0].error, undefined);
  // many small tensors: each counts its own bytes, not a whole read chunk
  const many = `{"xs":[${Array.from({ length: 2000 }, () => `{"b64":"${small}","dtype":"u8","shape":[10]}`).join(',')}]}`;
  const [line] = read(many, { budget: 64 << 10 });
  assert.is(line.error, undefined, line.error?.message);
  assert.is((line.value as { xs: unknown[] }).xs.length, 2000);
  const bytes = randomFillSync(new Uint8Array(3 << 20));
  const big = `${tensorLine(Buffer.from(bytes).toString('base64'), 'unsized', bytes.length)}\n{"id":"next"}\n`;
  const lines = read(big, { budget: 2 << 20 });
  assert.is(lines[0].error!.code, 'BAD_TENSOR');
  assert.match(lines[0].error!.message, /memory budget of 2\.00 MiB \(at a b64 string of more than [\d.]+ [KM]iB before its tensor's dtype and shape/);
  assert.equal(lines[1].value, { id: 'next' });
  expectTensor(read(big, { budget: 3 << 20 })[0], bytes);
});

test('a tensor whose shape the decoder refuses (over 4 GiB, a dimension over 2^31, rank over 8) is read past, not allocated', () => {
  const shapes = [[2 ** 52], [2 ** 31, 2 ** 31], [1, 1, 1, 1, 1, 1, 1, 1, 1]];
  const text = shapes.map((shape, i) => `{"id":${i},"x":{"dtype":"u8","shape":${JSON.stringify(shape)},"b64":"AAAA"}}`).join('\n') + '\n{"id":"next"}\n';
  const lines = read(text, { budget: Infinity });
  shapes.forEach((_, i) => {
    assert.is(lines[i].error, undefined);
    const b = (lines[i].value as { x: { b64: Base64Bytes } }).x.b64;
    assert.is(b.bytes, undefined, 'not decoded: decodeTensor refuses the shape');
  });
  assert.equal(lines[3].value, { id: 'next' });
});

// ---- speed ----

test('speed: a 64 MiB tensor decodes well under 2 s (dtype first, b64 first, skimmed)', () => {
  const bytes = randomFillSync(new Uint8Array(64 << 20));
  const b64 = Buffer.from(Buffer.from(bytes).toString('base64'), 'latin1');
  const times: string[] = [];
  for (const order of ['sized', 'unsized'] as const) {
    const [prefix, suffix] = tensorLine('\0', order, bytes.length).split('\0');
    withFile(Buffer.concat([Buffer.from(prefix), b64, Buffer.from(suffix + '\n')]), (fd) => {
      for (const skim of order === 'sized' ? [false, true] : [false]) {
        const t0 = performance.now();
        const [line] = jsonLines(fd, { skim });
        const ms = performance.now() - t0;
        times.push(`${order}${skim ? ' skim' : ''} ${ms.toFixed(0)} ms`);
        if (skim) assert.is((line.value as { x: { b64: Base64Bytes } }).x.b64.length, bytes.length);
        else expectTensor(line, bytes);
        assert.ok(ms < 2000, `${order}${skim ? ' skim' : ''}: ${ms.toFixed(0)} ms`);
      }
    });
  }
  console.log(`  64 MiB b64: ${times.join(', ')}`);
});

test('the default budget is a third of the memory the process may use: the container (cgroup) limit when it is lower than the machine', async () => {
  const { usableMemory } = await import('../io/memory.ts');
  const { defaultBudget } = await import('../io/json-stream.ts');
  const { totalmem } = await import('node:os');
  const p = process as { constrainedMemory?: () => number | undefined };
  const saved = p.constrainedMemory;
  try {
    p.constrainedMemory = () => 2 ** 30;
    assert.is(usableMemory(), Math.min(2 ** 30, totalmem()));
    assert.is(defaultBudget(), Math.floor(Math.min(2 ** 30, totalmem()) / 3));
    p.constrainedMemory = () => 2 ** 64; // no limit: cgroup reports "max"
    assert.is(usableMemory(), totalmem());
    p.constrainedMemory = () => 0;
    assert.is(usableMemory(), totalmem());
  } finally {
    p.constrainedMemory = saved;
  }
});

test.run();

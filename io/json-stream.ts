// Streaming JSON Lines. A case line can hold tensors of any size, so nothing here builds a
// string (or runs a regex) over a whole tensor: a JSON parser reads the bytes in chunks, and
// the string under a tensor's "b64" key is decoded as it is read, straight into the tensor's
// buffer when its dtype and shape came first (as every writer of this project puts them).
//
// One line is one JSON value. A line that cannot be parsed, or whose tensors would exceed
// the memory budget, becomes an error naming the problem, and reading goes on with the next
// line (a newline can never occur inside a JSON value, so it always ends a line).

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { usableMemory } from './memory.ts';
import { OpError } from './errors.ts';
// only read inside functions: the import cycle with tensor.ts (which uses Base64Bytes) is harmless
import { BYTES, MAX_DIM, MAX_RANK, MAX_TENSOR_BYTES, type DType } from './tensor.ts';

/** a decoded "b64" string: its bytes (exactly `length` of them), or the problem it has */
export class Base64Bytes {
  constructor(
    /** the decoded bytes, in an aligned buffer of their own (undefined when skimmed) */
    readonly bytes: Uint8Array | undefined,
    /** number of decoded bytes */
    readonly length: number,
    /** why the string is not valid base64 (then bytes is undefined) */
    readonly invalid?: string,
  ) {}
}

export interface ReadOptions {
  /** bytes of tensor data one line may hold (checked before anything is allocated) */
  budget?: number;
  /** allocate tensor bytes in SharedArrayBuffers (for worker threads) */
  shared?: boolean;
  /** skim: parse the structure but neither decode nor keep b64 payloads (for indexing) */
  skim?: boolean;
}

/**
 * The bytes of tensor data one line may hold, counted before anything is allocated: inline
 * tensors while the line is parsed, sidecar tensors when they are read (JsonLine.budget).
 */
export class Budget {
  used = 0;
  constructor(readonly limit: number) {}
  reserve(bytes: number, what: () => string): void {
    if (this.used + bytes > this.limit)
      throw new OpError('BAD_TENSOR', `the line's tensors need more than the memory budget of ${fmtBytes(this.limit)} (at ${what()}, ${fmtBytes(this.used)} already read); raise --max-memory or store fewer rows per case`);
    this.used += bytes;
  }
}

export interface JsonLine {
  /** 1-based line number */
  lineNo: number;
  /** byte offset of the line's first byte in the file */
  offset: number;
  /** the parsed value, or the error that stopped it */
  value?: unknown;
  error?: OpError;
  /** the line's top-level "id" when it was read before an error */
  id?: unknown;
  /** the line's budget, its inline tensors counted (sidecar tensors are counted as they are read) */
  budget?: Budget;
}

/** the default budget: a third of the memory this process may use (the container's limit when lower), so the case, its outputs and the work fit */
export function defaultBudget(): number {
  return Math.floor(usableMemory() / 3);
}

export const MAX_DEPTH = 512;
/** strings outside a tensor's b64, and numbers, longer than this are refused (ids, names, args are short) */
export const MAX_STRING_BYTES = 64 << 20;
const CHUNK = 1 << 20;
const EMPTY = new Uint8Array(0);
/** where b64 bytes that are not kept are decoded (see base64) */
let scratch: Uint8Array | undefined;

// base64 alphabet → sextet; 64 marks '=', 255 anything else
const SEXTET = new Uint8Array(256).fill(255);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => (SEXTET[c.charCodeAt(0)] = i));
SEXTET[0x3d] = 64;

const enum C {
  NL = 0x0a,
  CR = 0x0d,
  SP = 0x20,
  TAB = 0x09,
  QUOTE = 0x22,
  BSLASH = 0x5c,
}

class SkipLine extends Error {
  constructor(readonly opError: OpError) {
    super(opError.message);
  }
}

/** one read into buf (0 at the end of input); a non-blocking stdin with no data yet is waited for */
export function readSome(fd: number, buf: Uint8Array, position: number | null): number {
  for (;;) {
    try {
      return readSync(fd, buf, 0, buf.length, position);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EOF') return 0;
      if (code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/** chunked reads of a file descriptor with a cursor; `offset` is the absolute position of buf[pos] */
class ByteSource {
  buf = new Uint8Array(CHUNK);
  pos = 0;
  end = 0;
  private fileOffset: number;
  eof = false;
  constructor(
    private readonly fd: number,
    start = 0,
    private readonly positional = true,
  ) {
    this.fileOffset = start;
  }
  get offset(): number {
    return this.fileOffset - (this.end - this.pos);
  }
  /** refill when empty; false at end of input */
  fill(): boolean {
    if (this.pos < this.end) return true;
    if (this.eof) return false;
    const n = readSome(this.fd, this.buf, this.positional ? this.fileOffset : null);
    this.pos = 0;
    this.end = n;
    this.fileOffset += n;
    if (n === 0) this.eof = true;
    return n > 0;
  }
  peek(): number {
    return this.pos < this.end || this.fill() ? this.buf[this.pos] : -1;
  }
}

const isWs = (c: number) => c === C.SP || c === C.TAB || c === C.CR;
/** a byte, or a character of an escape in a b64 string */
const show = (c: number) =>
  c < 0 ? 'end of line' : c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : c > 0xff ? `U+${c.toString(16).padStart(4, '0')}` : `byte 0x${c.toString(16).padStart(2, '0')}`;
/** the byte a syntax error found (the newline ends the line) */
const found = (c: number) => show(c === C.NL ? -1 : c);
const hexDigit = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1);
// the one-character JSON escapes: the character after the backslash → the character meant
const UNESCAPE: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };

/** the parser of one line; state that spans values (budget used, the line's id) lives here */
class LineParser {
  readonly budget: Budget;
  id: unknown;
  constructor(
    private readonly src: ByteSource,
    private readonly opts: ReadOptions,
    /** the offset of the line's first byte, for the positions in errors */
    private readonly lineStart: number,
  ) {
    this.budget = new Budget(opts.budget ?? defaultBudget());
  }

  private fail(msg: string): never {
    throw new SkipLine(new OpError('BAD_JSON', `malformed JSON: ${msg} at byte ${this.src.offset - this.lineStart}`));
  }

  private ws(): number {
    for (;;) {
      const c = this.src.peek();
      if (!isWs(c)) return c;
      this.src.pos++;
    }
  }
  /** consume `ch` if it comes next; nothing else is consumed, so after an error the newline is still there to end the line */
  private skip(ch: number): boolean {
    if (this.src.peek() !== ch) return false;
    this.src.pos++;
    return true;
  }

  /** a raw control character in a string (a line break: the string did not end on its line) */
  private control(c: number): never {
    this.fail(c === C.NL || c === C.CR ? 'unterminated string' : `control character ${show(c)} in a string`);
  }

  /** a value inside `depth` arrays and objects */
  value(depth: number, key?: string, parent?: Record<string, unknown>): unknown {
    const c = this.ws();
    if ((c === 0x7b || c === 0x5b) && depth >= MAX_DEPTH) throw new SkipLine(new OpError('BAD_JSON', `nesting deeper than ${MAX_DEPTH} levels`));
    switch (c) {
      case 0x7b:
        return this.object(depth);
      case 0x5b:
        return this.array(depth);
      case C.QUOTE:
        return key === 'b64' && parent ? this.base64(parent) : this.string();
      case 0x74:
        return this.literal('true', true);
      case 0x66:
        return this.literal('false', false);
      case 0x6e:
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        this.fail(`unexpected ${found(c)}`);
    }
  }

  private literal(word: string, v: unknown): unknown {
    for (let i = 0; i < word.length; i++) if (!this.skip(word.charCodeAt(i))) this.fail(`invalid literal (expected ${word})`);
    return v;
  }

  private number(): number {
    let s = '';
    for (;;) {
      const c = this.src.peek();
      if (!((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45)) break;
      s += String.fromCharCode(c);
      this.src.pos++;
      if (s.length > MAX_STRING_BYTES) this.fail(`a number longer than ${MAX_STRING_BYTES} bytes`);
    }
    if (!/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(s)) this.fail(`invalid number ${s}`);
    return Number(s);
  }

  private string(): string {
    this.src.pos++; // the opening quote
    const parts: Uint8Array[] = [];
    let total = 0;
    let escapes = false;
    let escaped = false; // the byte before was an escaping backslash
    for (;;) {
      if (!this.src.fill()) this.fail('unterminated string');
      const buf = this.src.buf;
      const end = this.src.end;
      let i = this.src.pos;
      // escapes are kept raw (an escaped quote does not end the string) and decoded below
      for (; i < end; i++) {
        const b = buf[i];
        if (b < 0x20 || (b === C.QUOTE && !escaped)) break;
        escaped = b === C.BSLASH && !escaped;
        escapes ||= escaped;
      }
      if (i > this.src.pos) {
        parts.push(buf.slice(this.src.pos, i));
        total += i - this.src.pos;
        if (total > MAX_STRING_BYTES) this.fail(`a string longer than ${MAX_STRING_BYTES} bytes outside a tensor's b64`);
      }
      this.src.pos = i;
      if (i === end) continue;
      if (buf[i] === C.QUOTE) {
        this.src.pos++;
        break;
      }
      this.control(buf[i]);
    }
    let s: string;
    try {
      s = utf8.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    } catch {
      this.fail('a string is not valid UTF-8');
    }
    if (!escapes) return s;
    try {
      return JSON.parse(`"${s}"`); // JSON's own escape rules, lone surrogates included
    } catch {
      this.fail('invalid escape in a string');
    }
  }

  /** a tensor's b64 string, decoded as it is read */
  private base64(parent: Record<string, unknown>): Base64Bytes {
    this.src.pos++; // the opening quote
    const size = this.opts.skim ? undefined : expectedBytes(parent);
    // a tensor whose dtype and shape the decoder will refuse is read past, not decoded
    const skim = this.opts.skim || size === UNUSABLE;
    const expected = skim ? undefined : size;
    // the bytes go to `cur`: the tensor's own buffer when its dtype and shape came first, else
    // chunks that grow with the string (a small tensor takes little of the budget), joined at the
    // end; bytes that are not kept (skimmed, or more than dtype and shape say) go to a scratch buffer
    if (expected !== undefined) this.reserve(expected, () => `a ${parent.dtype} [${parent.shape}] tensor (${fmtBytes(expected)})`);
    const target = expected === undefined ? undefined : this.alloc(expected);
    let cur: Uint8Array = target ?? EMPTY;
    const chunks: Uint8Array[] = [];
    let reserved = 0; // bytes of the chunks, counted against the budget
    let at = 0; // bytes in cur
    let out = 0; // decoded bytes so far
    let acc = 0;
    let nq = 0; // sextets in acc
    let pads = 0;
    let chars = 0;
    let invalid: string | undefined;
    /** one decoded byte (off the hot path) */
    const put = (byte: number) => {
      if (at === cur.length) {
        if (expected === undefined && !skim) {
          // chunks double up to CHUNK and take no more than is left of the budget (none left: an error)
          const size = Math.max(1, Math.min(CHUNK, Math.max(256, out), this.budget.limit - this.budget.used));
          this.reserve(size, () => `a b64 string of more than ${fmtBytes(out)} before its tensor's dtype and shape`);
          reserved += size;
          cur = new Uint8Array(size);
          chunks.push(cur);
        } else cur = scratch ??= new Uint8Array(CHUNK);
        at = 0;
      }
      cur[at++] = byte;
      out++;
    };
    const take = (sextet: number) => {
      acc = (acc << 6) | sextet;
      if (++nq === 4) {
        put(acc >>> 16);
        put((acc >>> 8) & 255);
        put(acc & 255);
        acc = 0;
        nq = 0;
      }
    };
    /** a character off the hot path: '=', an escaped character, a sextet after the padding, or not base64 */
    const char = (c: number) => {
      const s = c <= 0xff ? SEXTET[c] : 255;
      if (s < 64 && pads === 0) take(s);
      else if (s === 64 && nq >= 2 && pads < 2) pads++;
      else invalid ??= `${s === 64 ? "misplaced '='" : s < 64 ? `${show(c)} after the '=' padding` : show(c)} at character ${chars}`;
      chars++;
    };
    outer: for (;;) {
      if (!this.src.fill()) this.fail('unterminated string');
      const buf = this.src.buf;
      const end = this.src.end;
      let i = this.src.pos;
      while (i < end) {
        if (nq === 0 && pads === 0) {
          // the hot path: take() for whole groups of four sextets, three bytes straight into cur
          const dst = cur;
          const from = i;
          let o = at;
          while (i + 4 <= end && o + 3 <= dst.length) {
            const a = SEXTET[buf[i]];
            const b = SEXTET[buf[i + 1]];
            const c = SEXTET[buf[i + 2]];
            const d = SEXTET[buf[i + 3]];
            if ((a | b | c | d) > 63) break;
            const v = (a << 18) | (b << 12) | (c << 6) | d;
            dst[o] = v >>> 16;
            dst[o + 1] = (v >>> 8) & 255;
            dst[o + 2] = v & 255;
            o += 3;
            i += 4;
          }
          out += o - at;
          at = o;
          chars += i - from;
          if (i === end) break;
        }
        const c = buf[i];
        if (c === C.QUOTE) {
          this.src.pos = i + 1;
          break outer;
        }
        this.src.pos = i;
        if (c < 0x20) this.control(c);
        this.src.pos = i + 1;
        // any JSON escape is legal ("\/" is how some writers spell '/'); what it stands for must be base64
        if (c === C.BSLASH) {
          char(this.escape());
          continue outer;
        }
        char(c);
        i++;
      }
      this.src.pos = i;
    }
    // padding: "xx==" carries one byte, "xxx=" two
    if (pads) {
      if (nq + pads !== 4) invalid ??= 'wrong padding';
      else if (nq === 2) put((acc >>> 4) & 255);
      else if (nq === 3) {
        put((acc >>> 10) & 255);
        put((acc >>> 2) & 255);
      }
    } else if (nq !== 0) invalid ??= `length ${chars} is not a multiple of 4`;
    const kept = !invalid && !skim && (expected === undefined || out === expected);
    this.budget.used -= (expected ?? reserved) - (kept ? out : 0); // the budget counts only the bytes the line keeps
    if (invalid) return new Base64Bytes(undefined, out, `not valid base64 (${invalid})`);
    if (!kept) return new Base64Bytes(undefined, out);
    if (target) return new Base64Bytes(target, out);
    // the shape was not known in advance: join the chunks into an aligned buffer
    const joined = this.alloc(out);
    let pos = 0;
    for (const ch of chunks) {
      const n = Math.min(ch.length, out - pos);
      joined.set(ch.subarray(0, n), pos);
      pos += n;
    }
    return new Base64Bytes(joined, out);
  }

  /** the character a JSON escape in a b64 string stands for (after its backslash) */
  private escape(): number {
    const e = this.src.peek();
    if (e < 0) this.fail('unterminated string');
    if (e < 0x20) this.control(e);
    if (Object.hasOwn(UNESCAPE, e)) {
      this.src.pos++;
      return UNESCAPE[e];
    }
    if (!this.skip(0x75)) this.fail('invalid escape in a b64 string');
    let u = 0;
    for (let k = 0; k < 4; k++) {
      const d = hexDigit(this.src.peek());
      if (d < 0) this.fail('invalid escape in a b64 string');
      this.src.pos++;
      u = u * 16 + d;
    }
    return u;
  }

  /** tensor bytes, in a shared buffer for worker threads when asked; a failed allocation fails the line, not the reading */
  private alloc(bytes: number): Uint8Array {
    try {
      return new Uint8Array(this.opts.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      throw new SkipLine(new OpError('BAD_TENSOR', `cannot allocate ${fmtBytes(bytes)} for a tensor (${e.message}); lower --max-memory`));
    }
  }

  /** count `bytes` against the line's budget before allocating them (`what` they are for the error) */
  reserve(bytes: number, what: () => string): void {
    try {
      this.budget.reserve(bytes, what);
    } catch (e) {
      throw e instanceof OpError ? new SkipLine(e) : e;
    }
  }

  private object(depth: number): Record<string, unknown> {
    this.src.pos++;
    const obj: Record<string, unknown> = {};
    if (this.ws() === 0x7d) {
      this.src.pos++;
      return obj;
    }
    for (;;) {
      const q = this.ws();
      if (q !== C.QUOTE) this.fail(`expected a key string, found ${found(q)}`);
      const key = this.string();
      this.ws();
      if (!this.skip(0x3a)) this.fail("expected ':' after a key");
      const v = this.value(depth + 1, key, obj);
      // as JSON.parse: an own data property even for "__proto__"
      Object.defineProperty(obj, key, { value: v, writable: true, enumerable: true, configurable: true });
      if (depth === 0 && key === 'id') this.id = v;
      const c = this.ws();
      if (this.skip(0x7d)) return obj;
      if (!this.skip(0x2c)) this.fail(`expected ',' or '}' in an object, found ${found(c)}`);
    }
  }

  private array(depth: number): unknown[] {
    this.src.pos++;
    const arr: unknown[] = [];
    if (this.ws() === 0x5d) {
      this.src.pos++;
      return arr;
    }
    for (;;) {
      arr.push(this.value(depth + 1));
      const c = this.ws();
      if (this.skip(0x5d)) return arr;
      if (!this.skip(0x2c)) this.fail(`expected ',' or ']' in an array, found ${found(c)}`);
    }
  }

  /** after the value: only whitespace up to the newline */
  endOfLine(): void {
    const c = this.ws();
    if (c === C.NL) this.src.pos++;
    else if (c >= 0) this.fail(`unexpected ${show(c)} after the JSON value`);
  }

  /** discard the rest of the line (after an error) */
  skipRest(): void {
    for (;;) {
      if (!this.src.fill()) return;
      const nl = this.src.buf.subarray(this.src.pos, this.src.end).indexOf(C.NL);
      if (nl >= 0) {
        this.src.pos += nl + 1;
        return;
      }
      this.src.pos = this.src.end;
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });


/** the byte count a tensor object's dtype and shape call for, when both came before b64 and are sane */
const UNUSABLE = -1;
/**
 * the byte count a tensor object's dtype and shape call for when both came before b64;
 * UNUSABLE when they break io/tensor.ts decodeTensor's limits (it will refuse the tensor:
 * at most 8 dimensions, each ≤ 2^31, at most 4 GiB)
 */
function expectedBytes(parent: Record<string, unknown>): number | undefined {
  const size = typeof parent.dtype === 'string' && Object.hasOwn(BYTES, parent.dtype) ? BYTES[parent.dtype as DType] : undefined;
  const shape = parent.shape;
  if (!size || !Array.isArray(shape)) return undefined;
  if (shape.length > MAX_RANK || !shape.every((d) => Number.isSafeInteger(d) && d >= 0 && d <= MAX_DIM)) return UNUSABLE;
  let n = size;
  for (const d of shape as number[]) n *= d;
  return n <= MAX_TENSOR_BYTES ? n : UNUSABLE;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** open a path for reading ("-" or undefined: stdin); OpError when it cannot be read */
export function openInput(path?: string): { fd: number; close(): void; seekable: boolean } {
  if (!path || path === '-') return { fd: 0, close() {}, seekable: false };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new OpError('BAD_ARGS', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new OpError('BAD_ARGS', `cannot read ${path}: it is a folder; give a case file`);
  }
  return { fd, close: () => closeSync(fd), seekable: true };
}

/**
 * The lines of a JSON Lines input, each parsed (blank lines skipped). `start` reads from a
 * byte offset; `maxLines` stops after that many lines (1: parse one line at an offset).
 */
export function* jsonLines(fd: number, opts: ReadOptions & { start?: number; seekable?: boolean; maxLines?: number; firstLineNo?: number } = {}): Generator<JsonLine> {
  const src = new ByteSource(fd, opts.start ?? 0, opts.seekable ?? true);
  let lineNo = (opts.firstLineNo ?? 1) - 1;
  let count = 0;
  // a UTF-8 byte order mark at the start of the input is not part of the first line
  if ((opts.start ?? 0) === 0 && src.peek() === 0xef) {
    const b = src.buf;
    if (src.end - src.pos >= 3 && b[src.pos + 1] === 0xbb && b[src.pos + 2] === 0xbf) src.pos += 3;
  }
  for (;;) {
    // blank lines: whitespace only; a line's offset is its first byte, leading whitespace included
    let offset = src.offset;
    let c: number;
    for (;;) {
      c = src.peek();
      if (c === C.NL) {
        lineNo++;
        src.pos++;
        offset = src.offset;
        continue;
      }
      if (isWs(c)) {
        src.pos++;
        continue;
      }
      break;
    }
    if (c < 0) return;
    lineNo++;
    const p = new LineParser(src, opts, offset);
    let line: JsonLine;
    try {
      const value = p.value(0);
      p.endOfLine();
      line = { lineNo, offset, value, budget: p.budget };
    } catch (e) {
      if (!(e instanceof SkipLine)) throw e;
      p.skipRest();
      line = { lineNo, offset, error: e.opError, id: p.id };
    }
    yield line;
    if (opts.maxLines && ++count >= opts.maxLines) return;
  }
}

// Tokenizers. The embedded default is byte-level: ids 0..255 are the UTF-8 bytes, then
// <bos>, <eos>, <pad> and 8 domain-tag tokens <tag:0>..<tag:7> (the paper's "+Tag"). A
// transformers tokenizer.json is read through @huggingface/tokenizers (pure JS, offline).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { OpError } from '../io/errors.ts';

export interface TextTokenizer {
  name: string;
  vocabSize: number;
  bos: number | null;
  eos: number | null;
  pad: number | null;
  /** token ids of a text, without special tokens */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

export const BYTE_BOS = 256;
export const BYTE_EOS = 257;
export const BYTE_PAD = 258;
export const BYTE_TAG0 = 259;
export const BYTE_NUM_TAGS = 8;
export const BYTE_VOCAB = BYTE_TAG0 + BYTE_NUM_TAGS; // 267

export class ByteTokenizer implements TextTokenizer {
  readonly name = 'byte';
  readonly vocabSize = BYTE_VOCAB;
  readonly bos = BYTE_BOS;
  readonly eos = BYTE_EOS;
  readonly pad = BYTE_PAD;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder('utf-8', { fatal: false });
  encode(text: string): number[] {
    return Array.from(this.enc.encode(text));
  }
  decode(ids: readonly number[]): string {
    const parts: string[] = [];
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) parts.push(this.dec.decode(Uint8Array.from(bytes)));
      bytes = [];
    };
    for (const id of ids) {
      if (id >= 0 && id < 256) bytes.push(id);
      else {
        flush();
        parts.push(this.special(id));
      }
    }
    flush();
    return parts.join('');
  }
  /** the id of domain tag k (0..7) */
  tag(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k >= BYTE_NUM_TAGS) throw new RangeError(`tag index ${k} is outside 0..${BYTE_NUM_TAGS - 1}`);
    return BYTE_TAG0 + k;
  }
  special(id: number): string {
    if (id === BYTE_BOS) return '<bos>';
    if (id === BYTE_EOS) return '<eos>';
    if (id === BYTE_PAD) return '<pad>';
    if (id >= BYTE_TAG0 && id < BYTE_VOCAB) return `<tag:${id - BYTE_TAG0}>`;
    return `<unk:${id}>`;
  }
}

/** a transformers tokenizer.json (+ optional tokenizer_config.json) from a folder */
export function loadHfTokenizer(dir: string): TextTokenizer {
  const tj = join(dir, 'tokenizer.json');
  if (!existsSync(tj)) throw new OpError('BAD_ARGS', `tokenizer ${dir}: no tokenizer.json`);
  const json = JSON.parse(readFileSync(tj, 'utf8'));
  const cp = join(dir, 'tokenizer_config.json');
  const config = existsSync(cp) ? JSON.parse(readFileSync(cp, 'utf8')) : {};
  const tok = new HfTokenizer(json, config);
  const idOf = (t: unknown): number | null => {
    const s = typeof t === 'string' ? t : t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string' ? (t as { content: string }).content : null;
    if (s === null) return null;
    const id = tok.token_to_id(s);
    return typeof id === 'number' ? id : null;
  };
  // vocabulary size: one more than the largest id of the model vocab and the added tokens
  let vocabSize = 0;
  for (const id of Object.values((json.model?.vocab ?? {}) as Record<string, number>)) vocabSize = Math.max(vocabSize, id + 1);
  for (const t of (json.added_tokens ?? []) as { id: number }[]) vocabSize = Math.max(vocabSize, t.id + 1);
  return {
    name: `tokenizer.json (${dir})`,
    vocabSize,
    bos: idOf(config.bos_token),
    eos: idOf(config.eos_token),
    pad: idOf(config.pad_token),
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tok.decode([...ids]),
  };
}

/** the byte tokenizer, or the tokenizer.json in `dir` */
export function getTokenizer(dir?: string): TextTokenizer {
  return dir ? loadHfTokenizer(dir) : new ByteTokenizer();
}

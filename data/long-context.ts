// Synthetic long-context tasks in the style of RULER (Hsieh et al. 2024), small:
//   passkey     a 5-digit pass key hidden in filler text; recall it at the end
//   multikey    several "special magic number for KEY is: VALUE" needles; recall one key's value
//   vartrack    variable tracking: VAR X1 = 12345, later VAR X2 = VAR X1, ...; name the chain
// Each sample is generated from (task, length, seed): a prompt of about `length` tokens
// whose last tokens are followed by the answer. Scoring is greedy teacher-forced exact
// match: every answer token must be the argmax of the logits at the position before it
// (the same as greedy decoding producing the answer).

import { OpError } from '../io/errors.ts';
import { Rng } from '../reference/rng.ts';
import type { TextTokenizer } from './tokenizer.ts';

export const TASKS = ['passkey', 'multikey', 'vartrack'] as const;
export type Task = (typeof TASKS)[number];

export interface Sample {
  task: Task;
  /** prompt + answer tokens; the answer occupies [answerStart, ids.length) */
  ids: number[];
  answerStart: number;
  answer: string;
}

const FILLER = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ';
const WORDS = ['apple', 'river', 'stone', 'cloud', 'maple', 'tiger', 'ocean', 'piano', 'amber', 'delta', 'ember', 'frost', 'harbor', 'ivory', 'jade', 'lunar'];

/** filler tokens with needle texts inserted at seeded depths, fitting `budget` tokens */
function haystack(tok: TextTokenizer, budget: number, needles: string[], rng: Rng): number[] {
  const needleIds = needles.map((n) => tok.encode(n));
  const need = needleIds.reduce((a, n) => a + n.length, 0);
  const fillUnit = tok.encode(FILLER);
  if (!fillUnit.length) throw new OpError('BAD_ARGS', 'long-context tasks: the tokenizer encodes the filler text to no tokens; use another --tokenizer');
  const fillLen = Math.max(0, budget - need);
  // (loops, not push(...xs): a spread of a long array overflows the call stack)
  const fill: number[] = new Array(fillLen);
  for (let i = 0; i < fillLen; i++) fill[i] = fillUnit[i % fillUnit.length];
  // insertion points on sentence boundaries where possible, sorted
  const points = needleIds.map(() => rng.int(0, fillLen)).sort((a, b) => a - b);
  const out: number[] = [];
  let at = 0;
  const append = (xs: number[], from = 0, to = xs.length) => {
    for (let i = from; i < to; i++) out.push(xs[i]);
  };
  points.forEach((p, i) => {
    append(fill, at, p);
    append(needleIds[i]);
    at = p;
  });
  append(fill, at);
  return out;
}

/** one sample of `task` with about `length` tokens in all */
export function makeSample(task: Task, length: number, seed: number, tok: TextTokenizer): Sample {
  const rng = new Rng(seed);
  const num = () => String(rng.int(10000, 99999));
  let needles: string[];
  let question: string;
  let answer: string;
  switch (task) {
    case 'passkey': {
      answer = num();
      needles = [`The pass key is ${answer}. Remember it. ${answer} is the pass key. `];
      question = 'What is the pass key? The pass key is ';
      break;
    }
    case 'multikey': {
      const pool = rng.shuffle([...WORDS]);
      const keys = pool.slice(0, 4);
      const vals = keys.map(() => num());
      needles = keys.map((k, i) => `One of the special magic numbers for ${k} is: ${vals[i]}. `);
      const q = rng.int(0, keys.length - 1);
      answer = vals[q];
      question = `What is the special magic number for ${keys[q]}? The special magic number for ${keys[q]} is: `;
      break;
    }
    case 'vartrack': {
      const value = num();
      const names = Array.from({ length: 4 }, () => Array.from({ length: 5 }, () => String.fromCharCode(65 + rng.int(0, 25))).join(''));
      needles = [`VAR ${names[0]} = ${value}. `, ...names.slice(1).map((n, i) => `VAR ${n} = VAR ${names[i]}. `)];
      answer = names.join(' ');
      question = `Find all variables that are assigned the value ${value}. Answer: `;
      break;
    }
  }
  const bos = tok.bos !== null ? [tok.bos] : [];
  const q = tok.encode(question);
  const a = tok.encode(answer);
  const budget = Math.max(0, length - bos.length - q.length - a.length);
  const ids = bos.concat(haystack(tok, budget, needles, rng), q, a);
  return { task, ids, answerStart: ids.length - a.length, answer };
}

/** exact match: the argmax at every position before an answer token is that token */
export function scoreSample(s: Sample, logits: Float64Array, V: number): boolean {
  for (let t = s.answerStart; t < s.ids.length; t++) {
    const o = (t - 1) * V;
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[o + v] > logits[o + best]) best = v;
    if (best !== s.ids[t]) return false;
  }
  return true;
}

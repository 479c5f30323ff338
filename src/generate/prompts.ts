// Token ids of LaTRO's prompts x and answers y. The query goes through the model's chat template
// with a generation prompt when the tokenizer has one (as the original stores templated queries),
// else the plain prompt with the tokenizer's bos; y = "The answer is {answer}." + the end token
// (the original's `get_end_token`: the eos token).
import type { LatroExample } from "../data/example.ts";
import { encodeChat } from "../tokenizer/chat.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export function encodeQuery(tokenizer: Tokenizer, example: LatroExample): number[] {
  if (tokenizer.chatTemplate) return encodeChat(tokenizer, example.query.messages, { addGenerationPrompt: true });
  return tokenizer.encode(example.query.plainPrompt);
}

export function encodeAnswer(tokenizer: Tokenizer, example: LatroExample): Int32Array {
  const ids = tokenizer.encode(example.response, { addSpecialTokens: false });
  if (tokenizer.eos) ids.push(tokenizer.eos.id);
  return Int32Array.from(ids);
}

/** Left-pads rows of ids to a common length: [rows, len]. */
export function leftPad(rows: readonly ArrayLike<number>[], pad: number): { ids: Int32Array; len: number } {
  const len = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * len).fill(pad);
  rows.forEach((r, i) => ids.set(Array.from(r), i * len + len - r.length));
  return { ids, len };
}

/** Queries [rows, qLen] left-padded and the answer ids of every row. */
export function encodePrompts(
  tokenizer: Tokenizer,
  examples: readonly LatroExample[],
): { queries: Int32Array; qLen: number; answers: Int32Array[] } {
  const cache = new Map<LatroExample, { q: number[]; a: Int32Array }>();
  const enc = examples.map((e) => {
    let c = cache.get(e);
    if (!c) cache.set(e, (c = { q: encodeQuery(tokenizer, e), a: encodeAnswer(tokenizer, e) }));
    return c;
  });
  const { ids, len } = leftPad(enc.map((c) => c.q), tokenizer.pad.id);
  return { queries: ids, qLen: len, answers: enc.map((c) => c.a) };
}

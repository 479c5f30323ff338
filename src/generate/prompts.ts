// Token ids of LaTRO's prompts x and answers y. The query goes through the model's chat template
// with a generation prompt when the tokenizer has one (as the original stores templated queries),
// else the plain prompt with the tokenizer's bos; y = "The answer is {answer}." + the end token
// (the original's `get_end_token`): y completes the assistant's turn, so with a chat template it ends
// with the end-of-turn token the template closes turns with (<|end|> for Phi-3/3.5, whose eos is
// <|endoftext|>; <|eot_id|> for Llama 3; <|im_end|> for Qwen), else with the eos token.
import type { LatroExample } from "../data/example.ts";
import { encodeChat } from "../tokenizer/chat.ts";
import { END_OF_TURN_TOKENS, type Tokenizer } from "../tokenizer/tokenizer.ts";

export function encodeQuery(tokenizer: Tokenizer, example: LatroExample): number[] {
  if (tokenizer.chatTemplate) return encodeChat(tokenizer, example.query.messages, { addGenerationPrompt: true });
  return tokenizer.encode(example.query.plainPrompt);
}

/**
 * The id y ends with: the first end-of-turn special token that the chat template writes, when the
 * tokenizer has a template; else eos (null without one).
 */
export function answerEndId(tokenizer: Tokenizer): number | null {
  const template = tokenizer.chatTemplate;
  if (template !== null) {
    for (const token of END_OF_TURN_TOKENS) {
      const id = tokenizer.tokenToId(token);
      if (id !== undefined && template.includes(token)) return id;
    }
  }
  return tokenizer.eos?.id ?? null;
}

export function encodeAnswer(tokenizer: Tokenizer, example: LatroExample): Int32Array {
  const ids = tokenizer.encode(example.response, { addSpecialTokens: false });
  const end = answerEndId(tokenizer);
  if (end !== null) ids.push(end);
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

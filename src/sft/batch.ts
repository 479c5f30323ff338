// Language-model batches with a loss mask: rows of prompt ⊕ target token ids, truncated to a maximum
// length and left-padded to a common one, plus which next-token predictions the loss counts.
//
// Position t of a row predicts token t + 1 (Transformer.logprobs), so mask[t] = 1 exactly when
// token t + 1 is a target token — or, with `lossOnPrompt`, any token after the first. Truncation keeps
// the first maxLength tokens (as transformers truncates on the right), so a row whose prompt fills
// maxLength has no target tokens left and contributes nothing.
import type { LatroExample } from "../data/example.ts";
import { encodeAnswer, encodeQuery } from "../generate/prompts.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

/** One training sequence: the prompt (no loss unless asked) and the target (loss). */
export interface LmExample {
  prompt: readonly number[];
  target: readonly number[];
}

export interface LmBatch {
  B: number;
  T: number;
  /** [B, T] token ids, left-padded with the tokenizer's pad. */
  tokens: Int32Array;
  /** [B·T] 1 where the prediction at t (of token t + 1) is in the loss, else 0. */
  mask: Float32Array;
  /** Σ mask: predictions in the loss. */
  lossTokens: number;
  /** Non-pad tokens: what the forward pass processes. */
  seqTokens: number;
}

/** x = the chat-templated query (encodeQuery), target = the response + end token (encodeAnswer). */
export function encodeExample(tokenizer: Tokenizer, example: LatroExample): LmExample {
  return { prompt: encodeQuery(tokenizer, example), target: Array.from(encodeAnswer(tokenizer, example)) };
}

export function lmBatch(rows: readonly LmExample[], pad: number, maxLength: number, lossOnPrompt = false): LmBatch {
  if (rows.length === 0) throw new Error("lmBatch: no rows");
  const seqs = rows.map((r) => [...r.prompt, ...r.target].slice(0, maxLength));
  const B = rows.length;
  const T = Math.max(2, ...seqs.map((s) => s.length));
  const tokens = new Int32Array(B * T).fill(pad);
  const mask = new Float32Array(B * T);
  let lossTokens = 0;
  let seqTokens = 0;
  seqs.forEach((seq, b) => {
    const offset = b * T + T - seq.length;
    tokens.set(seq, offset);
    seqTokens += seq.length;
    const firstInLoss = lossOnPrompt ? 1 : rows[b].prompt.length;
    for (let i = Math.max(1, firstInLoss); i < seq.length; i++) {
      mask[offset + i - 1] = 1;
      lossTokens++;
    }
  });
  return { B, T, tokens, mask, lossTokens, seqTokens };
}

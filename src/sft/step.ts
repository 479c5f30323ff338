// The gradient passes of one update of next-token cross-entropy over micro-batches (gradient
// accumulation), for the training loop (train/loop.ts) to run before its optimizer step:
//
//   loss = −(1/N) Σ_batches Σ_t mask_t · log π(token t+1 | tokens ≤ t),  N = Σ mask over all micro-batches
//
// i.e. the mean NLL over every target token of the update, however the tokens fall into
// micro-batches (transformers ≥ 4.46 normalises by the update's token count the same way). Backward
// gets the weights −mask_t / N as the gradient of the per-token log-probs.
import { scopeAsync } from "../autograd/scope.ts";
import { backward } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { tokenBatch } from "../model/batch.ts";
import type { Transformer } from "../model/transformer.ts";
import type { LmBatch } from "./batch.ts";

export interface LmPasses {
  /** Forward and backward of each micro-batch that has target tokens. */
  passes: (() => Promise<void>)[];
  /** Mean NLL per target token (nats) under the weights the passes ran with; once they all ran. */
  loss(): number;
  /** Target tokens in the loss. */
  lossTokens: number;
  /** Non-pad tokens processed. */
  seqTokens: number;
}

export function lmPasses(model: Transformer, batches: readonly LmBatch[], pad: number): LmPasses {
  const lossTokens = batches.reduce((n, b) => n + b.lossTokens, 0);
  const seqTokens = batches.reduce((n, b) => n + b.seqTokens, 0);
  if (lossTokens === 0) throw new Error("no target tokens in this update (every target was truncated away; raise the maximum length)");
  let nllSum = 0;
  const passes = batches
    .filter((batch) => batch.lossTokens > 0)
    .map((batch) => async () => {
      nllSum += await scopeAsync(async () => {
        const logprobs = model.logprobs(tokenBatch(batch.tokens, batch.B, batch.T, pad));
        backward(logprobs, Tensor.fromArray(batch.mask.map((m) => -m / lossTokens), logprobs.shape));
        const lp = (await logprobs.toArray()) as Float32Array;
        let s = 0;
        for (let i = 0; i < lp.length; i++) s -= batch.mask[i] * lp[i];
        return s;
      });
    });
  return { passes, loss: () => nllSum / lossTokens, lossTokens, seqTokens };
}

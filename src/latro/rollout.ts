// Rollout and scoring of one LaTRO batch: sample K rationales per prompt, cut them at stop tokens and
// stop sequences, assemble x ⊕ z ⊕ y, and score log π(z|x), log π₀(z|x) and log π(y|x⊕z).
// Rationales are scored under logits / temperature, the distribution they were sampled from (as
// TRL's GRPO and verl do), so log π(z|x), the KL term and the policy gradient are on-policy; the
// answer is scored at temperature 1 (the self-reward is the model's own likelihood of y).
import { noGrad } from "../autograd/tape.ts";
import { scopeAsync } from "../autograd/scope.ts";
import { generate } from "../generate/generate.ts";
import { repeatedPrompts } from "../generate/repeated-prompts.ts";
import { truncateResponses } from "../glue/tokens.ts";
import type { Rng } from "../data/rng.ts";
import type { Transformer } from "../model/transformer.ts";
import { tokenBatch } from "../model/batch.ts";
import { assembleSequences, type AssembledBatch, rowLengths, selectRows, sequenceLogprobs, tokenTemperatures } from "./sequences.ts";

export interface RolloutOptions {
  responseLength: number;
  /** Sampling temperature (> 0); rationales are also scored at it. */
  temperature: number;
  rolloutBatchSize: number;
  /** Rows per no-grad scoring forward pass. */
  scoreBatchSize: number;
  stopTokenIds: number[];
  stopSeqs: number[][];
  pad: number;
}

export interface Rollout {
  batch: AssembledBatch;
  /** The raw sampled continuations [rows, responseLength] (for logging). */
  responses: Int32Array;
  stopped: boolean[];
  logpRationale: Float64Array;
  refLogpRationale: Float64Array;
  logpAnswer: Float64Array;
}

/**
 * queries: [rows, qLen] left-padded prompt ids, each prompt repeated rloo_k times consecutively;
 * answers: the ids of y for each row. `reference` is the frozen initial policy, or null when kl_coef = 0
 * (then log π₀ = log π and the KL term vanishes, without a second forward pass).
 */
export async function rolloutBatch(
  policy: Transformer,
  reference: Transformer | null,
  queries: Int32Array,
  qLen: number,
  answers: readonly Int32Array[],
  rng: Rng,
  o: RolloutOptions,
): Promise<Rollout> {
  const rows = answers.length;
  const L = o.responseLength;
  const responses = new Int32Array(rows * L);
  for (let r0 = 0; r0 < rows; r0 += o.rolloutBatchSize) {
    const n = Math.min(o.rolloutBatchSize, rows - r0);
    // Each prompt is prefilled once for its consecutive repeats (the same result as one row each).
    const { prompts, P, K } = repeatedPrompts(queries.subarray(r0 * qLen, (r0 + n) * qLen), n, qLen);
    const gen = await generate(policy, prompts, P, qLen, {
      samplesPerPrompt: K,
      maxNewTokens: L,
      temperature: o.temperature,
      rng,
      stopTokenIds: o.stopTokenIds,
      stopSeqs: o.stopSeqs,
      pad: o.pad,
    });
    responses.set(gen.tokens, r0 * L);
  }
  const cut = cutRationales(responses, rows, L, o);
  const batch = assembleSequences(queries, qLen, cut.tokens, L, cut.rationaleLen, answers, o.pad);
  const policyScores = await scoreSequences(policy, batch, o.scoreBatchSize, o.temperature);
  const refScores = reference ? await scoreSequences(reference, batch, o.scoreBatchSize, o.temperature) : policyScores;
  return {
    batch,
    responses,
    stopped: Array.from(cut.stopped, (s) => s === 1),
    logpRationale: policyScores.rationale,
    refLogpRationale: refScores.rationale,
    logpAnswer: policyScores.answer,
  };
}

/**
 * Rationales from sampled responses [rows, L]: each row cut before its first stop token or stop
 * sequence (the stop itself is not part of z), pads after the cut. rationaleLen = the cut's index
 * (0 when the response starts with a stop, L when nothing stopped it).
 */
export function cutRationales(
  responses: Int32Array,
  rows: number,
  L: number,
  o: Pick<RolloutOptions, "stopTokenIds" | "stopSeqs" | "pad">,
): { tokens: Int32Array; rationaleLen: Int32Array; stopped: Uint8Array } {
  const cut = truncateResponses(responses, rows, L, o.stopTokenIds, o.stopSeqs, o.pad);
  return { tokens: cut.tokens, rationaleLen: Int32Array.from(cut.lastKept, (k) => k + 1), stopped: cut.stopped };
}

/**
 * Per-row sums of log π over the rationale (at `temperature`) and answer (at 1) ranges, by no-grad
 * forward passes over `rowsPerPass` rows at a time. Rows go to the passes longest first, so rows of
 * similar length share a pass and each pass is as long as its longest row.
 */
export async function scoreSequences(
  model: Transformer,
  batch: AssembledBatch,
  rowsPerPass: number,
  temperature: number,
): Promise<{ rationale: Float64Array; answer: Float64Array }> {
  const rationale = new Float64Array(batch.rows);
  const answer = new Float64Array(batch.rows);
  const lengths = rowLengths(batch);
  const order = Array.from({ length: batch.rows }, (_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  for (let r0 = 0; r0 < batch.rows; r0 += rowsPerPass) {
    const idx = order.slice(r0, r0 + rowsPerPass);
    const sub = selectRows(batch, idx);
    const lp = await scopeAsync(async () => {
      const tb = tokenBatch(sub.tokens, sub.rows, sub.len, sub.pad, tokenTemperatures(sub, temperature));
      return (await noGrad(() => model.logprobs(tb)).toArray()) as Float32Array;
    });
    const sums = sequenceLogprobs(sub, lp);
    idx.forEach((row, j) => {
      rationale[row] = sums.rationale[j];
      answer[row] = sums.answer[j];
    });
  }
  return { rationale, answer };
}

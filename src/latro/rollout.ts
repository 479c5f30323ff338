// Rollout and scoring of one LaTRO batch: sample K rationales per prompt, cut them at stop tokens and
// stop sequences, assemble x ⊕ z ⊕ y, and score log π(z|x), log π₀(z|x) and log π(y|x⊕z).
import { noGrad } from "../autograd/tape.ts";
import { scopeAsync } from "../autograd/scope.ts";
import { generate } from "../generate/generate.ts";
import { repeatedPrompts } from "../generate/repeated-prompts.ts";
import { truncateResponses } from "../glue/tokens.ts";
import type { Rng } from "../data/rng.ts";
import type { Transformer } from "../model/transformer.ts";
import { tokenBatch } from "../model/batch.ts";
import { assembleSequences, type AssembledBatch, selectRows, sequenceLogprobs } from "./sequences.ts";

export interface RolloutOptions {
  responseLength: number;
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
  const cut = truncateResponses(responses, rows, L, o.stopTokenIds, o.stopSeqs, o.pad);
  const rationaleLen = Int32Array.from(cut.lastKept, (k) => k + 1);
  const batch = assembleSequences(queries, qLen, cut.tokens, L, rationaleLen, answers, o.pad);
  const policyScores = await scoreSequences(policy, batch, o.scoreBatchSize, o.pad);
  const refScores = reference ? await scoreSequences(reference, batch, o.scoreBatchSize, o.pad) : policyScores;
  return {
    batch,
    responses,
    stopped: Array.from(cut.stopped, (s) => s === 1),
    logpRationale: policyScores.rationale,
    refLogpRationale: refScores.rationale,
    logpAnswer: policyScores.answer,
  };
}

/** Per-row sums of log π over the rationale and answer ranges, by no-grad forward passes. */
export async function scoreSequences(
  model: Transformer,
  batch: AssembledBatch,
  rowsPerPass: number,
  pad: number,
): Promise<{ rationale: Float64Array; answer: Float64Array }> {
  const logprobs = new Float32Array(batch.rows * batch.len);
  for (let r0 = 0; r0 < batch.rows; r0 += rowsPerPass) {
    const idx = Array.from({ length: Math.min(rowsPerPass, batch.rows - r0) }, (_, j) => r0 + j);
    const sub = selectRows(batch, idx);
    const lp = await scopeAsync(async () => {
      const tb = tokenBatch(sub.tokens, sub.rows, sub.len, pad);
      return (await noGrad(() => model.logprobs(tb)).toArray()) as Float32Array;
    });
    logprobs.set(lp, r0 * batch.len);
  }
  return sequenceLogprobs(batch, logprobs);
}

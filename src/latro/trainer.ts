// One LaTRO update (the original's LatroTrainer.train loop body), top to bottom:
//   1. draw prompts, repeat each rloo_k times          (prompt-major: a prompt's k rows are consecutive)
//   2. rollout: sample rationales z ~ π(·|x), cut at stop tokens / stop sequences
//   3. reward: log π(y|x⊕z) − kl_coef·(log π(z|x) − log π₀(z|x)), non-stop penalty, RLOO advantages
//   4. update: shuffled micro-batches, loss = mean(−A·log π(z|x)) + sft_penalty·mean(−log π(y|x⊕z));
//      the training loop (train/loop.ts) runs them, accumulating gradients, then one AdamW step
//   5. metrics under the original's names; at evaluation updates, the sampled rationales and the
//      validation accuracy (the score checkpoint-best keeps the best of)
// Every random choice is a named stream of the run's seed (Rng.stream): the prompt order of each epoch,
// and the sampling and the micro-batch order of each update, so a resumed run repeats the
// uninterrupted one exactly from its checkpoint.
import { backward } from "../autograd/tape.ts";
import { scopeAsync } from "../autograd/scope.ts";
import { Tensor } from "../autograd/tensor.ts";
import { Rng, shuffleInPlace } from "../data/rng.ts";
import type { Dataset, LatroExample } from "../data/example.ts";
import { evaluateModel } from "../eval/evaluate.ts";
import { tokenBatch } from "../model/batch.ts";
import type { Transformer } from "../model/transformer.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { TrainTask, UpdatePlan } from "../train/loop.ts";
import { type TrainConfig, type TrainSchedule } from "./config.ts";
import { updateMetrics, summaryLine, type SampleRow, METRIC } from "./metrics.ts";
import { latroLoss, rolloutRewards } from "./reward.ts";
import { rolloutBatch, type RolloutOptions } from "./rollout.ts";
import { selectRows, tokenLossWeights, tokenTemperatures } from "./sequences.ts";
import { encodePrompts } from "../generate/prompts.ts";

export interface LatroContext {
  config: TrainConfig;
  schedule: TrainSchedule;
  policy: Transformer;
  /** π₀: the base with the adapters off (LoRA), or the initial weights frozen; null when kl_coef = 0. */
  reference: Transformer | null;
  tokenizer: Tokenizer;
  train: readonly LatroExample[];
  validation: Dataset;
  rollout: RolloutOptions;
  /** Updates already done (0, or the step of the checkpoint resumed from). */
  startStep: number;
}

/** The prompts of update `step`: the next promptsPerUpdate of a seeded per-epoch permutation. */
export function promptsForStep(n: number, seed: number, step: number, perUpdate: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < perUpdate; j++) {
    const k = (step - 1) * perUpdate + j;
    const epoch = Math.floor(k / n);
    out.push(epochPermutation(n, seed, epoch)[k % n]);
  }
  return out;
}

const permutations = new Map<string, number[]>();
function epochPermutation(n: number, seed: number, epoch: number): number[] {
  const key = `${n}:${seed}:${epoch}`;
  let p = permutations.get(key);
  if (!p) {
    p = shuffleInPlace(Array.from({ length: n }, (_, i) => i), Rng.stream(seed, "prompt-order", epoch));
    permutations.set(key, p);
  }
  return p;
}

/** LaTRO as a task of the training loop. */
export function latroTask(ctx: LatroContext): TrainTask {
  const startSeconds = performance.now() / 1000;
  const startEpisode = ctx.startStep * ctx.schedule.rolloutsPerUpdate;
  return {
    plan: (step, lr) => latroUpdate(ctx, step, lr, { startSeconds, startEpisode }),
    evaluate: async (step) => {
      const ev = await evaluateModel(ctx.policy, ctx.tokenizer, ctx.validation, {
        batchSize: ctx.config.perDeviceEvalBatchSize,
        maxNewTokens: ctx.config.responseLength,
      });
      return {
        metrics: { [METRIC.zeroShotAcc]: ev.greedy.accuracy, [METRIC.step]: step },
        score: { metric: METRIC.zeroShotAcc, value: ev.greedy.accuracy },
      };
    },
    summary: summaryLine,
  };
}

/** Update `step`: steps 1–3 now, step 4's micro-batches and step 5's metrics for the loop to run. */
export async function latroUpdate(
  ctx: LatroContext,
  step: number,
  lr: number,
  since: { startSeconds: number; startEpisode: number },
): Promise<UpdatePlan> {
  const { config, schedule, policy, tokenizer } = ctx;
  const k = config.rlooK;

  // 1. Prompts, each repeated rloo_k times.
  const picked = promptsForStep(ctx.train.length, config.seed, step, schedule.promptsPerUpdate);
  const examples = picked.flatMap((i) => Array<LatroExample>(k).fill(ctx.train[i]));
  const { queries, qLen, answers } = encodePrompts(tokenizer, examples);

  // 2–3. Rollout and rewards.
  const t0 = performance.now();
  const ro = await rolloutBatch(policy, ctx.reference, queries, qLen, answers, Rng.stream(config.seed, "rollout", step), ctx.rollout);
  const rewards = rolloutRewards({ logpAnswer: ro.logpAnswer, logpRationale: ro.logpRationale, refLogpRationale: ro.refLogpRationale, stopped: ro.stopped }, {
    klCoef: config.klCoef,
    nonStopPenalty: config.nonStopPenalty,
    penaltyRewardValue: config.penaltyRewardValue,
    rlooK: k,
  });
  const rolloutSeconds = (performance.now() - t0) / 1000;

  // 4. Update: shuffled micro-batches of the loss; the loop accumulates their gradients and steps.
  const order = shuffleInPlace(Array.from({ length: ro.batch.rows }, (_, i) => i), Rng.stream(config.seed, "micro-batches", step));
  // The LoRA dropout masks of each micro-batch's forward (and its recompute under checkpointing).
  const dropoutRng = Rng.stream(config.seed, "lora-dropout", step);
  const dropoutSeeds = Array.from({ length: schedule.microBatchesPerUpdate }, () => dropoutRng.nextUint32());
  const policyLosses: number[] = [];
  const sftLosses: number[] = [];
  const microBatches = Array.from({ length: schedule.microBatchesPerUpdate }, (_, m) => async () => {
    const idx = order.slice(m * schedule.microBatchSize, (m + 1) * schedule.microBatchSize);
    const pick = <T extends ArrayLike<number>>(a: T) => idx.map((i) => a[i]);
    const loss = latroLoss(pick(rewards.advantages), pick(ro.logpRationale), pick(ro.logpAnswer), config.sftPenalty, schedule.rolloutsPerUpdate);
    policyLosses.push(loss.policyLoss);
    sftLosses.push(loss.sftLoss);
    const sub = selectRows(ro.batch, idx);
    policy.dropoutSeed = dropoutSeeds[m];
    await scopeAsync(async () => {
      const logprobs = policy.logprobs(tokenBatch(sub.tokens, sub.rows, sub.len, sub.pad, tokenTemperatures(sub, ctx.rollout.temperature)));
      const weights = tokenLossWeights(sub, loss.rationaleWeights, loss.answerWeights);
      backward(logprobs, Tensor.fromArray(weights, logprobs.shape));
    });
  });

  // 5. Metrics, and the rollouts as the original's "training_samples" table.
  const episode = step * schedule.rolloutsPerUpdate;
  return {
    microBatches,
    metrics: ({ gradNorm, seconds }) => ({
      ...updateMetrics({
        step,
        episode,
        trainDatasetSize: ctx.train.length,
        episodesThisProcess: episode - since.startEpisode,
        secondsThisProcess: performance.now() / 1000 - since.startSeconds,
        lr,
        klPenalty: rewards.klPenalty,
        adjustedRewards: rewards.adjustedRewards,
        advantages: rewards.advantages,
        stopped: ro.stopped,
        rationaleLengths: ro.batch.rationaleLen,
        policyLosses,
        sftLosses,
      }),
      grad_norm: gradNorm,
      "time/rollout": rolloutSeconds,
      "time/update": seconds,
    }),
    samples: config.logSampleRationales ? () => sampleRows(ctx, examples, ro, rewards.adjustedRewards, rewards.advantages) : undefined,
  };
}

function sampleRows(
  ctx: LatroContext,
  examples: readonly LatroExample[],
  ro: Awaited<ReturnType<typeof rolloutBatch>>,
  rewards: Float64Array,
  advantages: Float64Array,
): SampleRow[] {
  const { tokenizer } = ctx;
  const L = ctx.rollout.responseLength;
  const text = (ids: Int32Array) => tokenizer.decode(ids, { skipSpecialTokens: true });
  const rows: SampleRow[] = [];
  for (let i = 0; i < Math.min(ro.batch.rows, ctx.config.rlooK); i++) {
    const z = ro.batch.rationaleLen[i];
    const yStart = ro.batch.len - ro.batch.answerLen[i];
    const seq = ro.batch.tokens.subarray(i * ro.batch.len, (i + 1) * ro.batch.len);
    rows.push({
      query: text(seq.subarray(0, yStart - z)),
      model_response: text(ro.responses.subarray(i * L, (i + 1) * L)),
      postprocessed_response: text(seq.subarray(yStart - z, yStart)),
      assembled_sequences: text(seq),
      groundtruth: examples[i].groundtruth,
      reward: rewards[i],
      advantage: advantages[i],
    });
  }
  return rows;
}

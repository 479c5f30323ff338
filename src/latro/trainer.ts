// The LaTRO training loop (the original's LatroTrainer.train), top to bottom per update:
//   1. draw prompts, repeat each rloo_k times          (prompt-major: a prompt's k rows are consecutive)
//   2. rollout: sample rationales z ~ π(·|x), cut at stop tokens / stop sequences
//   3. reward: log π(y|x⊕z) − kl_coef·(log π(z|x) − log π₀(z|x)), non-stop penalty, RLOO advantages
//   4. update: shuffled micro-batches, loss = mean(−A·log π(z|x)) + sft_penalty·mean(−log π(y|x⊕z)),
//      gradients accumulated, one AdamW step (clipped, scheduled learning rate)
//   5. log metrics; evaluate, checkpoint, sample rationales on schedule
// Every random choice of update u comes from Rng(seed, u), so a resumed run repeats the
// uninterrupted one exactly from its checkpoint.
import { backward, zeroGrad } from "../autograd/tape.ts";
import { scopeAsync } from "../autograd/scope.ts";
import { Tensor } from "../autograd/tensor.ts";
import { Rng } from "../data/rng.ts";
import type { Dataset, LatroExample } from "../data/example.ts";
import { tokenBatch } from "../model/batch.ts";
import type { Transformer } from "../model/transformer.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { AdamW } from "../optim/adamw.ts";
import { ProgressBar } from "../cli/progress.ts";
import { type TrainConfig, type TrainSchedule } from "./config.ts";
import { updateMetrics, MetricsWriter, summaryLine, type SampleRow, METRIC } from "./metrics.ts";
import { latroLoss, rolloutRewards } from "./reward.ts";
import { rolloutBatch, type RolloutOptions } from "./rollout.ts";
import { selectRows, tokenLossWeights, tokenTemperatures } from "./sequences.ts";
import { learningRateAt } from "./schedule.ts";
import { saveCheckpoint, type TrainerState } from "./checkpoint.ts";
import { encodePrompts } from "./prompts.ts";
import { evaluateModel } from "../eval/evaluate.ts";

export interface TrainerContext {
  config: TrainConfig;
  schedule: TrainSchedule;
  policy: Transformer;
  /** Frozen copy of the initial weights; null when kl_coef = 0. */
  reference: Transformer | null;
  tokenizer: Tokenizer;
  train: readonly LatroExample[];
  validation: Dataset;
  /** Where the policy's tokenizer files are (copied into checkpoints). */
  tokenizerDir: string;
  optimizer: AdamW;
  rollout: RolloutOptions;
  metrics: MetricsWriter;
  /** Updates already done (0, or the step of the checkpoint resumed from). */
  startStep: number;
  startSeconds: number;
}

/** A random source for update `step` (1-based), independent of how the run got there. */
export const stepRng = (seed: number, step: number) => new Rng(seed * 1_000_003 + step);

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

const permutations = new Map<string, Int32Array>();
function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  const key = `${n}:${seed}:${epoch}`;
  let p = permutations.get(key);
  if (!p) {
    const rng = new Rng(seed + 7919 * (epoch + 1));
    p = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    permutations.set(key, p);
  }
  return p;
}

/** Runs updates startStep+1 .. numUpdates; returns early (after saving) when `stop()` turns true. */
export async function trainLatro(ctx: TrainerContext, stop: () => boolean): Promise<TrainerState> {
  const { config, schedule, policy, optimizer, tokenizer } = ctx;
  const k = config.rlooK;
  const bar = new ProgressBar(schedule.numUpdates, "update", ctx.startStep);
  let state: TrainerState = { step: ctx.startStep, episode: ctx.startStep * schedule.rolloutsPerUpdate };
  for (let step = ctx.startStep + 1; step <= schedule.numUpdates; step++) {
    const rng = stepRng(config.seed, step);

    // 1. Prompts, each repeated rloo_k times.
    const picked = promptsForStep(ctx.train.length, config.seed, step, schedule.promptsPerUpdate);
    const examples = picked.flatMap((i) => Array<LatroExample>(k).fill(ctx.train[i]));
    const { queries, qLen, answers } = encodePrompts(tokenizer, examples);

    // 2–3. Rollout and rewards.
    const t0 = performance.now();
    const ro = await rolloutBatch(policy, ctx.reference, queries, qLen, answers, rng, ctx.rollout);
    const rewards = rolloutRewards({ logpAnswer: ro.logpAnswer, logpRationale: ro.logpRationale, refLogpRationale: ro.refLogpRationale, stopped: ro.stopped }, {
      klCoef: config.klCoef,
      nonStopPenalty: config.nonStopPenalty,
      penaltyRewardValue: config.penaltyRewardValue,
      rlooK: k,
    });
    const rolloutSeconds = (performance.now() - t0) / 1000;

    // 4. Update: shuffled micro-batches, gradients accumulated, one optimizer step.
    const t1 = performance.now();
    const order = Array.from({ length: ro.batch.rows }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const policyLosses: number[] = [];
    const sftLosses: number[] = [];
    for (let m = 0; m < schedule.microBatchesPerUpdate; m++) {
      const idx = order.slice(m * schedule.microBatchSize, (m + 1) * schedule.microBatchSize);
      const pick = <T extends ArrayLike<number>>(a: T) => idx.map((i) => a[i]);
      const loss = latroLoss(
        pick(rewards.advantages),
        pick(ro.logpRationale),
        pick(ro.logpAnswer),
        config.sftPenalty,
        schedule.rolloutsPerUpdate,
      );
      if (!Number.isFinite(loss.loss)) throw new Error(`step ${step}: loss is ${loss.loss} (micro-batch ${m})`);
      policyLosses.push(loss.policyLoss);
      sftLosses.push(loss.sftLoss);
      const sub = selectRows(ro.batch, idx);
      await scopeAsync(async () => {
        const logprobs = policy.logprobs(tokenBatch(sub.tokens, sub.rows, sub.len, sub.pad, tokenTemperatures(sub, ctx.rollout.temperature)));
        const weights = tokenLossWeights(sub, loss.rationaleWeights, loss.answerWeights);
        backward(logprobs, Tensor.fromArray(weights, logprobs.shape));
      });
    }
    const lr = learningRateAt(schedule.lr, step);
    optimizer.update(lr);
    const gradNorm = await optimizer.lastGradNorm();
    if (!Number.isFinite(gradNorm)) throw new Error(`step ${step}: gradient norm is ${gradNorm}; ${await firstBadGradient(policy)}`);
    zeroGrad(policy.parameters());
    const updateSeconds = (performance.now() - t1) / 1000;

    // 5. Log.
    state = { step, episode: step * schedule.rolloutsPerUpdate };
    const metrics = {
      ...updateMetrics({
        step,
        episode: state.episode,
        trainDatasetSize: ctx.train.length,
        secondsSinceStart: (performance.now() / 1000) - ctx.startSeconds,
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
      "time/update": updateSeconds,
    };
    ctx.metrics.write(metrics);
    if (schedule.logEvery > 0 && step % schedule.logEvery === 0) bar.log(summaryLine(metrics));
    if (config.logSampleRationales && (step === 1 || step % Math.max(1, schedule.evalEvery) === 0)) {
      ctx.metrics.writeSamples(step, sampleRows(ctx, examples, ro, rewards.adjustedRewards, rewards.advantages));
    }
    if (schedule.evalEvery > 0 && (step - 1) % schedule.evalEvery === 0) {
      const ev = await evaluateModel(policy, tokenizer, ctx.validation, {
        batchSize: config.perDeviceEvalBatchSize,
        maxNewTokens: config.responseLength,
      });
      const evalMetrics = { [METRIC.zeroShotAcc]: ev.greedy.accuracy, [METRIC.step]: step };
      ctx.metrics.write(evalMetrics);
      bar.log(summaryLine(evalMetrics));
    }
    bar.tick();
    const last = step === schedule.numUpdates;
    if (last || (schedule.saveEvery > 0 && step % schedule.saveEvery === 0) || stop()) {
      await saveCheckpoint(config.outputDir, { config, policy, optimizer, tokenizerDir: ctx.tokenizerDir }, state);
      if (stop() && !last) {
        bar.log(`interrupted: saved checkpoint at step ${step}`);
        break;
      }
    }
  }
  bar.done();
  return state;
}

/** Names the first parameter whose gradient holds NaN or Inf (only called once a step has failed). */
export async function firstBadGradient(model: Transformer): Promise<string> {
  for (const p of model.parameters()) {
    if (!p.grad) continue;
    const g = (await p.grad.toArray()) as Float32Array;
    const bad = g.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) return `first non-finite gradient: ${p.name} at element ${bad} (${g[bad]})`;
  }
  return "no single gradient is non-finite (the sum overflowed)";
}

function sampleRows(
  ctx: TrainerContext,
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

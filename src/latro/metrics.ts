// Training metrics under the original's names, and the writer that records them.
//
// Names and formulas follow LaTRO's latro_trainer.py ("Part 3: Logging metrics") and
// base_trainer.py (`evaluation`, `log_training_samples`); `epoch` and `step` are what
// transformers' `Trainer.log` adds to every record. Per update, with N rollouts (prompts × rloo_k):
//   eps                         episodes per second, over this process's own updates (a float; the
//                               original's int(episode / seconds) overcounts after a resume)
//   objective/kl_penalty        mean(−kl_coef · kl)                 (≤ 0 on average: it is the penalty)
//   objective/rlhf_reward       mean(adjustedRewards)               (reward after non-stop penalty + KL)
//   objective/advantage_avg     mean(advantages)                    (≈ 0 by construction)
//   loss/policy_avg             mean over micro-batches of the policy (RLOO) loss
//   loss/sft_avg                mean over micro-batches of −mean logπ(y|x⊕z)
//   val/num_stop_tokens         number of rationales that stopped
//   val/perc_finished_thoughts  that number / N                     (a fraction, despite the name)
//   val/avg_rationale_length    mean rationale length in tokens, stop excluded; response_length if none
//   lr                          learning rate of this update
//   episode                     rollouts sampled so far (N per update, as TRL counts episodes)
//   epoch                       episode / training-set size
//   step                        updates so far
// per evaluation: eval/zero_shot_acc (fraction of correct extracted answers, greedy, validation
// split; the original's objective/eval_reward is not computed), and once at the end of a run that
// evaluated: test/zero_shot_acc of the final model and test/zero_shot_acc_best of checkpoint-best,
// the model with the best eval/zero_shot_acc, reached at update best_step.
//
// The training loop writes them to OUTPUT_DIR/metrics.jsonl, and the sampled rationales of
// evaluation updates to OUTPUT_DIR/samples.jsonl (the original's wandb "training_samples" table, one
// row per rollout; train/metrics-writer.ts).
import type { Metrics } from "../train/metrics-writer.ts";
import { mean } from "./reward.ts";

export const METRIC = {
  eps: "eps",
  klPenalty: "objective/kl_penalty",
  rlhfReward: "objective/rlhf_reward",
  advantageAvg: "objective/advantage_avg",
  policyLossAvg: "loss/policy_avg",
  sftLossAvg: "loss/sft_avg",
  numStopTokens: "val/num_stop_tokens",
  percFinishedThoughts: "val/perc_finished_thoughts",
  avgRationaleLength: "val/avg_rationale_length",
  lr: "lr",
  episode: "episode",
  epoch: "epoch",
  step: "step",
  zeroShotAcc: "eval/zero_shot_acc",
  testAcc: "test/zero_shot_acc",
  testAccBest: "test/zero_shot_acc_best",
  bestStep: "best_step",
} as const;

/** What one update leaves behind for logging. */
export interface UpdateRecord {
  /** Updates done, this one included. */
  step: number;
  /** Rollouts sampled so far, this update's included. */
  episode: number;
  trainDatasetSize: number;
  /** Rollouts sampled by this process (all of them, unless the run resumed) and the seconds they took. */
  episodesThisProcess: number;
  secondsThisProcess: number;
  lr: number;
  /** Per rollout (N rows). */
  klPenalty: ArrayLike<number>;
  adjustedRewards: ArrayLike<number>;
  advantages: ArrayLike<number>;
  stopped: ArrayLike<boolean>;
  rationaleLengths: ArrayLike<number>;
  /** Per micro-batch (gradient_accumulation_steps values). */
  policyLosses: ArrayLike<number>;
  sftLosses: ArrayLike<number>;
}

export function updateMetrics(u: UpdateRecord): Metrics {
  let numStopped = 0;
  for (let i = 0; i < u.stopped.length; i++) if (u.stopped[i]) numStopped++;
  return {
    [METRIC.eps]: u.episodesThisProcess / u.secondsThisProcess,
    [METRIC.klPenalty]: mean(u.klPenalty),
    [METRIC.rlhfReward]: mean(u.adjustedRewards),
    [METRIC.advantageAvg]: mean(u.advantages),
    [METRIC.policyLossAvg]: mean(u.policyLosses),
    [METRIC.sftLossAvg]: mean(u.sftLosses),
    [METRIC.numStopTokens]: numStopped,
    [METRIC.percFinishedThoughts]: numStopped / u.stopped.length,
    [METRIC.avgRationaleLength]: mean(u.rationaleLengths),
    [METRIC.lr]: u.lr,
    [METRIC.episode]: u.episode,
    [METRIC.epoch]: u.episode / u.trainDatasetSize,
    [METRIC.step]: u.step,
  };
}

/** One rollout as the original's "training_samples" table shows it. */
export interface SampleRow {
  query: string;
  /** The raw generated continuation, all response_length tokens. */
  model_response: string;
  /** The rationale z: the response cut before its first stop token or stop sequence. */
  postprocessed_response: string;
  /** x ⊕ z ⊕ y as scored. */
  assembled_sequences: string;
  /** The gold answer y. */
  groundtruth: string;
  reward: number;
  advantage: number;
}

/** A one-line console summary of an update's (or evaluation's) metrics, in a fixed order. */
export function summaryLine(metrics: Metrics): string {
  const fields: [string, string, (x: number) => string][] = [
    [METRIC.step, "step", String],
    [METRIC.epoch, "epoch", (x) => x.toFixed(2)],
    [METRIC.rlhfReward, "reward", (x) => x.toFixed(3)],
    [METRIC.klPenalty, "kl_pen", (x) => x.toFixed(4)],
    [METRIC.policyLossAvg, "policy", (x) => x.toFixed(3)],
    [METRIC.sftLossAvg, "sft", (x) => x.toFixed(3)],
    [METRIC.percFinishedThoughts, "finished", (x) => `${(100 * x).toFixed(0)}%`],
    [METRIC.avgRationaleLength, "len", (x) => x.toFixed(1)],
    [METRIC.lr, "lr", (x) => x.toExponential(2)],
    [METRIC.eps, "eps", (x) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3))],
    [METRIC.zeroShotAcc, "acc", (x) => `${(100 * x).toFixed(1)}%`],
    [METRIC.testAcc, "test acc", (x) => `${(100 * x).toFixed(1)}%`],
    [METRIC.testAccBest, "test acc (best)", (x) => `${(100 * x).toFixed(1)}%`],
    [METRIC.bestStep, "best step", String],
  ];
  return fields
    .filter(([key]) => metrics[key] !== undefined)
    .map(([key, label, format]) => `${label} ${format(metrics[key])}`)
    .join(" | ");
}

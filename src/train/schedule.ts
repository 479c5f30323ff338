// Learning-rate schedules, as transformers' `get_scheduler` builds them for `TrainingArguments`.
//
// The schedule is a multiplier λ(step) of the base learning rate, with `step` the number of
// optimizer updates already taken (0 for the first update). The original LaTRO trainer builds it
// with `num_training_steps` = the number of updates and calls `lr_scheduler.step()` once after each
// update, so update u (1-based) runs at `learning_rate · λ(u − 1)`, which is also the `lr` it logs.
//
//   linear                λ = s/w during warmup, then max(0, (T − s) / max(1, T − w))
//                         (get_linear_schedule_with_warmup; the original's default)
//   cosine                λ = s/w during warmup, then max(0, ½(1 + cos(π · (s − w) / max(1, T − w))))
//   constant_with_warmup  λ = s/w during warmup, then 1
//   constant              λ = 1 (transformers ignores warmup for it)
//
// where s = step, w = warmup steps, T = total steps, and s/w is s / max(1, w).

export const LR_SCHEDULER_TYPES = ["linear", "cosine", "constant_with_warmup", "constant"] as const;
export type LrSchedulerType = (typeof LR_SCHEDULER_TYPES)[number];

/** λ(step): the factor applied to the base learning rate after `step` updates. */
export function lrMultiplier(type: LrSchedulerType, step: number, warmupSteps: number, totalSteps: number): number {
  if (type === "constant") return 1;
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  switch (type) {
    case "linear":
      return Math.max(0, (totalSteps - step) / decaySteps);
    case "cosine":
      return Math.max(0, 0.5 * (1 + Math.cos((Math.PI * (step - warmupSteps)) / decaySteps)));
    case "constant_with_warmup":
      return 1;
  }
}

export interface LrSchedule {
  learningRate: number;
  lrSchedulerType: LrSchedulerType;
  warmupSteps: number;
  totalSteps: number;
}

/** The learning rate of update `update` (1-based), as the original logs it under `lr`. */
export function learningRateAt(schedule: LrSchedule, update: number): number {
  const { learningRate, lrSchedulerType, warmupSteps, totalSteps } = schedule;
  return learningRate * lrMultiplier(lrSchedulerType, update - 1, warmupSteps, totalSteps);
}

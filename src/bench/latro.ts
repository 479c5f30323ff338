// LaTRO updates per second on the built-in base model (models/latro-tiny, committed with the
// repository; the bench fails naming the directory if it is missing): episodes/s (rationales
// sampled, scored and trained on), wall clock, and how much of it the CPU spent waiting on the device
// (the rest is recording, tokenizing and the other host work).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recorderCounters } from "../gpu/recorder.ts";
import { BUILT_IN_MODEL } from "../model/built-in.ts";
import { runTraining } from "../latro/run.ts";
import { parseTrainConfig, type TrainConfig } from "../latro/config.ts";
import type { Bench } from "./types.ts";

/**
 * The benchmarked run: `updates` LaTRO updates of 4 prompts × rloo_k 4 on `arith` with the built-in
 * model, no evaluations or checkpoints, into a new temporary directory (scripts/profile.ts runs it too).
 */
export function benchLatroConfig(updates: number, responseLength: number): TrainConfig {
  return parseTrainConfig({
    model: BUILT_IN_MODEL,
    dataset: "arith",
    output_dir: mkdtempSync(join(tmpdir(), "bench-latro-")),
    per_device_train_batch_size: 8,
    gradient_accumulation_steps: 2,
    rloo_k: 4,
    rollout_batch_size: 16,
    response_length: responseLength,
    total_episodes: updates * 16,
    num_evaluations: 0,
    save_steps: 0,
    kl_coef: 0.05,
  });
}

export const benchLatro: Bench = async ({ quick }) => {
  const updates = quick ? 2 : 4;
  const config = benchLatroConfig(updates, quick ? 32 : 96);
  const waited0 = recorderCounters().waitMs;
  const t0 = performance.now();
  await runTraining(config);
  const seconds = (performance.now() - t0) / 1000;
  const waited = (recorderCounters().waitMs - waited0) / 1000;
  const rows = readFileSync(join(config.outputDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
  const rollout = rows.reduce((s, r) => s + r["time/rollout"], 0);
  const update = rows.reduce((s, r) => s + r["time/update"], 0);
  return [
    {
      name: "LaTRO update (latro-tiny)",
      shape: `${updates} updates × 16 rationales, response_length ${config.responseLength}`,
      ms: (seconds * 1000) / updates,
      rate: (updates * 16) / seconds,
      unit: "episodes/s",
      timing: "wall",
      note:
        `rollout ${rollout.toFixed(1)} s, update ${update.toFixed(1)} s, total incl. model load ${seconds.toFixed(1)} s, ` +
        `of which ${waited.toFixed(1)} s (${((100 * waited) / seconds).toFixed(0)}%) waiting on the device`,
    },
  ];
};

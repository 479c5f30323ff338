// `bun run train --dataset gsm8k [--model DIR] [--config configs/x.yaml] [--<field> value …]`:
// LaTRO training with the original's arguments (kebab-case), metrics and checkpoints.
// CLI flags override the YAML config (configs/default.yaml when --config is absent); `--checkpoint-path DIR` resumes; SIGINT saves and exits.
// Before loading any weight it prints the memory plan and stops when the plan exceeds --memory-budget;
// `--dry-run` prints the plan and exits (config.json, the tokenizer and the data suffice).
import { defineCommand, runMain } from "citty";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadDataset } from "../data/registry.ts";
import type { Dataset } from "../data/example.ts";
import { initGpu } from "../gpu/device.ts";
import { loadConfig } from "../model/config.ts";
import { loadModel } from "../model/load.ts";
import { initLora } from "../model/lora.ts";
import { Transformer } from "../model/transformer.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { AdamW } from "../optim/adamw.ts";
import { parseTrainConfig, readYamlConfig, trainConfigCliArgs, deriveSchedule, loraConfigOf, type TrainConfig } from "../latro/config.ts";
import { loadOptimizerState, readTrainerState, resolveCheckpoint, restorePolicy } from "../latro/checkpoint.ts";
import { checkMemoryBudget, formatMemoryPlan, planForRun } from "../latro/memory-plan.ts";
import { MetricsWriter } from "../latro/metrics.ts";
import { trainLatro } from "../latro/trainer.ts";
import { stopTokenIds } from "../latro/stops.ts";
import { loadRuntime, runCli } from "./runtime.ts";

/** The config used when --config is not given: the built-in model, sized for minutes on a CPU. */
export const DEFAULT_CONFIG = join(import.meta.dir, "..", "..", "configs", "default.yaml");

/** --sanity-check keeps this many examples per split, as the original's "first 1000". */
const SANITY_EXAMPLES = 1000;

export function sanity(d: Dataset, on: boolean): Dataset {
  return on ? { ...d, examples: d.examples.slice(0, SANITY_EXAMPLES) } : d;
}

export async function runTraining(config: TrainConfig, opts: { verbose?: boolean; dryRun?: boolean } = {}): Promise<void> {
  const modelDir = config.model;
  const train = sanity(loadDataset(config.dataset, "train"), config.sanityCheck);
  const validation = sanity(loadDataset(config.dataset, "val"), config.sanityCheck);
  const schedule = deriveSchedule(config, train.examples.length);
  const lora = loraConfigOf(config);
  // The memory plan, from config.json, the tokenizer and the data, before any weight is loaded. A dry
  // run needs no GPU: it plans F16 weights as f16 (adapters with shader-f16).
  const plan = planForRun(config, await loadConfig(join(modelDir, "config.json")), await loadTokenizer(modelDir), train.examples, opts.dryRun ? true : (await initGpu()).hasF16);
  console.error(formatMemoryPlan(plan));
  if (opts.dryRun) return;
  checkMemoryBudget(plan, config.memoryBudget);

  const { model: base, tokenizer } = await loadRuntime(modelDir, { ...opts, frozen: lora !== null });
  const policy = lora ? new Transformer(base.config, base.params, initLora(base.config, lora, config.seed)) : base;
  policy.gradientCheckpointing = config.gradientCheckpointing;
  // π₀ is the initial policy: the base with the adapters off (LoRA: no copy), or the --model weights
  // loaded frozen in their checkpoint dtype, also when resuming.
  const reference = config.klCoef > 0 ? (lora ? policy.withoutAdapters() : await loadModel(modelDir, { frozen: true })) : null;
  const optimizer = new AdamW(policy.trainableParameters(), {
    beta1: config.adamBeta1,
    beta2: config.adamBeta2,
    eps: config.adamEpsilon,
    weightDecay: config.weightDecay,
    maxGradNorm: config.maxGradNorm,
  });
  let startStep = 0;
  if (config.checkpointPath) {
    const dir = await resolveCheckpoint(config.checkpointPath);
    const state = await readTrainerState(dir);
    await restorePolicy(dir, policy);
    await loadOptimizerState(dir, optimizer, state.step);
    startStep = state.step;
    console.error(`resuming from ${dir} at step ${startStep}`);
  }
  mkdirSync(config.outputDir, { recursive: true });
  writeFileSync(join(config.outputDir, "config.json"), JSON.stringify({ ...config, model: modelDir }, null, 2));
  console.error(
    `LaTRO on ${config.dataset}: ${train.examples.length} train / ${validation.examples.length} val prompts, ` +
      `${schedule.numUpdates} updates of ${schedule.promptsPerUpdate} prompts × rloo_k ${config.rlooK}, model ${modelDir}`,
  );
  let interrupted = false;
  process.on("SIGINT", () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error("\nSIGINT: finishing this update, then saving a checkpoint (Ctrl-C again to abort)");
  });
  const stops = stopTokenIds(tokenizer, config);
  await trainLatro(
    {
      config,
      schedule,
      policy,
      reference,
      tokenizer,
      train: train.examples,
      validation,
      tokenizerDir: modelDir,
      optimizer,
      rollout: {
        responseLength: config.responseLength,
        temperature: config.temperature,
        rolloutBatchSize: config.rolloutBatchSize,
        scoreBatchSize: config.perDeviceTrainBatchSize,
        stopTokenIds: stops.ids,
        stopSeqs: stops.seqs,
        pad: tokenizer.pad.id,
      },
      metrics: new MetricsWriter(config.outputDir),
      startStep,
      startSeconds: performance.now() / 1000,
    },
    () => interrupted,
  );
  if (interrupted) process.exit(130);
}

export const trainCommand = defineCommand({
  meta: { name: "train", description: "LaTRO training (arguments as the original's TrainerConfig, in kebab-case)" },
  args: {
    config: { type: "string", description: `YAML config file (snake_case keys; default ${DEFAULT_CONFIG}); flags override it` },
    verbose: { type: "boolean", description: "print the GPU adapter, features and limits", default: false },
    "dry-run": { type: "boolean", description: "print the memory plan and exit without loading weights", default: false },
    ...trainConfigCliArgs(),
  },
  async run({ args }) {
    await runCli(async () => {
      const { config: file, verbose, "dry-run": dryRun, dryRun: _dryRun, _, ...flags } = args as Record<string, unknown>;
      const yaml = await readYamlConfig(typeof file === "string" ? file : DEFAULT_CONFIG);
      const cli = Object.fromEntries(Object.entries(flags).filter(([k]) => k.includes("-") || !/[A-Z]/.test(k)));
      await runTraining(parseTrainConfig(yaml, cli), { verbose: verbose === true, dryRun: dryRun === true });
    });
  },
});

if (import.meta.main) runMain(trainCommand);

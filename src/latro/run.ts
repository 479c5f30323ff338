// A LaTRO training run from a config: checks the datasets, prints the memory plan (memory-plan.ts) and
// stops when it exceeds --memory-budget (a dry run stops there), checks the output directory and a
// checkpoint to resume, all before anything loads on the GPU; then loads the policy — every weight
// trainable, or LoRA adapters over the base frozen in its checkpoint dtype — and π₀ (the base with the
// adapters off, or the --model weights loaded frozen, also when resuming), runs the training loop
// (train/loop.ts) with the LaTRO update
// (trainer.ts), and — when the run evaluated, as the original's training.py does at its end —
// evaluates the final model and checkpoint-best on the test split.
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import type { Dataset } from "../data/example.ts";
import { loadDataset } from "../data/registry.ts";
import { MissingSplitError } from "../data/split.ts";
import { evaluateModel } from "../eval/evaluate.ts";
import { initGpu } from "../gpu/device.ts";
import { loadConfig } from "../model/config.ts";
import { loadModel } from "../model/load.ts";
import { initLora } from "../model/lora.ts";
import { loadRuntime } from "../model/runtime.ts";
import { Transformer } from "../model/transformer.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { AdamW } from "../optim/adamw.ts";
import { BEST_CHECKPOINT, loadCheckpointWeights } from "../train/checkpoint.ts";
import { trainLoop, type LoopResult } from "../train/loop.ts";
import { ProgressBar } from "../train/progress.ts";
import { MetricsWriter } from "../train/metrics-writer.ts";
import { prepareOutputDir } from "../train/output-dir.ts";
import { openCheckpoint } from "../train/resume.ts";
import { deriveSchedule, loraConfigOf, snakeName, UNTRACKED_FIELDS, type TrainConfig } from "./config.ts";
import { checkMemoryBudget, formatMemoryPlan, planForRun } from "./memory-plan.ts";
import { METRIC, summaryLine } from "./metrics.ts";
import { stopTokenIds } from "./stops.ts";
import { latroTask } from "./trainer.ts";

/** --sanity-check keeps this many examples per split, as the original's "first 1000". */
const SANITY_EXAMPLES = 1000;

function sanity(d: Dataset, on: boolean): Dataset {
  return on ? { ...d, examples: d.examples.slice(0, SANITY_EXAMPLES) } : d;
}

/** One split of the run's dataset (its first SANITY_EXAMPLES under sanity_check); errors name --dataset. */
export function datasetSplit(config: TrainConfig, split: string): Dataset {
  try {
    return sanity(loadDataset(config.dataset, split), config.sanityCheck);
  } catch (e) {
    if (e instanceof MissingSplitError) throw e;
    throw new Error(`--dataset ${config.dataset}: ${(e as Error).message}`);
  }
}

export interface TrainingResult extends LoopResult {
  /** Test accuracy of the final model and of checkpoint-best, when the run evaluated. */
  test?: { final: number; best: number | null };
}

export async function runTraining(config: TrainConfig, opts: { verbose?: boolean; dryRun?: boolean } = {}): Promise<TrainingResult> {
  const train = datasetSplit(config, "train");
  const validation = datasetSplit(config, "val");
  const schedule = deriveSchedule(config, train.examples.length);
  let test: Dataset | null = null;
  if (schedule.evalEvery > 0) {
    try {
      test = datasetSplit(config, "test");
    } catch (e) {
      if (!(e instanceof MissingSplitError)) throw e;
      console.error(`${e.message}; the final test evaluation is skipped`);
    }
  }
  // The memory plan, from config.json, the tokenizer and the data, before any weight loads. A dry run
  // prints it and stops, touching neither the output directory nor the GPU (it plans F16 weights as
  // f16, as on adapters with shader-f16).
  const lora = loraConfigOf(config);
  const plan = async (hasF16: boolean) => {
    const p = planForRun(config, await loadConfig(join(config.model, "config.json")), await loadTokenizer(config.model), train.examples, hasF16);
    console.error(formatMemoryPlan(p));
    return p;
  };
  if (opts.dryRun) {
    await plan(true);
    return { step: 0, interrupted: false, best: null };
  }
  prepareOutputDir(config.outputDir, { flag: "--output-dir", overwrite: config.overwriteOutputDir, resuming: config.checkpointPath !== null });
  const savedConfig = { ...config };
  const checkpoint = config.checkpointPath === null
    ? null
    : await openCheckpoint({ checkpointPath: config.checkpointPath, config: savedConfig, untracked: UNTRACKED_FIELDS, allowConfigChange: config.allowConfigChange, fieldName: snakeName });
  if (checkpoint && checkpoint.step >= schedule.numUpdates) {
    console.error(`${checkpoint.dir} is at update ${checkpoint.step} of ${schedule.numUpdates}: the run is finished, nothing to do`);
    return { step: checkpoint.step, interrupted: false, best: checkpoint.best };
  }

  checkMemoryBudget(await plan((await initGpu()).hasF16), config.memoryBudget);
  const { model: base, tokenizer } = await loadRuntime(config.model, { verbose: opts.verbose, frozen: lora !== null });
  const policy = lora ? new Transformer(base.config, base.params, initLora(base.config, lora, config.seed)) : base;
  policy.gradientCheckpointing = config.gradientCheckpointing;
  // π₀ is the initial policy: the base with the adapters off (LoRA: no copy), or the --model weights
  // loaded frozen in their checkpoint dtype, also when resuming.
  const reference = config.klCoef > 0 ? (lora ? policy.withoutAdapters() : await loadModel(config.model, { frozen: true })) : null;
  const optimizer = new AdamW(policy.trainableParameters(), {
    beta1: config.adamBeta1,
    beta2: config.adamBeta2,
    eps: config.adamEpsilon,
    weightDecay: config.weightDecay,
    maxGradNorm: config.maxGradNorm,
  });
  const metrics = new MetricsWriter(config.outputDir);
  writeFileSync(join(config.outputDir, "config.json"), JSON.stringify(savedConfig, null, 2));
  console.error(
    `LaTRO on ${config.dataset}: ${train.examples.length} train / ${validation.examples.length} val prompts, ` +
      `${schedule.numUpdates} updates of ${schedule.promptsPerUpdate} prompts × rloo_k ${config.rlooK}, model ${config.model}`,
  );
  const stops = stopTokenIds(tokenizer, config);
  const startStep = checkpoint?.step ?? 0;
  const task = latroTask({
    config,
    schedule,
    policy,
    reference,
    tokenizer,
    train: train.examples,
    validation,
    rollout: {
      responseLength: config.responseLength,
      temperature: config.temperature,
      rolloutBatchSize: config.rolloutBatchSize,
      scoreBatchSize: config.perDeviceTrainBatchSize,
      stopTokenIds: stops.ids,
      stopSeqs: stops.seqs,
      pad: tokenizer.pad.id,
    },
    startStep,
  });
  const result = await trainLoop(task, {
    model: policy,
    optimizer,
    schedule: schedule.lr,
    outputDir: config.outputDir,
    config: savedConfig,
    tokenizerDir: config.model,
    metrics,
    resume: checkpoint,
    evalEvery: schedule.evalEvery,
    saveEvery: schedule.saveEvery,
    logEvery: schedule.logEvery,
  });
  if (result.interrupted || test === null) return result;

  // Model selection, as the original's end of training: the final model and the best on test.
  const evaluate = async (which: string) => {
    const bar = new ProgressBar(test.examples.length, `test problem (${which})`);
    const ev = await evaluateModel(policy, tokenizer, test, {
      batchSize: config.perDeviceEvalBatchSize,
      maxNewTokens: config.responseLength,
      onBatch: (done) => bar.set(done),
    });
    bar.done();
    return ev.greedy.accuracy;
  };
  const final = await evaluate("final model");
  let best: number | null = null;
  if (result.best !== null) {
    // The best checkpoint is the final model when the last evaluation was the best one.
    if (result.best.step === result.step) best = final;
    else {
      await loadCheckpointWeights(join(config.outputDir, BEST_CHECKPOINT), policy);
      best = await evaluate(`checkpoint-best, step ${result.best.step}`);
    }
  }
  const row = {
    [METRIC.testAcc]: final,
    ...(best === null ? {} : { [METRIC.testAccBest]: best, [METRIC.bestStep]: result.best!.step }),
    [METRIC.step]: result.step,
  };
  metrics.write(row);
  console.error(summaryLine(row));
  return { ...result, test: { final, best } };
}

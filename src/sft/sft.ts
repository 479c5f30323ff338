// The SFT baseline's update (LaTRO's scripts/sft_baseline.py, a TRL SFTTrainer run) as a task of the
// training loop (train/loop.ts): next-token cross-entropy on the target (gold rationale ⊕
// "The answer is N." ⊕ end token, see examples.ts) given the chat-templated query, the query itself
// masked out as the original's completion-only collator does. Per epoch, a seeded permutation of the
// examples (length-grouped with group_by_length) is cut into updates of per_device_train_batch_size
// × gradient_accumulation_steps examples (the last one may be smaller), so update `step` is a
// function of (seed, step) and a resumed run repeats the uninterrupted one. The learning rate warms
// up linearly over ⌈warmup_ratio · updates⌉ updates, then decays linearly to 0 (transformers'
// default scheduler). Every update logs {step, epoch, loss, lr, grad_norm, tokens/s}; checkpoints go
// to OUTPUT_DIR/checkpoint-<step> every save_steps updates and after the last; the final model is
// also written into OUTPUT_DIR itself as an HF directory.
import { readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { LatroExample } from "../data/example.ts";
import { Rng, shuffled } from "../data/rng.ts";
import { saveModel } from "../model/load.ts";
import type { Transformer } from "../model/transformer.ts";
import { AdamW } from "../optim/adamw.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { TrainerState } from "../train/checkpoint.ts";
import { trainLoop, type LoopResult, type TrainTask } from "../train/loop.ts";
import type { MetricsWriter } from "../train/metrics-writer.ts";
import type { LrSchedule } from "../train/schedule.ts";
import { encodeExample, lmBatch, type LmBatch, type LmExample } from "./batch.ts";
import { groupByLength, megabatchSize } from "./grouping.ts";
import { lmPasses } from "./step.ts";

export interface SftConfig {
  outputDir: string;
  learningRate: number;
  numTrainEpochs: number;
  perDeviceTrainBatchSize: number;
  gradientAccumulationSteps: number;
  /** Sequences (query ⊕ target) are cut to this many tokens. */
  maxLength: number;
  warmupRatio: number;
  weightDecay: number;
  /** 0 = no clipping (the original passes max_grad_norm=False). */
  maxGradNorm: number;
  seed: number;
  /** Save OUTPUT_DIR/checkpoint-<step> every this many updates; 0 = only after the last update. */
  saveSteps: number;
  /** Print a summary line every this many updates. */
  loggingSteps: number;
  /** Batch sequences of similar length together (grouping.ts). */
  groupByLength: boolean;
}

export interface SftContext {
  config: SftConfig;
  model: Transformer;
  tokenizer: Tokenizer;
  /** Examples whose response is the whole target (sftDataset). */
  train: readonly LatroExample[];
  /** The directory whose tokenizer files are saved with the model. */
  tokenizerDir: string;
  metrics: MetricsWriter;
  /** The checkpoint to resume from (openCheckpoint), if any. */
  resume?: (TrainerState & { dir: string }) | null;
  /** Stored with the checkpoints for the resume check; default `config`. */
  savedConfig?: object;
}

/** Updates per epoch and in all, and the learning-rate schedule over them. */
export function sftSchedule(config: SftConfig, numExamples: number): { updatesPerEpoch: number; lr: LrSchedule } {
  const updatesPerEpoch = Math.ceil(numExamples / (config.perDeviceTrainBatchSize * config.gradientAccumulationSteps));
  const totalSteps = updatesPerEpoch * config.numTrainEpochs;
  return {
    updatesPerEpoch,
    lr: { learningRate: config.learningRate, lrSchedulerType: "linear", warmupSteps: Math.ceil(config.warmupRatio * totalSteps), totalSteps },
  };
}

/** Supervised fine-tuning as a task of the training loop. */
export function sftTask(ctx: SftContext, updatesPerEpoch: number): TrainTask {
  const { config, model, tokenizer } = ctx;
  const encoded: LmExample[] = ctx.train.map((e) => encodeExample(tokenizer, e));
  const truncated = encoded.filter((e) => e.prompt.length + e.target.length > config.maxLength).length;
  if (truncated > 0) console.error(`${truncated} of ${encoded.length} examples are longer than --max-length ${config.maxLength} and are truncated`);
  const perUpdate = config.perDeviceTrainBatchSize * config.gradientAccumulationSteps;
  const orders = new Map<number, number[]>();
  const epochOrder = (epoch: number) => {
    let order = orders.get(epoch);
    if (!order) {
      const permuted = shuffled(Array.from(encoded, (_, i) => i), Rng.stream(config.seed, "example-order", epoch));
      order = config.groupByLength
        ? groupByLength(permuted, (i) => encoded[i].prompt.length + encoded[i].target.length, megabatchSize(encoded.length, config.perDeviceTrainBatchSize))
        : permuted;
      orders.set(epoch, order);
    }
    return order;
  };
  return {
    async plan(step, lr) {
      const epoch = Math.floor((step - 1) / updatesPerEpoch);
      const u = (step - 1) % updatesPerEpoch;
      const picked = epochOrder(epoch).slice(u * perUpdate, (u + 1) * perUpdate);
      const batches: LmBatch[] = [];
      for (let m = 0; m < picked.length; m += config.perDeviceTrainBatchSize) {
        const rows = picked.slice(m, m + config.perDeviceTrainBatchSize).map((i) => encoded[i]);
        batches.push(lmBatch(rows, tokenizer.pad.id, config.maxLength));
      }
      const passes = lmPasses(model, batches, tokenizer.pad.id);
      return {
        microBatches: passes.passes,
        metrics: ({ gradNorm, seconds }) => ({
          step,
          epoch: step / updatesPerEpoch,
          loss: passes.loss(),
          lr,
          grad_norm: gradNorm,
          "tokens/s": passes.seqTokens / seconds,
        }),
      };
    },
    summary: (m) =>
      `step ${m.step} | epoch ${m.epoch.toFixed(2)} | loss ${m.loss.toFixed(4)} | lr ${m.lr.toExponential(2)} | grad_norm ${m.grad_norm.toFixed(3)} | ${m["tokens/s"].toFixed(0)} tok/s`,
  };
}

/** Trains `ctx.model` in place through the training loop; the final model also goes into OUTPUT_DIR. */
export async function trainSft(ctx: SftContext): Promise<LoopResult> {
  const { config, model } = ctx;
  if (ctx.train.length === 0) throw new Error("trainSft: no training examples");
  const { updatesPerEpoch, lr: schedule } = sftSchedule(config, ctx.train.length);
  const optimizer = new AdamW(model.parameters(), {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: config.weightDecay,
    maxGradNorm: config.maxGradNorm,
  });
  const result = await trainLoop(sftTask(ctx, updatesPerEpoch), {
    model,
    optimizer,
    schedule,
    outputDir: config.outputDir,
    config: ctx.savedConfig ?? config,
    tokenizerDir: ctx.tokenizerDir,
    metrics: ctx.metrics,
    resume: ctx.resume ?? null,
    evalEvery: 0,
    saveEvery: config.saveSteps,
    logEvery: config.loggingSteps,
  });
  if (!result.interrupted) await saveModelInto(model, config.outputDir, ctx.tokenizerDir);
  return result;
}

/**
 * Writes the model's HF files (config.json, model.safetensors, tokenizer files, …) into `dir`, next to
 * whatever else is there (metrics.jsonl): saved whole into a temporary subdirectory, then each file is
 * renamed into place.
 */
export async function saveModelInto(model: Transformer, dir: string, tokenizerDir: string): Promise<void> {
  const tmp = join(dir, `.model.tmp-${process.pid}`);
  await saveModel(model, tmp, tokenizerDir);
  for (const name of await readdir(tmp)) await rename(join(tmp, name), join(dir, name));
  await rm(tmp, { recursive: true, force: true });
}

// Pretraining the built-in base model from scratch: a small Llama on LaTRO-shaped text only. Every
// training sequence is one problem exactly as LaTRO will show it to the model — the chat-templated
// query (question + "Let's think step by step.") followed by the gold rationale, "The answer is N."
// and the end token (examples.ts) — drawn from the GSM8K and `arith` train splits (never val/test) in
// a seeded mix (mix.ts), batched by length within pools of POOL_BATCHES batches (grouping.ts) so
// that little of each batch is padding. The loss is next-token cross-entropy on the target part,
// optionally on the query too; the learning rate warms up linearly, then follows a cosine to 0.
// Runs as a task of the training loop (train/loop.ts). The data stream is sequential, so a resumed
// run draws (and drops) the batches of the updates before its checkpoint again: cheap, and exact.
import type { LatroExample } from "../data/example.ts";
import { parseConfig, type ModelConfig } from "../model/config.ts";
import type { Transformer } from "../model/transformer.ts";
import { AdamW } from "../optim/adamw.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { TrainerState } from "../train/checkpoint.ts";
import { trainLoop, type LoopResult, type TrainTask } from "../train/loop.ts";
import type { MetricsWriter } from "../train/metrics-writer.ts";
import type { LrSchedule } from "../train/schedule.ts";
import { encodeExample, lmBatch, type LmBatch, type LmExample } from "./batch.ts";
import { groupByLength } from "./grouping.ts";
import { MixedStream } from "./mix.ts";
import { lmPasses } from "./step.ts";

/** The architecture's sizes; the vocabulary and special ids come from the tokenizer. */
export interface LlamaShape {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  maxPositions: number;
}

/** A LlamaForCausalLM config of `shape` over `tokenizer`'s vocabulary, tied embeddings. */
export function llamaConfig(shape: LlamaShape, tokenizer: Tokenizer): ModelConfig {
  return parseConfig(
    {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      vocab_size: tokenizer.vocabSize,
      hidden_size: shape.hiddenSize,
      intermediate_size: shape.intermediateSize,
      num_hidden_layers: shape.numLayers,
      num_attention_heads: shape.numHeads,
      num_key_value_heads: shape.numKvHeads,
      hidden_act: "silu",
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      max_position_embeddings: shape.maxPositions,
      tie_word_embeddings: true,
      attention_bias: false,
      mlp_bias: false,
      initializer_range: 0.02,
      bos_token_id: tokenizer.bos?.id ?? null,
      eos_token_id: tokenizer.eos?.id ?? null,
      pad_token_id: tokenizer.pad.id,
      torch_dtype: "float32",
    },
    "pretrain model config",
  );
}

export interface PretrainConfig {
  steps: number;
  /** Sequences per update. */
  batchSize: number;
  /** Peak learning rate. */
  lr: number;
  warmupRatio: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Sequences are cut to this many tokens. */
  seqLen: number;
  /** Fraction of sequences drawn from `arith` (the rest from GSM8K). */
  mix: number;
  seed: number;
  /** Also train on the query tokens. */
  lossOnQuery: boolean;
  /** Print a summary line every this many updates (0 = never). */
  logEvery: number;
  /** Save OUTPUT_DIR/checkpoint-<step> every this many updates; 0 = only after the last update. */
  saveEvery: number;
}

/** Batches are formed from pools of this many batches' worth of draws, grouped by length. */
export const POOL_BATCHES = 16;

export interface PretrainContext {
  config: PretrainConfig;
  model: Transformer;
  tokenizer: Tokenizer;
  arith: readonly LatroExample[];
  gsm8k: readonly LatroExample[];
  metrics: MetricsWriter;
  /** Checkpoints and metrics go here. */
  outputDir: string;
  /** The directory whose tokenizer files are saved with the model. */
  tokenizerDir: string;
  /** Stored with the checkpoints for the resume check. */
  savedConfig: object;
  /** The checkpoint to resume from (openCheckpoint), if any. */
  resume: (TrainerState & { dir: string }) | null;
}

export function pretrainSchedule(config: PretrainConfig): LrSchedule {
  return { learningRate: config.lr, lrSchedulerType: "cosine", warmupSteps: Math.ceil(config.warmupRatio * config.steps), totalSteps: config.steps };
}

/** Pretraining as a task of the training loop; `plan` must be called for increasing steps. */
export function pretrainTask(ctx: PretrainContext): TrainTask {
  const { config, model, tokenizer } = ctx;
  const encode = (xs: readonly LatroExample[]) => xs.map((e) => encodeExample(tokenizer, e));
  const stream = new MixedStream<LmExample>(encode(ctx.arith), encode(ctx.gsm8k), config.mix, config.seed);
  let queue: LmExample[] = [];
  let drawn = 0;
  let seen = 0;
  const nextBatch = (): LmBatch => {
    if (queue.length === 0) {
      const pool = Array.from({ length: config.batchSize * POOL_BATCHES }, () => stream.next());
      queue = groupByLength(pool, (e) => e.prompt.length + e.target.length, pool.length);
    }
    drawn++;
    const batch = lmBatch(queue.splice(0, config.batchSize), tokenizer.pad.id, config.seqLen, config.lossOnQuery);
    seen += batch.seqTokens;
    return batch;
  };
  const t0 = performance.now();
  return {
    async plan(step, lr) {
      while (drawn < step - 1) nextBatch();
      const passes = lmPasses(model, [nextBatch()], tokenizer.pad.id);
      return {
        microBatches: passes.passes,
        metrics: ({ gradNorm, seconds }) => ({
          step,
          loss: passes.loss(),
          lr,
          grad_norm: gradNorm,
          "tokens/s": passes.seqTokens / seconds,
          tokens: seen,
          seconds: (performance.now() - t0) / 1000,
        }),
      };
    },
    summary: (m) =>
      `step ${m.step} | loss ${m.loss.toFixed(4)} | lr ${m.lr.toExponential(2)} | grad_norm ${m.grad_norm.toFixed(3)} | ${m["tokens/s"].toFixed(0)} tok/s | ${(m.tokens / 1e6).toFixed(2)}M tokens`,
  };
}

/** Trains `ctx.model` in place through the training loop. */
export async function pretrain(ctx: PretrainContext): Promise<LoopResult> {
  const optimizer = new AdamW(ctx.model.parameters(), {
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weightDecay: ctx.config.weightDecay,
    maxGradNorm: ctx.config.maxGradNorm,
  });
  return trainLoop(pretrainTask(ctx), {
    model: ctx.model,
    optimizer,
    schedule: pretrainSchedule(ctx.config),
    outputDir: ctx.outputDir,
    config: ctx.savedConfig,
    tokenizerDir: ctx.tokenizerDir,
    metrics: ctx.metrics,
    resume: ctx.resume,
    evalEvery: 0,
    saveEvery: ctx.config.saveEvery,
    logEvery: ctx.config.logEvery,
    unit: "step",
  });
}

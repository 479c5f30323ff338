// `bun run build-base-model [--steps N] [--batch-size B] [--out DIR] [--<flag> value …]`: builds the project's
// built-in base model — a small Llama (default ≈3.4M parameters: hidden 256, 4 layers, 4 heads over 2
// key/value heads, SwiGLU 688, tied embeddings) trained from a seeded random init on GSM8K and `arith`
// train problems formatted exactly as LaTRO prompts them (src/sft/pretrain.ts), or continued from
// --init DIR (a second stage, e.g. on another --mix). Metrics (OUTPUT_DIR/metrics.jsonl) and
// checkpoints (OUTPUT_DIR/checkpoint-<step>, every --save-every steps and after the last;
// --checkpoint-path resumes exactly) go to --output-dir; at the end the model is written to --out
// (default models/latro-tiny) as an HF directory with the tokenizer files of --tokenizer, replacing
// the directory (anything else in it is dropped). Finally, greedy completions of the first
// --eval-examples validation problems of each dataset report accuracy and how many completions are
// well formed (end in "The answer is N."). Ctrl-C finishes the step, saves a checkpoint and exits 130.
// (The package script is `build-base-model`, not `pretrain`: bun, like npm, would run a script named
// `pretrain` before every `bun run train`.)
import { defineCommand, runMain } from "citty";
import { arithDataset } from "../data/arith.ts";
import { gsm8kDataset } from "../data/gsm8k.ts";
import type { Dataset } from "../data/example.ts";
import { evaluateModel } from "../eval/evaluate.ts";
import { initGpu, describeGpu } from "../gpu/device.ts";
import { initModel } from "../model/init.ts";
import { loadModel, saveModel } from "../model/load.ts";
import type { Transformer } from "../model/transformer.ts";
import { sftDataset } from "../sft/examples.ts";
import { llamaConfig, pretrain, type LlamaShape, type PretrainConfig } from "../sft/pretrain.ts";
import { loadTokenizer, type Tokenizer } from "../tokenizer/tokenizer.ts";
import { MetricsWriter } from "../train/metrics-writer.ts";
import { prepareOutputDir } from "../train/output-dir.ts";
import { openCheckpoint } from "../train/resume.ts";
import { checkFlags, flagOf, intArg, numberArg, stringArg } from "./args.ts";
import { runCli } from "./runtime.ts";
import { BUILT_IN_MODEL } from "../model/built-in.ts";

export const pretrainArgs = {
  out: { type: "string", description: "model directory to write (replaced)", default: BUILT_IN_MODEL },
  tokenizer: { type: "string", description: "directory with the tokenizer files", default: BUILT_IN_MODEL },
  init: { type: "string", description: "continue from this model directory (its config and weights) instead of a random init; the shape flags are then unused" },
  "output-dir": { type: "string", description: "metrics.jsonl and checkpoints", default: "runs/pretrain" },
  "overwrite-output-dir": { type: "boolean", description: "remove an earlier run's files in --output-dir first (a new run refuses a non-empty one)", default: false },
  "checkpoint-path": { type: "string", description: "resume from this checkpoint (or output directory: its newest checkpoint)" },
  "allow-config-change": { type: "boolean", description: "resume even when flags that change the run differ from the checkpoint's", default: false },
  hidden: { type: "string", description: "hidden size", default: "256" },
  layers: { type: "string", description: "transformer layers", default: "4" },
  heads: { type: "string", description: "attention heads", default: "4" },
  "kv-heads": { type: "string", description: "key/value heads (grouped-query attention)", default: "2" },
  intermediate: { type: "string", description: "SwiGLU intermediate size", default: "688" },
  "max-positions": { type: "string", description: "max_position_embeddings of the model", default: "1024" },
  steps: { type: "string", description: "optimizer updates", default: "300" },
  "batch-size": { type: "string", description: "sequences per update", default: "16" },
  lr: { type: "string", description: "peak learning rate (linear warmup, cosine decay to 0)", default: "2e-3" },
  "warmup-ratio": { type: "string", description: "fraction of the steps spent warming up", default: "0.05" },
  "weight-decay": { type: "string", description: "AdamW weight decay", default: "0" },
  "max-grad-norm": { type: "string", description: "clip the global gradient norm to this (0 = no clipping)", default: "1" },
  "seq-len": { type: "string", description: "sequences are cut to this many tokens", default: "512" },
  mix: { type: "string", description: "fraction of sequences from arith (the rest from GSM8K)", default: "0.8" },
  "loss-on-query": { type: "boolean", description: "also train on the query tokens", default: false },
  seed: { type: "string", description: "seed of the initialisation and the data order", default: "0" },
  "log-every": { type: "string", description: "print a summary line every N steps (0 = never)", default: "25" },
  "save-every": { type: "string", description: "save OUTPUT_DIR/checkpoint-<step> every N steps (0 = only after the last step, as every value also does)", default: "100" },
  "eval-examples": { type: "string", description: "validation problems per dataset completed at the end (0 = none)", default: "32" },
  verbose: { type: "boolean", description: "print the GPU adapter, features and limits", default: false },
} as const;

export interface PretrainOptions extends PretrainConfig {
  shape: LlamaShape;
  out: string;
  tokenizer: string;
  /** Continue from this model directory instead of a seeded random init. */
  init?: string;
  outputDir: string;
  overwriteOutputDir: boolean;
  checkpointPath: string | null;
  allowConfigChange: boolean;
  evalExamples: number;
  verbose: boolean;
}

/** The command line's values, checked; errors name the flag, the value and what is allowed. */
export function parsePretrainArgs(args: Record<string, unknown>): PretrainOptions {
  checkFlags(args, pretrainArgs);
  const str = (flag: keyof typeof pretrainArgs) => stringArg(`--${flag}`, args[flag]);
  const shape: LlamaShape = {
    hiddenSize: intArg("--hidden", args.hidden, { min: 1 }),
    numLayers: intArg("--layers", args.layers, { min: 1 }),
    numHeads: intArg("--heads", args.heads, { min: 1 }),
    numKvHeads: intArg("--kv-heads", args["kv-heads"], { min: 1 }),
    intermediateSize: intArg("--intermediate", args.intermediate, { min: 1 }),
    maxPositions: intArg("--max-positions", args["max-positions"], { min: 2 }),
  };
  if (shape.hiddenSize % shape.numHeads !== 0 || (shape.hiddenSize / shape.numHeads) % 2 !== 0) {
    throw new Error(`--hidden: got ${shape.hiddenSize}; expected a multiple of --heads ${shape.numHeads} with an even quotient (the head size, for RoPE)`);
  }
  if (shape.numHeads % shape.numKvHeads !== 0) {
    throw new Error(`--kv-heads: got ${shape.numKvHeads}; expected a divisor of --heads ${shape.numHeads}`);
  }
  const seqLen = intArg("--seq-len", args["seq-len"], { min: 2 });
  if (seqLen > shape.maxPositions) throw new Error(`--seq-len: got ${seqLen}; expected at most --max-positions ${shape.maxPositions}`);
  return {
    shape,
    out: str("out"),
    tokenizer: str("tokenizer"),
    init: args.init === undefined ? undefined : str("init"),
    outputDir: str("output-dir"),
    overwriteOutputDir: args["overwrite-output-dir"] === true,
    checkpointPath: args["checkpoint-path"] === undefined ? null : str("checkpoint-path"),
    allowConfigChange: args["allow-config-change"] === true,
    steps: intArg("--steps", args.steps, { min: 1 }),
    batchSize: intArg("--batch-size", args["batch-size"], { min: 1 }),
    lr: numberArg("--lr", args.lr, { min: 0, minExclusive: true }),
    warmupRatio: numberArg("--warmup-ratio", args["warmup-ratio"], { min: 0, max: 1 }),
    weightDecay: numberArg("--weight-decay", args["weight-decay"], { min: 0 }),
    maxGradNorm: numberArg("--max-grad-norm", args["max-grad-norm"], { min: 0 }),
    seqLen,
    mix: numberArg("--mix", args.mix, { min: 0, max: 1 }),
    lossOnQuery: args["loss-on-query"] === true,
    seed: intArg("--seed", args.seed, { min: 0 }),
    logEvery: intArg("--log-every", args["log-every"], { min: 0 }),
    saveEvery: intArg("--save-every", args["save-every"], { min: 0 }),
    evalExamples: intArg("--eval-examples", args["eval-examples"], { min: 0 }),
    verbose: args.verbose === true,
  };
}

/** A completion that ends the way LaTRO's answer y does: "The answer is N." */
const WELL_FORMED = /The answer is -?[\d,]*\.?\d+\.$/;

async function report(model: Transformer, tokenizer: Tokenizer, dataset: Dataset, n: number): Promise<Record<string, number>> {
  const subset = { ...dataset, examples: dataset.examples.slice(0, n) };
  const { greedy } = await evaluateModel(model, tokenizer, subset, { batchSize: 16, maxNewTokens: 256 });
  const wellFormed = greedy.examples.filter((e) => WELL_FORMED.test(e.responses[0].trim())).length / greedy.total;
  const first = greedy.examples[0];
  console.error(`${dataset.name} val: accuracy ${(100 * greedy.accuracy).toFixed(1)}%, well formed ${(100 * wellFormed).toFixed(1)}% of ${greedy.total}`);
  console.error(`  Q: ${first.query}\n  A: ${JSON.stringify(first.responses[0].slice(0, 600))}`);
  return { [`${dataset.name}/accuracy`]: greedy.accuracy, [`${dataset.name}/well_formed`]: wellFormed };
}

/** Options that do not change what the run computes: a resumed run may change them. */
export const PRETRAIN_UNTRACKED: readonly (keyof PretrainOptions)[] = [
  "out",
  "outputDir",
  "overwriteOutputDir",
  "checkpointPath",
  "allowConfigChange",
  "logEvery",
  "saveEvery",
  "evalExamples",
  "verbose",
];

/** Whether the run was interrupted by Ctrl-C (after saving a checkpoint). */
export async function runPretrain(o: PretrainOptions): Promise<{ interrupted: boolean }> {
  prepareOutputDir(o.outputDir, { flag: "--output-dir", overwrite: o.overwriteOutputDir, resuming: o.checkpointPath !== null });
  const resume = o.checkpointPath === null
    ? null
    : await openCheckpoint({ checkpointPath: o.checkpointPath, config: o, untracked: PRETRAIN_UNTRACKED, allowConfigChange: o.allowConfigChange, fieldName: flagOf });
  if (resume && resume.step >= o.steps) {
    console.error(`${resume.dir} is at step ${resume.step} of ${o.steps}: the run is finished, nothing to do`);
    return { interrupted: false };
  }
  const arith = sftDataset("arith", "train").examples;
  const gsm8k = sftDataset("gsm8k", "train").examples;
  const g = await initGpu();
  if (o.verbose) console.error(describeGpu(g));
  const tokenizer = await loadTokenizer(o.tokenizer);
  const model = o.init === undefined ? initModel(llamaConfig(o.shape, tokenizer), o.seed) : await loadModel(o.init);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new Error(`--init ${o.init}: its vocab_size ${model.config.vocabSize} is smaller than the ${tokenizer.vocabSize} tokens of --tokenizer ${o.tokenizer}`);
  }
  if (o.seqLen > model.config.maxPositionEmbeddings) {
    throw new Error(`--seq-len: got ${o.seqLen}; expected at most the max_position_embeddings ${model.config.maxPositionEmbeddings} of --init ${o.init}`);
  }
  const numParams = model.parameters().reduce((n, p) => n + p.size, 0);
  console.error(
    `${o.init === undefined ? "pretraining" : `continuing ${o.init}:`} a ${(numParams / 1e6).toFixed(2)}M-parameter Llama for ${o.steps} steps × ${o.batchSize} sequences ` +
      `(${(100 * o.mix).toFixed(0)}% of ${arith.length} arith, the rest of ${gsm8k.length} GSM8K train problems) → ${o.out}`,
  );
  const metrics = new MetricsWriter(o.outputDir);
  const result = await pretrain({ config: o, model, tokenizer, arith, gsm8k, metrics, outputDir: o.outputDir, tokenizerDir: o.tokenizer, savedConfig: o, resume });
  if (result.interrupted) return result;
  await saveModel(model, o.out, o.tokenizer);
  console.error(`saved ${o.out} after step ${result.step}`);
  if (o.evalExamples > 0) {
    const results = {
      ...(await report(model, tokenizer, arithDataset("val"), o.evalExamples)),
      ...(await report(model, tokenizer, gsm8kDataset("val", false), o.evalExamples)),
    };
    metrics.write({ step: result.step, ...results });
  }
  return result;
}

export const pretrainCommand = defineCommand({
  meta: { name: "build-base-model", description: "Train the built-in base model from scratch on GSM8K + arith train problems in LaTRO's format" },
  args: pretrainArgs,
  async run({ args }) {
    await runCli(async () => {
      if ((await runPretrain(parsePretrainArgs(args as Record<string, unknown>))).interrupted) process.exit(130);
    });
  },
});

if (import.meta.main) runMain(pretrainCommand);

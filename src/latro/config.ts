// The training configuration: its schema, defaults, parsing and the quantities derived from it.
//
// Fields are those of the original LaTRO `TrainerConfig` (src/trainer/trainer_config.py) plus the
// `transformers.TrainingArguments` fields its trainer actually uses. Names:
//   - in YAML files: snake_case, exactly as the original (`rloo_k`, `per_device_train_batch_size`);
//     kebab-case (`rloo-k`) is accepted too;
//   - on the command line: kebab-case flags (`--rloo-k 4`); `trainConfigCliArgs()` declares them;
//   - in code: camelCase (`config.rlooK`).
// The original's `model_name_or_path` and `dataset_name` are accepted as aliases of `model` and
// `dataset`. Command-line values override the file's. Numbers, booleans and lists may be given as
// text (`"5e-7"`, `"true"`, `'["Answer:"]'` or `1,2`), so one schema serves both sources.
//
// Default values are the original's, except:
//   - model: the built-in models/latro-tiny (the original defaults to EleutherAI/pythia-160m);
//   - gradient_accumulation_steps: 2, because the original's defaults (8 × 1 rollouts per update,
//     rloo_k = 16) break its own rule that their product be a multiple of rloo_k;
//   - max_grad_norm: 0 (no clipping). The original never clips: its loop calls optimizer.step()
//     directly and its DeepSpeed config sets gradient_clipping false, so TrainingArguments' 1.0 is
//     unused;
//   - logging_steps: 1. The original logs every update whatever logging_steps says; here the
//     console summary follows logging_steps and metrics.jsonl still gets every update.
// Fields of our own (the original trains every weight with DeepSpeed ZeRO-3 over 8 GPUs): LoRA
// (lora_r and friends, PEFT's LoraConfig names and defaults), gradient_checkpointing (the original's
// TrainingArguments flag) and memory_budget (GB the memory plan must fit, src/latro/memory-plan.ts).
//
// Episodes follow TRL's RLOO accounting, which the original inherits: an episode is one sampled
// rationale, `total_episodes` defaults to num_train_epochs × (training prompts), and an update
// consumes per_device_train_batch_size × gradient_accumulation_steps episodes, i.e. that many
// divided by rloo_k prompts. So "num_train_epochs: 6" with rloo_k = 16 passes over 6/16 of the
// prompts; `deriveSchedule` reports the real count as `promptEpochs`.
import type { ArgsDef } from "citty";
import * as v from "valibot";
import { LORA_TARGET_MODULES, type LoraConfig } from "../model/lora.ts";
import { BUILT_IN_MODEL } from "../model/built-in.ts";
import { choice, flag, integerIn, listFromText, numberIn, text } from "../train/fields.ts";
import { LR_SCHEDULER_TYPES, type LrSchedule } from "../train/schedule.ts";

/** The original's default `stop_seqs`: answer templates that end a rationale. */
export const DEFAULT_STOP_SEQS: readonly string[] = [
  "Answer:",
  " Answer:",
  "\nAnswer:",
  "The answer is",
  " The answer is",
  "\nThe answer is",
  "The answer is:",
  " The answer is:",
  "\nThe answer is:",
  " the answer is",
  "so the final answer is",
  "So, the answer is",
  "Therefore, the answer is",
  "The function call is:",
  "\nThe function call is:",
  "The function call is",
  "\nThe function call is",
  "the function call is",
];

export const STOP_TOKENS = ["eos", "pad", "both"] as const;

// ---- Field value schemas (src/train/fields.ts). Each failure message says what is allowed. -----

const integerAtLeast = (min: number) => integerIn({ min });
const numberAtLeast = (min: number) => numberIn({ min });
const positiveNumber = () => numberIn({ min: 0, minExclusive: true });
const fraction = () => numberIn({ min: 0, max: 1 });
const fractionBelowOne = () => numberIn({ min: 0, max: 1, maxExclusive: true });

/** An update count, or a fraction in (0, 1) of all updates (as TrainingArguments' *_steps); 0 = never. */
function stepsOrFraction() {
  const allowed = "0 (never), an integer ≥ 1, or a fraction in (0, 1) of the total updates";
  return v.pipe(numberIn({ min: 0 }, allowed), v.check((x) => x < 1 || Number.isInteger(x), allowed));
}

function textList() {
  const allowed = "a list of strings";
  return v.pipe(v.unknown(), listFromText, v.array(v.string(allowed), allowed));
}

function moduleList() {
  const allowed = `a non-empty list of ${LORA_TARGET_MODULES.join(", ")}`;
  return v.pipe(v.unknown(), listFromText, v.array(v.picklist(LORA_TARGET_MODULES, allowed), allowed), v.minLength(1, allowed));
}

function tokenIdList() {
  const allowed = "a list of token ids (integers ≥ 0)";
  const id = v.pipe(v.number(allowed), v.integer(allowed), v.minValue(0, allowed));
  return v.pipe(v.unknown(), listFromText, v.array(id, allowed));
}

/** A config entry: its schema (with default) and the help text the CLI shows. */
function field<S extends v.GenericSchema>(schema: S, help: string) {
  return v.pipe(schema, v.description(help));
}

// ---- The schema ------------------------------------------------------------------------------

export const TrainConfigSchema = v.object({
  // Run and files.
  expName: field(
    v.optional(text("a name"), "latro"),
    "Experiment name; the run name is {exp_name}__{seed}__{unix time}.",
  ),
  runName: field(
    v.optional(v.nullable(text("a name")), null),
    "Run name; derived from exp_name, seed and start time when unset.",
  ),
  outputDir: field(
    v.optional(text("a directory"), "runs/latro"),
    "Directory for metrics.jsonl, samples.jsonl and checkpoints.",
  ),
  model: field(
    v.optional(text("a local Hugging Face model directory"), BUILT_IN_MODEL),
    "Policy model directory, also the frozen reference model (original name: model_name_or_path); default: the built-in models/latro-tiny.",
  ),
  checkpointPath: field(
    v.optional(v.nullable(text("a path")), null),
    "Checkpoint (or output directory, its newest checkpoint) to resume from; unset trains the base model.",
  ),
  overwriteOutputDir: field(
    v.optional(flag(), false),
    "Remove the files of an earlier run in output_dir first; without it a new run refuses a non-empty output_dir.",
  ),
  allowConfigChange: field(
    v.optional(flag(), false),
    "Resume even when fields that change the run's course differ from the checkpoint's config (they are logged).",
  ),
  dataset: field(
    v.optional(text("a dataset name"), "gsm8k"),
    "Training dataset (original: dataset_name, gsm8k or arc_challenge).",
  ),
  sanityCheck: field(v.optional(flag(), false), "Debug run: use only the first 1000 examples of each split."),
  seed: field(v.optional(integerAtLeast(0), 42), "Random seed for shuffling, sampling and initialisation."),

  // How long, and how often to evaluate, save and log.
  numTrainEpochs: field(
    v.optional(positiveNumber(), 3),
    "Sets total_episodes = num_train_epochs × training prompts when total_episodes is unset.",
  ),
  totalEpisodes: field(
    v.optional(v.nullable(integerAtLeast(1)), null),
    "Rationales to sample over the whole run; overrides num_train_epochs.",
  ),
  numEvaluations: field(
    v.optional(integerAtLeast(0), 10),
    "Evaluations during training, every max(1, ⌊updates / num_evaluations⌋) updates from update 1; 0 = none. " +
      "The best validation accuracy's model is kept as checkpoint-best; at the end it and the final model are evaluated on test.",
  ),
  evalSteps: field(
    v.optional(v.nullable(stepsOrFraction()), null),
    "Evaluate every this many updates instead of following num_evaluations.",
  ),
  saveSteps: field(
    v.optional(stepsOrFraction(), 500),
    "Save a checkpoint every this many updates; 0 = only after the last update (and on Ctrl-C), as every value also does.",
  ),
  loggingSteps: field(v.optional(stepsOrFraction(), 1), "Print a console summary every this many updates."),
  logSampleRationales: field(
    v.optional(flag(), true),
    "At each evaluation update, write the rollout batch (query, rationale, reward, advantage) to samples.jsonl.",
  ),

  // Batch sizes. One update samples per_device_train_batch_size × gradient_accumulation_steps rationales.
  perDeviceTrainBatchSize: field(v.optional(integerAtLeast(1), 8), "Rationales per gradient micro-batch."),
  gradientAccumulationSteps: field(
    v.optional(integerAtLeast(1), 2),
    "Micro-batches per update; their product with per_device_train_batch_size must be a multiple of rloo_k.",
  ),
  perDeviceEvalBatchSize: field(v.optional(integerAtLeast(1), 20), "Prompts per evaluation generation batch."),
  rolloutBatchSize: field(
    v.optional(integerAtLeast(1), 16),
    "Sequences per generation/scoring chunk while sampling rationales.",
  ),
  rlooK: field(
    v.optional(integerAtLeast(2), 16),
    "Rationales sampled per prompt (REINFORCE leave-one-out group size).",
  ),

  // Sampling rationales.
  responseLength: field(
    v.optional(integerAtLeast(1), 200),
    "Tokens generated per rationale before truncation at the first stop.",
  ),
  stopToken: field(
    v.optional(choice(STOP_TOKENS), "both"),
    "Token(s) that end a rationale: eos, pad, or both; ignored when stop_token_ids is set.",
  ),
  stopTokenIds: field(
    v.optional(v.nullable(tokenIdList()), null),
    "Token ids that end a rationale; overrides stop_token.",
  ),
  stopSeqs: field(
    v.optional(textList(), [...DEFAULT_STOP_SEQS]),
    "Strings that end a rationale (matched as token sequences); the rationale excludes them.",
  ),
  temperature: field(
    v.optional(positiveNumber(), 1),
    "Rollout sampling temperature. The original ignores it and samples at 1.0 (top_k 0, top_p 1).",
  ),

  // The objective.
  klCoef: field(
    v.optional(numberAtLeast(0), 0.05),
    "β: reward = log π(y|x⊕z) − β·(log π(z|x) − log π₀(z|x)).",
  ),
  nonStopPenalty: field(
    v.optional(flag(), true),
    "Replace the reward of rationales that never stop by penalty_reward_value × the batch's mean reward.",
  ),
  penaltyRewardValue: field(
    v.optional(numberAtLeast(0), 2),
    "Multiplier of the batch's mean reward given to rationales that never stop.",
  ),
  sftPenalty: field(
    v.optional(numberAtLeast(0), 0),
    "Weight of the SFT loss −log π(y|x⊕z) added to the policy loss; 1 gives the paper's Eq. 4 gradient.",
  ),

  // Optimiser (AdamW) and learning-rate schedule.
  learningRate: field(v.optional(positiveNumber(), 5e-7), "Peak learning rate."),
  lrSchedulerType: field(
    v.optional(choice(LR_SCHEDULER_TYPES), "linear"),
    "Learning-rate schedule over the updates, as transformers' get_scheduler.",
  ),
  warmupSteps: field(v.optional(integerAtLeast(0), 0), "Linear warmup updates; overrides warmup_ratio when > 0."),
  warmupRatio: field(v.optional(fraction(), 0), "Warmup as a fraction of all updates (rounded up)."),
  weightDecay: field(
    v.optional(numberAtLeast(0), 0),
    "AdamW decoupled weight decay (not applied to biases and norm weights).",
  ),
  adamBeta1: field(v.optional(fractionBelowOne(), 0.9), "AdamW β1."),
  adamBeta2: field(v.optional(fractionBelowOne(), 0.999), "AdamW β2."),
  adamEpsilon: field(v.optional(positiveNumber(), 1e-8), "AdamW ε."),
  maxGradNorm: field(
    v.optional(numberAtLeast(0), 0),
    "Clip the global gradient norm to this; 0 = no clipping (as the original).",
  ),

  // Memory: LoRA, activation checkpointing, the budget the memory plan must fit.
  loraR: field(
    v.optional(v.nullable(integerAtLeast(1)), null),
    "LoRA rank; set to train LoRA adapters over the frozen base (kept in its checkpoint dtype) instead of every weight.",
  ),
  loraAlpha: field(v.optional(positiveNumber(), 8), "LoRA alpha: the update is scaled by lora_alpha / lora_r (PEFT's default 8)."),
  loraDropout: field(
    v.optional(numberIn({ min: 0, max: 1, maxExclusive: true }), 0),
    "Dropout on the LoRA adapters' input during training passes (PEFT's lora_dropout).",
  ),
  loraTargetModules: field(
    v.optional(moduleList(), [...LORA_TARGET_MODULES]),
    "Projections that get adapters (comma-separated).",
  ),
  gradientCheckpointing: field(
    v.optional(flag(), false),
    "Keep only each layer's input in the training forward and recompute the layer in backward.",
  ),
  memoryBudget: field(
    v.optional(positiveNumber(), 24),
    "GB of GPU memory the run may plan to use; a run whose memory plan exceeds it stops before loading weights.",
  ),
});

export type TrainConfig = v.InferOutput<typeof TrainConfigSchema>;
export type TrainConfigKey = keyof TrainConfig;

/**
 * Fields that do not change what a run computes (where files go; how often to log, evaluate, save;
 * memory): a resumed run may change them. Every other field must match the checkpoint's (resume.ts).
 */
export const UNTRACKED_FIELDS: readonly TrainConfigKey[] = [
  "expName",
  "runName",
  "outputDir",
  "checkpointPath",
  "overwriteOutputDir",
  "allowConfigChange",
  "numEvaluations",
  "evalSteps",
  "saveSteps",
  "loggingSteps",
  "logSampleRationales",
  "perDeviceEvalBatchSize",
  "gradientCheckpointing", // the same gradients, bit for bit
  "memoryBudget",
];

const FIELD_KEYS = Object.keys(TrainConfigSchema.entries) as TrainConfigKey[];
const ALIASES: Record<string, TrainConfigKey> = { modelNameOrPath: "model", datasetName: "dataset" };

/** Every problem found, one message per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid training config:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

// ---- Names -----------------------------------------------------------------------------------

const toCamel = (key: string) => key.replace(/[-_]+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** The name in YAML and in the original: rlooK → rloo_k, adamBeta1 → adam_beta1. */
export const snakeName = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** The command-line flag: rlooK → --rloo-k. */
export const flagName = (key: string) => `--${snakeName(key).replaceAll("_", "-")}`;

// ---- Parsing ---------------------------------------------------------------------------------

type Origin = "yaml" | "cli";

/**
 * Validates a config from a parsed YAML document (or null for none) and command-line overrides,
 * returning it with defaults filled in, or throwing a ConfigError that lists every problem: the
 * field, the value given and where, and what is allowed.
 *
 * `cliOverrides` keys may be kebab-, snake- or camelCase (citty reports each flag in both kebab- and
 * camelCase); undefined values are ignored. Pass only the config flags, not citty's `_`.
 */
export function parseTrainConfig(yaml: unknown, cliOverrides: Record<string, unknown> = {}): TrainConfig {
  const problems: string[] = [];
  if (yaml !== null && yaml !== undefined && (typeof yaml !== "object" || Array.isArray(yaml))) {
    throw new ConfigError([`the config file must be a mapping of field: value, got ${JSON.stringify(yaml)}`]);
  }
  const merged: Record<string, unknown> = {};
  const origins = new Map<string, { origin: Origin; name: string }>();
  const take = (source: Record<string, unknown>, origin: Origin) => {
    for (const [name, value] of Object.entries(source)) {
      if (value === undefined) continue;
      const key = canonicalKey(name);
      if (key === undefined) {
        const place = origin === "cli" ? `--${name}` : `"${name}" in the config file`;
        problems.push(`unknown field ${place}; known fields: ${FIELD_KEYS.map(snakeName).join(", ")}`);
        continue;
      }
      const earlier = origins.get(key);
      if (earlier?.origin === origin && !Object.is(merged[key], value)) {
        const place = origin === "cli" ? "on the command line" : "in the config file";
        problems.push(`${snakeName(key)} is given twice ${place} with different values, as "${earlier.name}" and "${name}"`);
        continue;
      }
      merged[key] = value;
      origins.set(key, { origin, name });
    }
  };
  take((yaml ?? {}) as Record<string, unknown>, "yaml");
  take(cliOverrides, "cli");

  const result = v.safeParse(TrainConfigSchema, merged);
  if (!result.success) {
    for (const issue of result.issues) {
      const [head, ...rest] = issue.path ?? [];
      const key = String(head?.key);
      const label = snakeName(key) + rest.map((item) => `[${String(item.key)}]`).join("");
      const given = origins.get(key);
      if (given === undefined) {
        const help = v.getDescription(TrainConfigSchema.entries[key as TrainConfigKey]);
        problems.push(`${label}: missing; it is required. ${help}`);
      } else {
        const place = given.origin === "cli" ? `from ${flagName(key)}` : "in the config file";
        problems.push(`${label}: got ${JSON.stringify(issue.input)} ${place}; expected ${issue.message}`);
      }
    }
    throw new ConfigError(problems);
  }
  const config = result.output;
  const rollouts = config.perDeviceTrainBatchSize * config.gradientAccumulationSteps;
  if (rollouts % config.rlooK !== 0) {
    problems.push(
      `per_device_train_batch_size × gradient_accumulation_steps = ${config.perDeviceTrainBatchSize} × ` +
        `${config.gradientAccumulationSteps} = ${rollouts} must be a multiple of rloo_k = ${config.rlooK}: ` +
        `each update samples rloo_k rationales for each of its prompts`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function canonicalKey(name: string): TrainConfigKey | undefined {
  const camel = toCamel(name);
  if (Object.hasOwn(ALIASES, camel)) return ALIASES[camel];
  return (FIELD_KEYS as string[]).includes(camel) ? (camel as TrainConfigKey) : undefined;
}

/** Reads a YAML config file (Bun.YAML); an empty file is an empty config. A key given twice is an error. */
export async function readYamlConfig(path: string): Promise<unknown> {
  const file = Bun.file(path);
  if (!(await file.exists())) throw new ConfigError([`config file ${path} does not exist`]);
  const source = await file.text();
  let parsed: unknown;
  try {
    parsed = Bun.YAML.parse(source);
  } catch (error) {
    throw new ConfigError([`${path} is not valid YAML: ${(error as Error).message}`]);
  }
  const duplicates = duplicateTopLevelKeys(source);
  if (duplicates.length > 0) throw new ConfigError(duplicates.map((d) => `${path}: ${d}`));
  return parsed;
}

/**
 * Keys written more than once at the top level of a YAML mapping (the parser keeps the last one
 * silently), one message each with both line numbers. Config files are flat mappings, so a top-level
 * key is a line that starts with a name followed by a colon.
 */
export function duplicateTopLevelKeys(source: string): string[] {
  const seen = new Map<string, number>();
  const problems: string[] = [];
  source.split("\n").forEach((line, i) => {
    const m = /^(["']?)([A-Za-z_][\w-]*)\1\s*:/.exec(line);
    if (!m) return;
    const key = m[2];
    const first = seen.get(key);
    if (first !== undefined) problems.push(`"${key}" is given twice, on lines ${first} and ${i + 1}`);
    else seen.set(key, i + 1);
  });
  return problems;
}

/** citty argument definitions: one kebab-case flag per field, with its help and default. */
export function trainConfigCliArgs(): ArgsDef {
  const args: ArgsDef = {};
  for (const key of FIELD_KEYS) {
    const entry = TrainConfigSchema.entries[key];
    const fallback = v.getDefault(entry);
    const help = v.getDescription(entry) ?? "";
    const name = flagName(key).slice(2);
    const description = fallback === undefined ? `${help} (required)` : `${help} (default: ${JSON.stringify(fallback)})`;
    args[name] = { type: typeof fallback === "boolean" ? "boolean" : "string", description };
  }
  return args;
}

// ---- Derived quantities ----------------------------------------------------------------------

/** Everything the training loop counts, derived from the config in one place. */
export interface TrainSchedule {
  /** Rationales per update: per_device_train_batch_size × gradient_accumulation_steps (the original's local_batch_size). */
  rolloutsPerUpdate: number;
  /** Prompts drawn per update: rolloutsPerUpdate / rloo_k (the original's dataloader batch size). */
  promptsPerUpdate: number;
  microBatchSize: number;
  microBatchesPerUpdate: number;
  /** Rationales over the run: total_episodes, or ⌊num_train_epochs × training prompts⌋. */
  totalEpisodes: number;
  /** ⌈totalEpisodes / rolloutsPerUpdate⌉; the run may sample a little more than totalEpisodes. */
  numUpdates: number;
  /** Passes over the training prompts the run actually makes: numUpdates × promptsPerUpdate / prompts. */
  promptEpochs: number;
  /** Evaluate at updates u with (u − 1) % evalEvery = 0 (from update 1, as the original); 0 = never. */
  evalEvery: number;
  /** Save at updates u with u % saveEvery = 0, and after the last update (so 0 = only then). */
  saveEvery: number;
  /** Print a summary at updates u with u % logEvery = 0; 0 = never. */
  logEvery: number;
  lr: LrSchedule;
}

export function deriveSchedule(config: TrainConfig, trainPrompts: number): TrainSchedule {
  const rolloutsPerUpdate = config.perDeviceTrainBatchSize * config.gradientAccumulationSteps;
  const promptsPerUpdate = rolloutsPerUpdate / config.rlooK;
  if (!Number.isInteger(trainPrompts) || trainPrompts < promptsPerUpdate) {
    throw new ConfigError([
      `the training set has ${trainPrompts} prompts, fewer than the ${promptsPerUpdate} one update draws ` +
        `(per_device_train_batch_size × gradient_accumulation_steps / rloo_k)`,
    ]);
  }
  const totalEpisodes = config.totalEpisodes ?? Math.floor(config.numTrainEpochs * trainPrompts);
  if (totalEpisodes < rolloutsPerUpdate) {
    const given = config.totalEpisodes !== null ? `total_episodes ${totalEpisodes}` : `num_train_epochs × training prompts = ${totalEpisodes} episodes`;
    throw new ConfigError([
      `${given} is less than one update, which samples per_device_train_batch_size × gradient_accumulation_steps = ${rolloutsPerUpdate} rationales`,
    ]);
  }
  const numUpdates = Math.ceil(totalEpisodes / rolloutsPerUpdate);
  const absolute = (steps: number) => (steps > 0 && steps < 1 ? Math.ceil(numUpdates * steps) : steps);
  const evalEvery =
    config.evalSteps !== null
      ? absolute(config.evalSteps)
      : config.numEvaluations > 0
        ? Math.max(1, Math.floor(numUpdates / config.numEvaluations))
        : 0;
  return {
    rolloutsPerUpdate,
    promptsPerUpdate,
    microBatchSize: config.perDeviceTrainBatchSize,
    microBatchesPerUpdate: config.gradientAccumulationSteps,
    totalEpisodes,
    numUpdates,
    promptEpochs: (numUpdates * promptsPerUpdate) / trainPrompts,
    evalEvery,
    saveEvery: absolute(config.saveSteps),
    logEvery: absolute(config.loggingSteps),
    lr: {
      learningRate: config.learningRate,
      lrSchedulerType: config.lrSchedulerType,
      warmupSteps: config.warmupSteps > 0 ? config.warmupSteps : Math.ceil(numUpdates * config.warmupRatio),
      totalSteps: numUpdates,
    },
  };
}

/** The run name: run_name, or {exp_name}__{seed}__{unix seconds} as the original. */
export function runName(config: TrainConfig, startUnixSeconds: number): string {
  return config.runName ?? `${config.expName}__${config.seed}__${Math.floor(startUnixSeconds)}`;
}

/** The run's LoRA configuration, or null when lora_r is unset (full fine-tuning). */
export function loraConfigOf(config: TrainConfig): LoraConfig | null {
  if (config.loraR === null) return null;
  return { r: config.loraR, alpha: config.loraAlpha, dropout: config.loraDropout, targetModules: config.loraTargetModules };
}

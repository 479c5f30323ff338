// Config parsing: the original's defaults, name forms, CLI-over-YAML precedence, error messages,
// the rloo_k rule, derived counts, and the shipped config files.
import { describe, expect, test } from "bun:test";
import { parseArgs } from "citty";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUILT_IN_MODEL } from "../../src/model/built-in.ts";
import {
  ConfigError,
  DEFAULT_STOP_SEQS,
  deriveSchedule,
  loraConfigOf,
  parseTrainConfig,
  readYamlConfig,
  runName,
  trainConfigCliArgs,
} from "../../src/latro/config.ts";
import { loadDataset } from "../../src/data/registry.ts";

const configFile = (name: string) => new URL(`../../configs/${name}`, import.meta.url).pathname;

/** The ConfigError's problem lines, or a failure if parsing succeeds. */
function problemsOf(yaml: unknown, cli: Record<string, unknown> = {}): string[] {
  try {
    parseTrainConfig(yaml, cli);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

test("defaults are the original TrainerConfig's", () => {
  const c = parseTrainConfig({ model: "m" });
  expect(c).toMatchObject({
    rlooK: 16,
    klCoef: 0.05,
    learningRate: 5e-7,
    responseLength: 200,
    stopToken: "both",
    stopTokenIds: null,
    temperature: 1,
    nonStopPenalty: true,
    penaltyRewardValue: 2,
    sftPenalty: 0,
    numEvaluations: 10,
    perDeviceEvalBatchSize: 20,
    rolloutBatchSize: 16,
    totalEpisodes: null,
    numTrainEpochs: 3,
    lrSchedulerType: "linear",
    warmupSteps: 0,
    warmupRatio: 0,
    adamBeta1: 0.9,
    adamBeta2: 0.999,
    adamEpsilon: 1e-8,
    weightDecay: 0,
    seed: 42,
    dataset: "gsm8k",
  });
  expect(c.stopSeqs).toEqual([...DEFAULT_STOP_SEQS]);
  expect(c.stopSeqs).toHaveLength(18);
  expect(c.stopSeqs[2]).toBe("\nAnswer:");
  expect((c.perDeviceTrainBatchSize * c.gradientAccumulationSteps) % c.rlooK).toBe(0);
});

test("snake_case, kebab-case, camelCase and the original's aliases name the same fields", () => {
  const c = parseTrainConfig({ model_name_or_path: "m", "kl-coef": 0.1, sftPenalty: 1, dataset_name: "arc_challenge" });
  expect(c).toMatchObject({ model: "m", klCoef: 0.1, sftPenalty: 1, dataset: "arc_challenge" });
});

test("command-line values override the file's", () => {
  const yaml = { model: "m", rloo_k: 4, learning_rate: 1e-6, non_stop_penalty: true };
  // citty reports each flag twice, kebab- and camelCase, with the same text.
  const c = parseTrainConfig(yaml, { "rloo-k": "8", rlooK: "8", "learning-rate": "2e-6", "non-stop-penalty": false });
  expect(c.rlooK).toBe(8);
  expect(c.learningRate).toBe(2e-6);
  expect(c.nonStopPenalty).toBe(false);
  // A bad file value that the command line replaces is no error; a bad override is, naming its flag.
  expect(parseTrainConfig({ model: "m", kl_coef: "lots" }, { "kl-coef": "0.2" }).klCoef).toBe(0.2);
  expect(problemsOf({ model: "m", kl_coef: 0.2 }, { "kl-coef": "lots" })).toEqual([
    'kl_coef: got "lots" from --kl-coef; expected a number ≥ 0',
  ]);
});

test("text values from the command line become numbers, booleans and lists", () => {
  const c = parseTrainConfig(null, {
    model: "m",
    "sanity-check": "true",
    "stop-token-ids": "151643,151645",
    "stop-seqs": '["Answer:", "So, the answer is"]',
    "total-episodes": "1000",
  });
  expect(c.sanityCheck).toBe(true);
  expect(c.stopTokenIds).toEqual([151643, 151645]);
  expect(c.stopSeqs).toEqual(["Answer:", "So, the answer is"]);
  expect(c.totalEpisodes).toBe(1000);
});

test("bad values are reported with the field, the value, where it came from and what is allowed", () => {
  const problems = problemsOf(
    { model: "m", rloo_k: 1, stop_token: "eot", learning_rate: -1, stop_seqs: ["Answer:", 3], warmup_ratio: 1.5 },
    { "per-device-train-batch-size": "2.5" },
  );
  expect(problems).toEqual([
    'per_device_train_batch_size: got 2.5 from --per-device-train-batch-size; expected an integer ≥ 1',
    "rloo_k: got 1 in the config file; expected an integer ≥ 2",
    'stop_token: got "eot" in the config file; expected one of eos, pad, both',
    "stop_seqs[1]: got 3 in the config file; expected a list of strings",
    "learning_rate: got -1 in the config file; expected a number > 0",
    "warmup_ratio: got 1.5 in the config file; expected a number in [0, 1]",
  ]);
});

test("the model defaults to the built-in one; unknown fields and conflicting duplicates are errors", () => {
  expect(parseTrainConfig({}).model).toBe(BUILT_IN_MODEL);
  expect(BUILT_IN_MODEL).toBe(resolve(import.meta.dir, "../../models/latro-tiny"));
  expect(problemsOf({ model: "m", rlo_k: 4 })[0]).toStartWith('unknown field "rlo_k" in the config file; known fields: exp_name,');
  expect(problemsOf({ model: "m" }, { "rloo-kay": "4" })[0]).toStartWith("unknown field --rloo-kay;");
  expect(problemsOf({ model: "m", model_name_or_path: "n" })).toEqual([
    'model is given twice in the config file with different values, as "model" and "model_name_or_path"',
  ]);
  expect(problemsOf([1, 2])[0]).toBe("the config file must be a mapping of field: value, got [1,2]");
});

test("per_device_train_batch_size × gradient_accumulation_steps must be a multiple of rloo_k", () => {
  expect(problemsOf({ model: "m", per_device_train_batch_size: 4, gradient_accumulation_steps: 3, rloo_k: 8 })).toEqual([
    "per_device_train_batch_size × gradient_accumulation_steps = 4 × 3 = 12 must be a multiple of rloo_k = 8: " +
      "each update samples rloo_k rationales for each of its prompts",
  ]);
  expect(parseTrainConfig({ model: "m", per_device_train_batch_size: 4, gradient_accumulation_steps: 4, rloo_k: 8 }).rlooK).toBe(8);
});

test("derived counts: updates from epochs or episodes, prompts per update, eval/save/warmup steps", () => {
  const base = {
    model: "m",
    per_device_train_batch_size: 4,
    gradient_accumulation_steps: 3,
    rloo_k: 6,
    num_train_epochs: 3,
    warmup_ratio: 0.1,
    save_steps: 0.2,
  };
  const s = deriveSchedule(parseTrainConfig(base), 100);
  // 12 rationales = 2 prompts per update; 3 × 100 = 300 episodes → ⌈300/12⌉ = 25 updates, 50 prompts.
  expect(s).toMatchObject({
    rolloutsPerUpdate: 12,
    promptsPerUpdate: 2,
    microBatchSize: 4,
    microBatchesPerUpdate: 3,
    totalEpisodes: 300,
    numUpdates: 25,
    promptEpochs: 0.5,
    evalEvery: 2, // max(1, ⌊25 / 10⌋)
    saveEvery: 5, // ⌈25 × 0.2⌉
    logEvery: 1,
  });
  expect(s.lr).toEqual({ learningRate: 5e-7, lrSchedulerType: "linear", warmupSteps: 3, totalSteps: 25 }); // ⌈2.5⌉

  const byEpisodes = deriveSchedule(parseTrainConfig({ ...base, total_episodes: 50, eval_steps: 3, warmup_steps: 1 }), 100);
  expect(byEpisodes).toMatchObject({ totalEpisodes: 50, numUpdates: 5, evalEvery: 3 });
  expect(byEpisodes.lr.warmupSteps).toBe(1);
  expect(deriveSchedule(parseTrainConfig({ ...base, num_evaluations: 0 }), 100).evalEvery).toBe(0);
  expect(() => deriveSchedule(parseTrainConfig(base), 1)).toThrow(/1 prompts, fewer than the 2 one update draws/);
  expect(() => deriveSchedule(parseTrainConfig({ ...base, total_episodes: 11 }), 100)).toThrow(
    "total_episodes 11 is less than one update, which samples per_device_train_batch_size × gradient_accumulation_steps = 12 rationales",
  );
  expect(deriveSchedule(parseTrainConfig({ ...base, total_episodes: 12 }), 100).numUpdates).toBe(1);
});

test("a key given twice in a YAML file is an error naming both lines", async () => {
  const file = join(tmpdir(), `latro-duplicate-${process.pid}.yaml`);
  await Bun.write(file, "model: m\nrloo_k: 4\n# rloo_k: 8 in a comment is fine\nnested:\n  rloo_k: 2\nrloo_k: 8\n");
  await expect(readYamlConfig(file)).rejects.toThrow(`${file}: "rloo_k" is given twice, on lines 2 and 6`);
  await Bun.write(file, "model: m\nrloo_k: 4\n");
  expect(await readYamlConfig(file)).toEqual({ model: "m", rloo_k: 4 });
  rmSync(file);
});

test("the run name is run_name or {exp_name}__{seed}__{unix seconds}", () => {
  expect(runName(parseTrainConfig({ model: "m", exp_name: "x", seed: 7 }), 1700000000.9)).toBe("x__7__1700000000");
  expect(runName(parseTrainConfig({ model: "m", run_name: "mine" }), 0)).toBe("mine");
});

test("the CLI declares one kebab-case flag per field, and citty's output parses", () => {
  const args = trainConfigCliArgs();
  expect(args["rloo-k"]).toMatchObject({ type: "string" });
  expect(args["non-stop-penalty"]).toMatchObject({ type: "boolean" });
  expect(args["model"]?.description).toEndWith(`(default: ${JSON.stringify(BUILT_IN_MODEL)})`);
  const { _, ...parsed } = parseArgs(["--model", "m", "--rloo-k", "4", "--no-non-stop-penalty", "--kl-coef=0"], args);
  expect(_).toEqual([]);
  expect(parseTrainConfig(null, parsed)).toMatchObject({ model: "m", rlooK: 4, nonStopPenalty: false, klCoef: 0 });
});

test("the shipped configs parse and satisfy the rloo_k rule", async () => {
  const gsm8k = parseTrainConfig(await readYamlConfig(configFile("gsm8k.yaml")));
  expect(gsm8k).toMatchObject({ model: "Qwen/Qwen2.5-0.5B-Instruct", rlooK: 8, learningRate: 5e-7, klCoef: 0.05 });
  expect(deriveSchedule(gsm8k, 7473)).toMatchObject({ promptsPerUpdate: 4, numUpdates: 500 });
  const sanity = parseTrainConfig(await readYamlConfig(configFile("sanity.yaml")));
  expect(sanity.sanityCheck).toBe(true);
  expect(deriveSchedule(sanity, 1000)).toMatchObject({ promptsPerUpdate: 1, numUpdates: 4 });
  for (const name of ["default.yaml", "arith.yaml"]) {
    const config = parseTrainConfig(await readYamlConfig(configFile(name)));
    const train = loadDataset(config.dataset, "train");
    expect(train.examples.length).toBeGreaterThan(0);
    expect(deriveSchedule(config, train.examples.length).numUpdates).toBeGreaterThan(0);
  }
});

describe("LoRA, checkpointing and memory fields", () => {
  test("defaults: no LoRA (full fine-tuning), PEFT's alpha and dropout, every projection, no checkpointing, 24 GB", () => {
    const c = parseTrainConfig(null, {});
    expect(loraConfigOf(c)).toBeNull();
    expect([c.loraAlpha, c.loraDropout, c.gradientCheckpointing, c.memoryBudget]).toEqual([8, 0, false, 24]);
    expect(c.loraTargetModules).toEqual(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]);
  });

  test("flags as text: a subset of modules, rank, alpha, dropout", () => {
    const c = parseTrainConfig(null, { "lora-r": "16", "lora-alpha": "32", "lora-dropout": "0.05", "lora-target-modules": "q_proj,v_proj", "gradient-checkpointing": true });
    expect(loraConfigOf(c)).toEqual({ r: 16, alpha: 32, dropout: 0.05, targetModules: ["q_proj", "v_proj"] });
    expect(c.gradientCheckpointing).toBe(true);
  });

  test("bad values name the field, the value and what is allowed", () => {
    expect(() => parseTrainConfig(null, { "lora-target-modules": "q_proj,qkv" })).toThrow('lora_target_modules[1]: got "qkv" from --lora-target-modules; expected a non-empty list of q_proj');
    expect(() => parseTrainConfig(null, { "lora-dropout": "1" })).toThrow("lora_dropout: got 1 from --lora-dropout; expected a number in [0, 1)");
    expect(() => parseTrainConfig(null, { "lora-r": "0" })).toThrow("lora_r: got 0 from --lora-r; expected an integer ≥ 1");
  });
});

// SFT and pretraining pieces: the supervised targets (gold rationale ⊕ y), the loss mask of a batch
// against a hand-made example, length grouping, the mixed data stream, an overfit run of the SFT loop
// on a tiny random model with the built-in tokenizer, and the command lines' flag errors.
import { afterAll, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { noGrad, zeroGrad } from "../../src/autograd/tape.ts";
import { parsePretrainArgs, pretrainArgs } from "../../src/cli/build-base-model.ts";
import { parseSftArgs, sftArgs } from "../../src/cli/sft.ts";
import { gsm8kProblems } from "../../src/data/gsm8k.ts";
import { loadDataset } from "../../src/data/registry.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import { initModel } from "../../src/model/init.ts";
import { loadModel } from "../../src/model/load.ts";
import type { Transformer } from "../../src/model/transformer.ts";
import { MetricsWriter } from "../../src/train/metrics-writer.ts";
import { openCheckpoint } from "../../src/train/resume.ts";
import { encodeExample, lmBatch, type LmBatch } from "../../src/sft/batch.ts";
import { sftDataset } from "../../src/sft/examples.ts";
import { groupByLength } from "../../src/sft/grouping.ts";
import { MixedStream } from "../../src/sft/mix.ts";
import { llamaConfig, pretrain, type PretrainConfig } from "../../src/sft/pretrain.ts";
import { trainSft, type SftConfig } from "../../src/sft/sft.ts";
import { lmPasses } from "../../src/sft/step.ts";
import { loadTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { setupGpu } from "../helpers.ts";

const TOKENIZER_DIR = new URL("../../models/latro-tiny", import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), "latro-sft-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("SFT targets are the gold rationale, calculator annotations kept, then y; datasets without rationales keep y", () => {
  const gsm = sftDataset("gsm8k", "val").examples[0];
  const problem = gsm8kProblems("val")[0];
  expect(gsm.id).toBe(problem.id);
  expect(gsm.response).toBe(`${problem.rationale}The answer is ${problem.answer}.`);
  expect(gsm.response).toContain("<<");
  const arith = sftDataset("arith:steps=2", "train").examples[0];
  expect(arith.response).toMatch(/^.+ = <<[^>]+>>\d+ .+\n.+\nThe answer is \d+\.$/);
  expect(sftDataset("arc_challenge", "val").examples).toEqual(loadDataset("arc_challenge", "val").examples);
});

test("the loss mask covers exactly the predictions of target tokens, rows left-padded and truncated", () => {
  const PAD = 0;
  const rows = [
    { prompt: [5, 6, 7], target: [8, 9] },
    { prompt: [1], target: [2, 3, 4, 5, 6] }, // cut to 5 tokens: [1, 2, 3, 4, 5]
    { prompt: [4, 4, 4, 4, 4, 4], target: [9] }, // the prompt fills the row: nothing to learn
  ];
  const b = lmBatch(rows, PAD, 5);
  expect([b.B, b.T]).toEqual([3, 5]);
  // prettier-ignore
  expect(Array.from(b.tokens)).toEqual([
    5, 6, 7, 8, 9,
    1, 2, 3, 4, 5,
    4, 4, 4, 4, 4,
  ]);
  // Position t predicts token t + 1: row 0 learns 8 (at t=2) and 9 (t=3); row 1 learns 2..5 (t=0..3).
  // prettier-ignore
  expect(Array.from(b.mask)).toEqual([
    0, 0, 1, 1, 0,
    1, 1, 1, 1, 0,
    0, 0, 0, 0, 0,
  ]);
  expect(b.lossTokens).toBe(6);
  expect(b.seqTokens).toBe(15);
  const padded = lmBatch([{ prompt: [3], target: [4] }, { prompt: [5, 6], target: [7] }], PAD, 10, true);
  expect(Array.from(padded.tokens)).toEqual([0, 3, 4, 5, 6, 7]);
  expect(Array.from(padded.mask)).toEqual([0, 1, 0, 1, 1, 0]);
});

test("length grouping sorts each megabatch, longest first, and keeps every item", () => {
  const items = [3, 9, 1, 7, 2, 8, 5];
  expect(groupByLength(items, (x) => x, 3)).toEqual([9, 3, 1, 8, 7, 2, 5]);
  expect(() => groupByLength(items, (x) => x, 0)).toThrow("megabatch must be an integer ≥ 1, got 0");
});

test("the mixed stream is seeded, follows the mix and reads each pool once per pass", () => {
  const a = ["a0", "a1", "a2"];
  const b = Array.from({ length: 50 }, (_, i) => `b${i}`);
  const draw = (seed: number) => {
    const s = new MixedStream(a, b, 0.3, seed);
    return Array.from({ length: 200 }, () => s.next());
  };
  const xs = draw(1);
  expect(draw(1)).toEqual(xs);
  expect(draw(2)).not.toEqual(xs);
  const fromA = xs.filter((x) => x.startsWith("a"));
  expect(fromA.length / xs.length).toBeGreaterThan(0.2);
  expect(fromA.length / xs.length).toBeLessThan(0.4);
  expect(new Set(fromA.slice(0, 3)).size).toBe(3);
  expect(new Set(xs.filter((x) => x.startsWith("b")).slice(0, 50)).size).toBe(50);
});

/** Mean NLL of the batch's target tokens under `model`. */
async function targetNll(model: Transformer, batch: LmBatch, pad: number): Promise<number> {
  return scopeAsync(async () => {
    const lp = (await noGrad(() => model.logprobs(tokenBatch(batch.tokens, batch.B, batch.T, pad))).toArray()) as Float32Array;
    return -lp.reduce((s, x, i) => s + batch.mask[i] * x, 0) / batch.lossTokens;
  });
}

test("SFT steps on a tiny model overfit a handful of arith examples; the saved model loads", async () => {
  await setupGpu();
  const tokenizer = await loadTokenizer(TOKENIZER_DIR);
  const shape = { hiddenSize: 32, numLayers: 2, numHeads: 2, numKvHeads: 1, intermediateSize: 64, maxPositions: 256 };
  const model = initModel(llamaConfig(shape, tokenizer), 7);
  const train = sftDataset("arith:steps=1", "train").examples.slice(0, 4);
  const pad = tokenizer.pad.id;

  // The passes' loss is the mean NLL of the target tokens under the weights they ran with.
  const batch = lmBatch(train.map((e) => encodeExample(tokenizer, e)), pad, 256);
  const before = await targetNll(model, batch, pad);
  const probe = lmPasses(model, [batch], pad);
  for (const pass of probe.passes) await pass();
  zeroGrad(model.parameters());
  expect(probe.loss()).toBeCloseTo(before, 4);
  expect(before).toBeGreaterThan(Math.log(tokenizer.vocabSize) - 0.5);

  const outputDir = join(root, "overfit");
  const config: SftConfig = {
    outputDir,
    learningRate: 2e-2,
    numTrainEpochs: 30,
    perDeviceTrainBatchSize: 2,
    gradientAccumulationSteps: 2,
    maxLength: 256,
    warmupRatio: 0,
    weightDecay: 0,
    maxGradNorm: 1,
    seed: 0,
    saveSteps: 0,
    loggingSteps: 0,
    groupByLength: true,
  };
  const result = await trainSft({ config, model, tokenizer, train, tokenizerDir: TOKENIZER_DIR, metrics: new MetricsWriter(outputDir) });
  expect(result.step).toBe(30);
  const log = readFileSync(join(outputDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(log.map((m) => m.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  const last = log[log.length - 1];
  expect(last.loss).toBeLessThan(0.5 * log[0].loss);
  expect(last.epoch).toBe(30);
  for (const key of ["lr", "grad_norm", "tokens/s"]) expect(Number.isFinite(last[key])).toBe(true);

  const reloaded = await loadModel(outputDir);
  expect(await targetNll(reloaded, batch, pad)).toBeLessThan(0.5 * before);
});

test("an SFT run killed after logging update 3 and resumed from checkpoint-2 logs the uninterrupted run's rows", async () => {
  await setupGpu();
  const tokenizer = await loadTokenizer(TOKENIZER_DIR);
  const shape = { hiddenSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 32, maxPositions: 128 };
  const train = sftDataset("arith:steps=1", "train").examples.slice(0, 6);
  const config = (outputDir: string): SftConfig => ({
    outputDir,
    learningRate: 1e-2,
    numTrainEpochs: 2,
    perDeviceTrainBatchSize: 2,
    gradientAccumulationSteps: 1,
    maxLength: 128,
    warmupRatio: 0,
    weightDecay: 0,
    maxGradNorm: 1,
    seed: 5,
    saveSteps: 2,
    loggingSteps: 0,
    groupByLength: false,
  });
  const run = async (outputDir: string, resumeFrom?: string) => {
    const c = config(outputDir);
    const resume = resumeFrom ? await openCheckpoint({ checkpointPath: resumeFrom, config: c, untracked: ["outputDir"], allowConfigChange: false }) : null;
    const model = initModel(llamaConfig(shape, tokenizer), 3);
    return trainSft({ config: c, model, tokenizer, train, tokenizerDir: TOKENIZER_DIR, metrics: new MetricsWriter(outputDir), resume });
  };
  const full = join(root, "sft-full");
  expect((await run(full)).step).toBe(6);
  // What a kill after update 3 was logged, before its save, leaves: rows 1–3, checkpoint-2 the newest.
  const killed = join(root, "sft-killed");
  cpSync(full, killed, { recursive: true });
  for (const step of [4, 6]) rmSync(join(killed, `checkpoint-${step}`), { recursive: true });
  writeFileSync(join(killed, "latest"), "checkpoint-2");
  const rows = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  writeFileSync(join(killed, "metrics.jsonl"), rows(full).slice(0, 3).map((r) => JSON.stringify(r) + "\n").join(""));
  expect((await run(killed, killed)).step).toBe(6);
  const withoutTimes = (dir: string) => rows(dir).map(({ "tokens/s": _, ...r }) => r);
  expect(withoutTimes(killed).map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(withoutTimes(killed)).toEqual(withoutTimes(full));
  await expect(openCheckpoint({ checkpointPath: killed, config: { ...config(killed), seed: 6 }, untracked: ["outputDir"], allowConfigChange: false })).rejects.toThrow(
    "was saved by a run with a different config, so resuming would not repeat it:\n  seed: 5 → 6\npass --allow-config-change",
  );
});

test("pretraining killed after logging step 3 and resumed from checkpoint-2 logs the uninterrupted run's rows", async () => {
  await setupGpu();
  const tokenizer = await loadTokenizer(TOKENIZER_DIR);
  const shape = { hiddenSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 32, maxPositions: 128 };
  const arith = sftDataset("arith:steps=1", "train").examples.slice(0, 20);
  const gsm8k = sftDataset("gsm8k", "train").examples.slice(0, 10);
  const config: PretrainConfig = {
    steps: 5,
    batchSize: 2,
    lr: 1e-2,
    warmupRatio: 0.2,
    weightDecay: 0,
    maxGradNorm: 1,
    seqLen: 128,
    mix: 0.5,
    seed: 2,
    lossOnQuery: false,
    logEvery: 0,
    saveEvery: 2,
  };
  const run = async (outputDir: string, resumeFrom?: string) => {
    const resume = resumeFrom ? await openCheckpoint({ checkpointPath: resumeFrom, config, untracked: [], allowConfigChange: false }) : null;
    const model = initModel(llamaConfig(shape, tokenizer), 9);
    const metrics = new MetricsWriter(outputDir);
    return pretrain({ config, model, tokenizer, arith, gsm8k, metrics, outputDir, tokenizerDir: TOKENIZER_DIR, savedConfig: config, resume });
  };
  const full = join(root, "pretrain-full");
  expect((await run(full)).step).toBe(5);
  const killed = join(root, "pretrain-killed");
  cpSync(full, killed, { recursive: true });
  for (const step of [4, 5]) rmSync(join(killed, `checkpoint-${step}`), { recursive: true });
  writeFileSync(join(killed, "latest"), "checkpoint-2");
  const rows = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  writeFileSync(join(killed, "metrics.jsonl"), rows(full).slice(0, 3).map((r) => JSON.stringify(r) + "\n").join(""));
  expect((await run(killed, killed)).step).toBe(5);
  const withoutTimes = (dir: string) => rows(dir).map(({ "tokens/s": _, seconds: __, ...r }) => r);
  expect(withoutTimes(killed).map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
  expect(withoutTimes(killed)).toEqual(withoutTimes(full));
});

test("Ctrl-C to the process group of `bun run sft` finishes the update, saves a checkpoint and exits 130", async () => {
  const out = join(root, "sft-interrupted");
  const repo = new URL("../..", import.meta.url).pathname;
  const proc = Bun.spawn(
    ["setsid", "bun", "run", "sft", "--dataset", "arith", "--limit", "400", "--per-device-train-batch-size", "2", "--max-length", "128", "--output-dir", out],
    { cwd: repo, env: { ...process.env, XDG_RUNTIME_DIR: "/tmp" }, stdout: "ignore", stderr: "pipe" },
  );
  const metrics = join(out, "metrics.jsonl");
  for (let i = 0; i < 1200 && !(existsSync(metrics) && statSync(metrics).size > 0); i++) await Bun.sleep(100);
  process.kill(-proc.pid, "SIGINT");
  expect(await proc.exited).toBe(130);
  const latest = readFileSync(join(out, "latest"), "utf8").trim();
  const rows = readFileSync(metrics, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(latest).toBe(`checkpoint-${rows.length}`);
  expect(rows.length).toBeLessThan(200);
  expect(existsSync(join(out, latest, "optimizer.safetensors"))).toBe(true);
  expect(await new Response(proc.stderr).text()).toContain(`interrupted: saved ${out}/${latest}`);
});

test("the command lines reject bad flags, naming the flag, the value and what is allowed", () => {
  const sft = (extra: Record<string, unknown>) => () => parseSftArgs({ ...sftDefaults, ...extra });
  expect(sft({})).not.toThrow();
  expect(sft({ "learning-rate": "fast" })).toThrow('--learning-rate: got "fast"; expected a number > 0');
  expect(sft({ "num-train-epochs": "0" })).toThrow('--num-train-epochs: got "0"; expected an integer ≥ 1');
  expect(sft({ "per-device-train-batch-size": "1.5" })).toThrow('--per-device-train-batch-size: got "1.5"; expected an integer ≥ 1');
  expect(sft({ "warmup-ratio": "2" })).toThrow('--warmup-ratio: got "2"; expected a number in [0, 1]');
  expect(sft({ "output-dir": "" })).toThrow('--output-dir: got ""; expected a non-empty value');
  expect(sft({ "learning-rat": true })).toThrow("unknown flag --learning-rat; expected one of --model, --dataset");
  expect(sft({ _: ["false"] })).toThrow('unexpected argument "false"');

  const pretrain = (extra: Record<string, unknown>) => () => parsePretrainArgs({ ...pretrainDefaults, ...extra });
  expect(pretrain({})).not.toThrow();
  expect(pretrain({ "kv-heads": "3" })).toThrow("--kv-heads: got 3; expected a divisor of --heads 4");
  expect(pretrain({ hidden: "100" })).toThrow("--hidden: got 100; expected a multiple of --heads 4");
  expect(pretrain({ "seq-len": "2048" })).toThrow("--seq-len: got 2048; expected at most --max-positions 1024");
  expect(pretrain({ mix: "1.5" })).toThrow('--mix: got "1.5"; expected a number in [0, 1]');
});

test("the sft command prints one error line and exits 1 on a bad value", async () => {
  const cli = new URL("../../src/cli/sft.ts", import.meta.url).pathname;
  const proc = Bun.spawnSync(["bun", cli, "--max-grad-norm", "lots"], { stderr: "pipe", stdout: "pipe" });
  expect(proc.exitCode).toBe(1);
  expect(proc.stderr.toString().trim()).toBe('error: --max-grad-norm: got "lots"; expected a number ≥ 0');
});

/** A command's arguments as citty hands them over when no flag is given. */
const defaults = (defs: Record<string, object>) => ({
  _: [],
  ...Object.fromEntries(Object.entries(defs).flatMap(([k, d]) => ("default" in d ? [[k, d.default]] : []))),
});
const sftDefaults = defaults(sftArgs);
const pretrainDefaults = defaults(pretrainArgs);

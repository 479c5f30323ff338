// End to end: LaTRO updates on a tiny random model with the built-in tokenizer finish with finite
// metrics and changed parameters; a run killed after logging an update and resumed from the last
// checkpoint logs exactly the uninterrupted run's rows; resume refuses a changed config and says when
// the run is already finished; Ctrl-C through `bun run train` (the process group, as a terminal
// sends it) saves and exits 130; the trained checkpoint loads and evaluates.
import { beforeAll, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initGpu } from "../../src/gpu/device.ts";
import { loadModel } from "../../src/model/load.ts";
import { parseTrainConfig } from "../../src/latro/config.ts";
import { runTraining } from "../../src/latro/run.ts";
import { saveTinyLatroModel } from "../model/tiny.ts";

const ROOT = join(import.meta.dir, "..", "..");
let work: string;
let modelDir: string;

beforeAll(async () => {
  await initGpu();
  work = mkdtempSync(join(tmpdir(), "latro-train-"));
  modelDir = join(work, "base");
  await saveTinyLatroModel(modelDir);
});

const base = () => ({
  model: modelDir,
  dataset: "arith",
  per_device_train_batch_size: 4,
  gradient_accumulation_steps: 1,
  rloo_k: 2,
  rollout_batch_size: 4,
  response_length: 12,
  num_evaluations: 0,
  learning_rate: 1e-3,
  kl_coef: 0.05,
  seed: 3,
});

const metricsOf = (dir: string) =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);

test("two LaTRO updates finish with finite metrics and move the parameters", async () => {
  const out = join(work, "run");
  // Untrained rationales never stop; without the non-stop penalty their rewards differ, so the
  // advantages (and with sft_penalty 1, the answer term) give every parameter a gradient.
  await runTraining(parseTrainConfig({ ...base(), output_dir: out, total_episodes: 8, non_stop_penalty: false, sft_penalty: 1 }));
  const rows = metricsOf(out);
  expect(rows.map((r) => r.step)).toEqual([1, 2]);
  for (const r of rows) {
    for (const key of ["objective/rlhf_reward", "objective/kl_penalty", "loss/policy_avg", "loss/sft_avg", "val/avg_rationale_length", "lr", "episode", "grad_norm"]) {
      expect(Number.isFinite(r[key])).toBe(true);
    }
  }
  const before = await loadModel(modelDir);
  const after = await loadModel(join(out, "checkpoint-2"));
  let changed = 0;
  for (const p of before.parameters()) {
    const a = (await p.toArray()) as Float32Array;
    const b = (await after.p(p.name!).toArray()) as Float32Array;
    if (a.some((x, i) => x !== b[i])) changed++;
  }
  expect(changed).toBe(before.parameters().length);
  expect(rows[1]["objective/kl_penalty"]).not.toBe(0); // π moved away from π₀ after the first update
  expect(existsSync(join(out, "samples.jsonl"))).toBe(false); // samples only at evaluation updates: none here
  expect(readdirSync(join(out, "checkpoint-2")).sort()).toEqual(
    ["config.json", "generation_config.json", "model.safetensors", "optimizer.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "trainer_state.json"],
  );
  const evalFlags = ["--dataset", "arith", "--split", "val", "--limit", "2", "--max-new-tokens", "8"];
  const ev = Bun.spawnSync(["bun", "run", "eval", "--model", join(out, "checkpoint-2"), ...evalFlags, "--out", join(work, "eval.jsonl")], {
    cwd: ROOT,
    env: { ...process.env, XDG_RUNTIME_DIR: "/tmp" },
  });
  expect(ev.exitCode).toBe(0);
  const summary = JSON.parse(ev.stdout.toString());
  expect(summary.examples).toBe(2);
  const results = readFileSync(join(work, "eval.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(results.map((r) => [r.phase, r.index])).toEqual([["greedy", 0], ["greedy", 1], ["summary", undefined]]);
  expect(results[2]).toEqual({ phase: "summary", ...summary });
  expect(Object.keys(results[0])).toEqual(["phase", "index", "id", "query", "responses", "extracted", "answer", "gold", "correct", "correctSamples"]);
  // Writing fails after the model loaded (/dev/full: every write is ENOSPC): the accuracy still prints.
  const full = Bun.spawnSync(["bun", "run", "eval", "--model", join(out, "checkpoint-2"), ...evalFlags, "--out", "/dev/full"], {
    cwd: ROOT,
    env: { ...process.env, XDG_RUNTIME_DIR: "/tmp" },
  });
  expect(full.exitCode).toBe(1);
  expect(JSON.parse(full.stdout.toString())).toEqual(summary);
  expect(full.stderr.toString()).toContain("error: writing /dev/full failed (");
  // A bad --out is found before the model loads (this model directory does not even exist).
  const bad = Bun.spawnSync(["bun", "run", "eval", "--model", join(work, "nowhere"), ...evalFlags, "--out", "/proc/no/such/file.jsonl"], { cwd: ROOT });
  expect(bad.exitCode).toBe(1);
  expect(bad.stderr.toString()).toContain("error: --out /proc/no/such/file.jsonl: cannot write it");
});

test("a run that evaluates keeps checkpoint-best and evaluates it and the final model on test", async () => {
  const data = join(work, "data");
  mkdirSync(data);
  const rows = (n: number, from: number) =>
    Array.from({ length: n }, (_, i) => JSON.stringify({ queries: `What is ${from + i} + 1?`, responses: `The answer is ${987650 + from + i}.`, groundtruth: 987650 + from + i }) + "\n").join("");
  writeFileSync(join(data, "q.train.jsonl"), rows(4, 0));
  writeFileSync(join(data, "q.val.jsonl"), rows(2, 10));
  writeFileSync(join(data, "q.test.jsonl"), rows(3, 20));
  const out = join(work, "selected");
  const result = await runTraining(
    parseTrainConfig({ ...base(), dataset: `jsonl:${join(data, "q.{split}.jsonl")}`, output_dir: out, total_episodes: 8, num_evaluations: 2, per_device_eval_batch_size: 4 }),
  );
  // Evaluations at updates 1 and 2; a random model answers none right, and a tie keeps the first.
  expect(result.best).toEqual({ metric: "eval/zero_shot_acc", value: 0, step: 1 });
  expect(result.test).toEqual({ final: 0, best: 0 });
  const metrics = metricsOf(out);
  expect(metrics.filter((r) => "eval/zero_shot_acc" in r).map((r) => r.step)).toEqual([1, 2]);
  expect(metrics[metrics.length - 1]).toEqual({ "test/zero_shot_acc": 0, "test/zero_shot_acc_best": 0, best_step: 1, step: 2 });
  expect(JSON.parse(readFileSync(join(out, "checkpoint-best", "trainer_state.json"), "utf8")).step).toBe(1);
  expect(JSON.parse(readFileSync(join(out, "checkpoint-2", "trainer_state.json"), "utf8")).best.step).toBe(1);
  const samples = readFileSync(join(out, "samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).step);
  expect(samples).toEqual([1, 1, 2, 2]); // rloo_k rows at each evaluation update
});

test("a run killed after logging update 3 and resumed from checkpoint-2 logs the uninterrupted run's rows", async () => {
  // Rewards that differ (no non-stop penalty) and the SFT term move the policy, so update 3 depends on
  // the restored weights and optimizer moments.
  const moving = () => ({ ...base(), non_stop_penalty: false, sft_penalty: 1 });
  const full = join(work, "full");
  await runTraining(parseTrainConfig({ ...moving(), output_dir: full, total_episodes: 12, save_steps: 2 }));
  // What a kill after update 3 was logged, before its save, leaves: rows 1–3, checkpoint-2 the newest.
  const killed = join(work, "killed");
  cpSync(full, killed, { recursive: true });
  rmSync(join(killed, "checkpoint-3"), { recursive: true });
  writeFileSync(join(killed, "latest"), "checkpoint-2");
  expect(metricsOf(killed).map((r) => r.step)).toEqual([1, 2, 3]);
  await runTraining(parseTrainConfig({ ...moving(), output_dir: killed, total_episodes: 12, save_steps: 2, checkpoint_path: killed }));
  const withoutTimes = (dir: string) => metricsOf(dir).map(({ eps: _, "time/rollout": __, "time/update": ___, ...r }) => r);
  expect(withoutTimes(killed).map((r) => r.step)).toEqual([1, 2, 3]);
  expect(withoutTimes(killed)).toEqual(withoutTimes(full));

  await expect(
    runTraining(parseTrainConfig({ ...moving(), output_dir: killed, total_episodes: 12, seed: 4, rloo_k: 4, checkpoint_path: join(full, "checkpoint-2") })),
  ).rejects.toThrow("resuming would not repeat it:\n  seed: 3 → 4\n  rloo_k: 2 → 4\npass --allow-config-change");
  const finished = await runTraining(parseTrainConfig({ ...moving(), output_dir: full, total_episodes: 12, checkpoint_path: full }));
  expect([finished.step, finished.interrupted]).toEqual([3, false]);
  expect(metricsOf(full).length).toBe(3);
  await expect(runTraining(parseTrainConfig({ ...moving(), output_dir: full, total_episodes: 12 }))).rejects.toThrow(
    `--output-dir ${full} is not empty (checkpoint-2, checkpoint-3, config.json, latest, …); pass --overwrite-output-dir to remove its files`,
  );
});

test("dataset, schedule and output-dir errors come before the GPU and the model load", () => {
  const train = (...flags: string[]) => {
    // The model directory does not exist: an error about it would mean it was loaded first.
    const p = Bun.spawnSync(["bun", join(ROOT, "src", "cli", "train.ts"), "--model", join(work, "nowhere"), ...flags], { cwd: ROOT });
    expect(p.exitCode).toBe(1);
    return p.stderr.toString().trim();
  };
  expect(train("--dataset", "nope")).toStartWith('error: --dataset nope: loadDataset: unknown dataset "nope"');
  expect(train("--dataset", "arith", "--total-episodes", "3")).toContain("total_episodes 3 is less than one update");
  const used = join(work, "used");
  mkdirSync(used, { recursive: true });
  writeFileSync(join(used, "metrics.jsonl"), "");
  expect(train("--dataset", "arith", "--output-dir", used)).toStartWith(`error: --output-dir ${used} is not empty (metrics.jsonl)`);
});

test("Ctrl-C to the process group of `bun run train` finishes the update, saves a checkpoint and exits 130", async () => {
  const out = join(work, "interrupted");
  const flags = Object.entries({ ...base(), output_dir: out, total_episodes: 4000 }).flatMap(([k, v]) => [`--${k.replaceAll("_", "-")}`, String(v)]);
  // setsid: bun run and the trainer in a process group of their own, whose id is setsid's pid.
  const proc = Bun.spawn(["setsid", "bun", "run", "train", ...flags], {
    cwd: ROOT,
    env: { ...process.env, XDG_RUNTIME_DIR: "/tmp" },
    stdout: "ignore",
    stderr: "pipe",
  });
  const metrics = join(out, "metrics.jsonl");
  for (let i = 0; i < 1200 && !(existsSync(metrics) && statSync(metrics).size > 0); i++) await Bun.sleep(100);
  process.kill(-proc.pid, "SIGINT");
  expect(await proc.exited).toBe(130);
  const latest = readFileSync(join(out, "latest"), "utf8").trim();
  const state = JSON.parse(readFileSync(join(out, latest, "trainer_state.json"), "utf8"));
  expect(latest).toBe(`checkpoint-${state.step}`);
  expect(metricsOf(out).length).toBe(state.step);
  expect(state.step).toBeLessThan(1000);
  expect(existsSync(join(out, `checkpoint-${state.step}`, "optimizer.safetensors"))).toBe(true);
  expect(await new Response(proc.stderr).text()).toContain(`interrupted: saved ${out}/checkpoint-${state.step}`);
});

// LoRA runs end to end on a tiny random model: adapters train over the frozen base, checkpoints are
// PEFT adapter directories, a resumed run repeats the uninterrupted one exactly (with adapter dropout
// and gradient checkpointing), merge-lora writes a model that scores like the adapted one, and the
// memory plan comes first (--dry-run without weights; --memory-budget stops a run before loading).
import { beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { noGrad } from "../../src/autograd/tape.ts";
import { initGpu } from "../../src/gpu/device.ts";
import { loadModel } from "../../src/model/load.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import type { Transformer } from "../../src/model/transformer.ts";
import { parseTrainConfig } from "../../src/latro/config.ts";
import { runTraining } from "../../src/latro/run.ts";
import { saveTinyLatroModel } from "../model/tiny.ts";
import { mergeLora } from "../../src/cli/merge-lora.ts";
import { loadRuntime } from "../../src/model/runtime.ts";
import { TOKENIZER_FILES } from "../../src/model/hfdir.ts";

const ROOT = join(import.meta.dir, "..", "..");
let work: string;
let modelDir: string;

beforeAll(async () => {
  await initGpu();
  work = mkdtempSync(join(tmpdir(), "latro-lora-"));
  modelDir = join(work, "base");
  await saveTinyLatroModel(modelDir);
});

const base = () => ({
  model: modelDir, dataset: "arith", per_device_train_batch_size: 4, gradient_accumulation_steps: 1, rloo_k: 2, rollout_batch_size: 4,
  response_length: 12, num_evaluations: 0, learning_rate: 1e-2, kl_coef: 0.05, seed: 3, non_stop_penalty: false, sft_penalty: 1,
  lora_r: 4, lora_alpha: 8, lora_target_modules: "q_proj,v_proj,down_proj",
});
const metricsOf = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
const logprobs = (m: Transformer, ids: Int32Array) => scopeAsync(async () => (await noGrad(() => m.logprobs(tokenBatch(ids, 2, 8, 0))).toArray()) as Float32Array);

test("a LoRA run trains the adapters only and saves PEFT adapter checkpoints that eval and merge-lora read", async () => {
  const out = join(work, "run");
  await runTraining(parseTrainConfig({ ...base(), output_dir: out, total_episodes: 8 }));
  expect(metricsOf(out).map((r) => [r.step, Number.isFinite(r.grad_norm) && r.grad_norm > 0])).toEqual([[1, true], [2, true]]);
  const ckpt = join(out, "checkpoint-2");
  expect(readdirSync(ckpt).sort()).toEqual(
    ["adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "trainer_state.json"],
  );
  const cfg = JSON.parse(readFileSync(join(ckpt, "adapter_config.json"), "utf8"));
  expect(cfg).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj", "down_proj"], base_model_name_or_path: modelDir });

  const { model: adapted } = await loadRuntime(modelDir, { adapter: ckpt });
  expect(adapted.adapters!.specs.length).toBe(2 * 3);
  const lora_B = (await adapted.adapters!.pairs.get("model.layers.0.self_attn.q_proj")!.B[0].toArray()) as Float32Array;
  expect(lora_B.some((x) => x !== 0)).toBe(true); // B starts at 0: the adapters moved
  const merged = join(work, "merged");
  await mergeLora(modelDir, ckpt, merged);
  const full = await loadModel(merged);
  const baseModel = await loadModel(modelDir);
  const ids = Int32Array.from({ length: 16 }, (_, i) => 5 + ((i * 37) % 1900));
  const [a, m, b] = [await logprobs(adapted, ids), await logprobs(full, ids), await logprobs(baseModel, ids)];
  expect(Math.max(...a.map((x, i) => Math.abs(x - m[i])))).toBeLessThan(1e-4);
  expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeGreaterThan(1e-4);
  for (const x of [adapted, full, baseModel]) x.dispose();

  // The commands: generate --adapter, and merge-lora.
  const run = (...args: string[]) => Bun.spawnSync(["bun", ...args], { cwd: ROOT, env: { ...process.env, XDG_RUNTIME_DIR: "/tmp" } });
  const gen = run(join(ROOT, "src", "cli", "generate.ts"), "--model", modelDir, "--adapter", ckpt, "--prompt", "1 + 1 =", "--max-new-tokens", "4", "--temperature", "0");
  expect(gen.exitCode).toBe(0);
  const cliMerged = join(work, "merged-cli");
  const merge = run(join(ROOT, "src", "cli", "merge-lora.ts"), "--model", modelDir, "--adapter", ckpt, "--out", cliMerged);
  expect([merge.exitCode, readdirSync(cliMerged).includes("model.safetensors")]).toEqual([0, true]);
  const bad = run(join(ROOT, "src", "cli", "merge-lora.ts"), "--model", modelDir, "--adapter", modelDir, "--out", join(work, "x"));
  expect(bad.stderr.toString()).toContain(`${modelDir} is not a PEFT adapter directory: adapter_config.json is missing`);
}, 240_000);

test("a LoRA run resumed from checkpoint-2 repeats the uninterrupted run's third update (adapter dropout, checkpointing)", async () => {
  const flags = { ...base(), lora_dropout: 0.1, gradient_checkpointing: true, total_episodes: 12, save_steps: 2 };
  const full = join(work, "full");
  await runTraining(parseTrainConfig({ ...flags, output_dir: full }));
  const resumed = join(work, "resumed");
  await runTraining(parseTrainConfig({ ...flags, output_dir: resumed, checkpoint_path: join(full, "checkpoint-2") }));
  const a = metricsOf(full).find((r) => r.step === 3)!;
  const b = metricsOf(resumed).find((r) => r.step === 3)!;
  for (const key of Object.keys(a)) {
    if (key.startsWith("time/") || key === "eps") continue;
    expect([key, b[key]]).toEqual([key, a[key]]);
  }
  await expect(runTraining(parseTrainConfig({ ...flags, lora_r: null, output_dir: join(work, "mixed"), checkpoint_path: join(full, "checkpoint-2") }))).rejects.toThrow(
    "lora_r: 4 → null",
  );
}, 240_000);

test("--dry-run prints the memory plan from config.json alone; a plan over --memory-budget stops before loading", async () => {
  const noWeights = join(work, "config-only");
  mkdirSync(noWeights);
  for (const f of ["config.json", ...TOKENIZER_FILES]) {
    try {
      copyFileSync(join(modelDir, f), join(noWeights, f));
    } catch {}
  }
  const lines: string[] = [];
  const log = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await runTraining(parseTrainConfig({ ...base(), model: noWeights, output_dir: join(work, "dry") }), { dryRun: true });
  } finally {
    console.error = log;
  }
  expect(lines.join("\n")).toMatch(/memory plan: LlamaForCausalLM \(2 layers, hidden 32\), LoRA r 4 on q_proj,v_proj,down_proj, no gradient checkpointing[\s\S]*KV cache, 4 rows × \d+ tokens[\s\S]*peak/);
  await expect(runTraining(parseTrainConfig({ ...base(), model: noWeights, memory_budget: 0.001, output_dir: join(work, "over") }))).rejects.toThrow(
    /over --memory-budget 0.001 GB; the largest part is .*: shrink it with/,
  );
});

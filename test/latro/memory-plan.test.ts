import { expect, test } from "bun:test";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { backward, zeroGrad } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { poolStats, resetPeak, trimPool } from "../../src/gpu/buffer.ts";
import { sync } from "../../src/gpu/recorder.ts";
import { checkMemoryBudget, formatMemoryPlan, GB, memoryPlan, type MemoryPlanInput } from "../../src/latro/memory-plan.ts";
import { modelShape } from "../../src/bench/model-shapes.ts";
import { Rng } from "../../src/data/rng.ts";
import { generate } from "../../src/generate/generate.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import { initModel } from "../../src/model/init.ts";
import { initLora, LORA_TARGET_MODULES, type LoraConfig } from "../../src/model/lora.ts";
import { Transformer } from "../../src/model/transformer.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { rng, setupGpu } from "../helpers.ts";
import { tinyConfig } from "../model/tiny.ts";

/** Pool peak of: weights, AdamW, one micro-batch forward + backward + update (what the plan's training phase covers). */
async function measuredTrainingPeak(lora: LoraConfig | null, checkpointing: boolean, rows: number, T: number) {
  const config = tinyConfig({ V: 300, C: 64, I: 160, L: 3, Hq: 4, Hkv: 2 });
  trimPool();
  const before = poolStats().liveBytes;
  resetPeak();
  const base = initModel(config, 1, 0.1);
  if (lora) for (const p of base.parameters()) p.requiresGrad = false;
  const model = lora ? new Transformer(config, base.params, initLora(config, lora, 2)) : base;
  model.gradientCheckpointing = checkpointing;
  const opt = new AdamW(model.trainableParameters(), { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 });
  const r = rng(3);
  const ids = Int32Array.from({ length: rows * T }, () => 1 + Math.floor(r() * 299));
  await scopeAsync(async () => {
    const lp = model.logprobs(tokenBatch(ids, rows, T, 0));
    backward(lp, Tensor.fromArray(new Float32Array(rows * T).fill(0.01), lp.shape));
  });
  opt.update(1e-3);
  await sync();
  const peak = poolStats().peakLiveBytes - before;
  zeroGrad(model.trainableParameters());
  model.dispose();
  const input: MemoryPlanInput = {
    model: config,
    weightDtype: "F32",
    hasF16: false,
    lora,
    gradientCheckpointing: checkpointing,
    reference: false,
    rolloutBatchSize: rows,
    microBatchSize: rows,
    promptLength: T,
    responseLength: 0,
    answerLength: 0,
  };
  const plan = memoryPlan(input);
  const planned = plan.persistent.reduce((s, c) => s + c.bytes, 0) + plan.phases.training.reduce((s, c) => s + c.bytes, 0);
  return { peak, planned };
}

test("the plan's training peak is within 15% of the buffer pool's measured peak (full, LoRA, checkpointing)", async () => {
  await setupGpu();
  const lora: LoraConfig = { r: 8, alpha: 16, dropout: 0.1, targetModules: [...LORA_TARGET_MODULES] };
  for (const [what, l, ckpt] of [["full", null, false], ["full, checkpointing", null, true], ["LoRA", lora, false], ["LoRA, checkpointing", lora, true]] as const) {
    const { peak, planned } = await measuredTrainingPeak(l, ckpt, 4, 96);
    console.log(`${what}: planned ${(planned / 1e6).toFixed(2)} MB, measured ${(peak / 1e6).toFixed(2)} MB (${((planned / peak - 1) * 100).toFixed(1)}%)`);
    expect({ what, ratio: Math.abs(planned / peak - 1) < 0.15 }).toEqual({ what, ratio: true });
  }
}, 120_000);

test("the plan's rollout peak (KV cache, decode buffers, prefill) is within 15% of the measured generation peak", async () => {
  await setupGpu();
  const config = tinyConfig({ V: 300, C: 64, I: 160, L: 3, Hq: 4, Hkv: 2 });
  const [B, Tp, R] = [16, 40, 60];
  trimPool();
  const before = poolStats().liveBytes;
  resetPeak();
  const model = initModel(config, 1, 0.1);
  for (const p of model.parameters()) p.requiresGrad = false;
  const r = rng(4);
  const prompts = Int32Array.from({ length: B * Tp }, () => 1 + Math.floor(r() * 299));
  await generate(model, prompts, B, Tp, { maxNewTokens: R, temperature: 1, rng: new Rng(5), stopTokenIds: [], stopSeqs: [], pad: 0 });
  const peak = poolStats().peakLiveBytes - before;
  model.dispose();
  const plan = memoryPlan({
    model: config, weightDtype: "F32", hasF16: false, lora: null, gradientCheckpointing: false, reference: false,
    rolloutBatchSize: B, microBatchSize: 4, promptLength: Tp, responseLength: R, answerLength: 0,
  });
  const weights = plan.persistent[0].bytes;
  const planned = weights + plan.phases.rollout.reduce((s, c) => s + c.bytes, 0);
  console.log(`rollout: planned ${(planned / 1e6).toFixed(2)} MB, measured ${(peak / 1e6).toFixed(2)} MB (${((planned / peak - 1) * 100).toFixed(1)}%)`);
  expect(Math.abs(planned / peak - 1)).toBeLessThan(0.15);
}, 120_000);

const TARGET: Omit<MemoryPlanInput, "model" | "lora" | "gradientCheckpointing"> = {
  weightDtype: "BF16", hasF16: true, reference: true, rolloutBatchSize: 16, microBatchSize: 4, promptLength: 256, responseLength: 500, answerLength: 16,
};
const LORA16: LoraConfig = { r: 16, alpha: 32, dropout: 0.05, targetModules: [...LORA_TARGET_MODULES] };

test("the paper's setting: LaTRO on Llama-3.1-8B (LoRA r 16, BF16 base, checkpointing, 16 × 500, micro-batch 4) plans under 24 GB", () => {
  const plan = memoryPlan({ ...TARGET, model: modelShape("Llama-3.1-8B"), lora: LORA16, gradientCheckpointing: true });
  expect(plan.peak).toBeLessThan(24 * GB);
  expect(plan.persistent[0].bytes).toBeCloseTo(8.03e9 * 2, -8); // 8.03B bf16 weights, allocated exactly
  expect(plan.persistent.find((c) => c.name.startsWith("reference"))!.bytes).toBe(0);
  expect(() => checkMemoryBudget(plan, 24)).not.toThrow();
  expect(formatMemoryPlan(plan)).toContain("KV cache, 16 rows × 756 tokens");
});

test("over budget: the error names the plan, the budget, the largest component and the flag that shrinks it", () => {
  const full = memoryPlan({ ...TARGET, model: modelShape("Llama-3.1-8B"), lora: null, gradientCheckpointing: true });
  expect(() => checkMemoryBudget(full, 24)).toThrow(
    "the memory plan needs 151.8 GB, over --memory-budget 24 GB; the largest part is AdamW moments (2 × f32) (64.2 GB): shrink it with --lora-r, or raise --memory-budget",
  );
  const lora = memoryPlan({ ...TARGET, model: modelShape("Llama-3.1-8B"), lora: LORA16, gradientCheckpointing: false });
  expect(() => checkMemoryBudget(lora, 24)).toThrow(/over --memory-budget 24 GB; the largest part is activations, micro-batch 4 × 772 tokens \(50.7 GB\): shrink it with --gradient-checkpointing/);
  const plain = memoryPlan({ ...TARGET, model: modelShape("Llama-3.1-8B"), lora: LORA16, gradientCheckpointing: false });
  expect(plain.activations.plain).toBeGreaterThan(10 * plain.activations.checkpointed);
});

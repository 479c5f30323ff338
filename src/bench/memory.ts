// Memory rows: the memory plan (src/latro/memory-plan.ts) of LaTRO at the paper's setting for the
// models in model-shapes.ts, with and without LoRA and activation checkpointing, and the buffer pool's
// measured peak of one LoRA training step on a random BF16 model (Qwen2.5-1.5B's shape, the largest
// whose step stays within a few minutes on a CPU adapter; quick: a tiny one) beside its plan.
import { scopeAsync } from "../autograd/scope.ts";
import { backward, zeroGrad } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { poolStats, resetPeak, trimPool } from "../gpu/buffer.ts";
import { sync, upload } from "../gpu/recorder.ts";
import { GB, memoryPlan, type MemoryPlanInput } from "../latro/memory-plan.ts";
import { tokenBatch } from "../model/batch.ts";
import { type ModelConfig, parseConfig } from "../model/config.ts";
import { initLora, LORA_TARGET_MODULES, type LoraConfig } from "../model/lora.ts";
import { Transformer } from "../model/transformer.ts";
import { parameterSpecs } from "../model/weights.ts";
import { AdamW } from "../optim/adamw.ts";
import { MODEL_SHAPES, modelShape } from "./model-shapes.ts";
import type { Bench, BenchRow } from "./types.ts";

/** The paper's LaTRO setting (rollout_batch_size 16, response_length 500, micro-batch 4), GSM8K-sized prompts. */
export const PAPER_SETTING: Omit<MemoryPlanInput, "model" | "lora" | "gradientCheckpointing"> = {
  weightDtype: "BF16", hasF16: true, reference: true, rolloutBatchSize: 16, microBatchSize: 4, promptLength: 256, responseLength: 500, answerLength: 16,
};
export const LORA_R16: LoraConfig = { r: 16, alpha: 32, dropout: 0.05, targetModules: [...LORA_TARGET_MODULES] };

export const VARIANTS: { name: string; lora: LoraConfig | null; gradientCheckpointing: boolean }[] = [
  { name: "full fine-tuning", lora: null, gradientCheckpointing: false },
  { name: "full fine-tuning, --gradient-checkpointing", lora: null, gradientCheckpointing: true },
  { name: "LoRA r 16", lora: LORA_R16, gradientCheckpointing: false },
  { name: "LoRA r 16, --gradient-checkpointing", lora: LORA_R16, gradientCheckpointing: true },
];

/** A frozen model of `config` with BF16 weights of a fixed pattern (|w| < 0.03), norms 1, biases 0. */
function randomBf16Model(config: ModelConfig): Transformer {
  const params = new Map<string, Tensor>();
  const CHUNK = 1 << 22;
  const pattern = Uint16Array.from({ length: CHUNK }, (_, i) => new Uint32Array(Float32Array.of(((((i * 2654435761) >>> 0) / 2 ** 32) - 0.5) * 0.06).buffer)[0] >>> 16);
  for (const spec of parameterSpecs(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    let t: Tensor;
    if (spec.shape.length === 2) {
      t = new Tensor(spec.shape, "bf16", undefined, { exact: true });
      for (let i = 0; i < n; i += CHUNK) upload(t.buf, pattern.subarray(0, Math.min(CHUNK, n - i) + ((n - i) % 2)), i * 2);
    } else {
      t = Tensor.fromArray(new Float32Array(n).fill(spec.name.endsWith("norm.weight") ? 1 : 0), spec.shape, "f32", { exact: true });
    }
    t.name = spec.name;
    params.set(spec.name, t.keep());
  }
  return new Transformer(config, params);
}

/** Pool peak of a LoRA step (weights, adapters, AdamW, a checkpointed forward + backward of rows × T tokens, the update) and its plan. */
async function measuredStep(config: ModelConfig, rows: number, T: number): Promise<{ peak: number; planned: number; seconds: number }> {
  trimPool();
  const before = poolStats().liveBytes;
  resetPeak();
  const t0 = performance.now();
  const base = randomBf16Model(config);
  const model = new Transformer(config, base.params, initLora(config, LORA_R16, 1));
  model.gradientCheckpointing = true;
  const opt = new AdamW(model.trainableParameters(), { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 });
  const ids = Int32Array.from({ length: rows * T }, (_, i) => 1 + ((i * 7919) % (config.vocabSize - 1)));
  await scopeAsync(async () => {
    const lp = model.logprobs(tokenBatch(ids, rows, T, 0));
    backward(lp, Tensor.fromArray(new Float32Array(rows * T).fill(1 / (rows * T)), lp.shape));
  });
  opt.update(1e-4);
  await sync();
  const seconds = (performance.now() - t0) / 1000;
  const peak = poolStats().peakLiveBytes - before;
  zeroGrad(model.trainableParameters());
  model.dispose();
  opt.dispose();
  trimPool();
  const plan = memoryPlan({
    model: config, weightDtype: "BF16", hasF16: true, lora: LORA_R16, gradientCheckpointing: true, reference: false,
    rolloutBatchSize: rows, microBatchSize: rows, promptLength: T, responseLength: 0, answerLength: 0,
  });
  const planned = plan.persistent.reduce((s, c) => s + c.bytes, 0) + plan.phases.training.reduce((s, c) => s + c.bytes, 0);
  return { peak, planned, seconds };
}

const TINY = parseConfig(
  { architectures: ["Qwen2ForCausalLM"], vocab_size: 4096, hidden_size: 128, intermediate_size: 320, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, torch_dtype: "bfloat16" },
  "tiny",
);

export const benchMemory: Bench = async ({ quick }) => {
  const rows: BenchRow[] = [];
  for (const name of MODEL_SHAPES) {
    for (const v of VARIANTS) {
      const plan = memoryPlan({ ...PAPER_SETTING, model: modelShape(name), lora: v.lora, gradientCheckpointing: v.gradientCheckpointing });
      rows.push({
        name: "memory plan, LaTRO (16 × 500, micro-batch 4, BF16)",
        shape: `${name}, ${v.name}`,
        ms: 0,
        rate: plan.peak / GB,
        unit: "GB",
        timing: "plan",
        note: `peak in ${plan.peakPhase}`,
      });
    }
  }
  const [label, config, T] = quick ? ["tiny Qwen2-shaped", TINY, 32] : ["Qwen2.5-1.5B", modelShape("Qwen2.5-1.5B"), 64];
  const m = await measuredStep(config, 1, T);
  rows.push({
    name: "memory peak, measured (LoRA r 16 step, checkpointing, random BF16 weights)",
    shape: `${label}, 1 × ${T} tokens`,
    ms: m.seconds * 1000,
    rate: m.peak / GB,
    unit: "GB",
    timing: "pool",
    note: `plan ${(m.planned / GB).toFixed(3)} GB, ${((m.planned / m.peak - 1) * 100).toFixed(1)}% off`,
  });
  return rows;
};

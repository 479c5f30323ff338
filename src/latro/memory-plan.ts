// The memory plan: peak GPU memory of a LaTRO run computed from config.json and the training config
// alone, before anything is allocated (WebGPU does not expose the GPU's memory size, so the plan is
// checked against --memory-budget instead).
//
// Every tensor counts as the buffer pool allocates it (src/gpu/buffer.ts `capacityOf`): weights,
// adapters and optimizer moments exactly, everything else in its pooled size class (≤ 19% over).
// N = rows × tokens of a pass; C hidden, Q = Hq·D, KV = Hkv·D, I intermediate, V vocabulary, L layers.
//   persistent  weights (trainable f32; frozen ones in their checkpoint dtype: matrices bf16 / f16,
//               norms and biases f32), the KL reference π₀ (none with LoRA: the base with adapters
//               off; a frozen copy in checkpoint dtype otherwise), AdamW's two moments per trainable
//               parameter.
//   rollout     KV cache 2·L·[B, P + R, KV] f32 for B = rollout_batch_size rows of prompt P + response
//               R tokens, the decode step's [B, ·] buffers, and one layer's prefill activations.
//   scoring     no-grad forwards of a micro-batch: one layer's activations at a time, plus one chunk of
//               logits [rows, V] (rows chosen so that a chunk is ≤ 64 MiB, tokenLogprobs).
//   training    a micro-batch's forward + backward: the gradients, the saved activations (per layer
//               h, rstd, q, k, v, attention out and lse, o_proj out, residual, h2, rstd, gate, up,
//               swiglu, down out, residual; LoRA adds u [N, r] per adapted projection and its dropped
//               input when lora_dropout > 0), and the backward's transient peak: the larger of a
//               logits chunk with its gradient rows, and one layer's MLP gradients.
//               With gradient checkpointing only each layer's input is saved, plus one layer's
//               activations while it is recomputed.
// Peak = persistent + the largest phase.
import { CLASSIFIER_CHUNK_BYTES, rowsWithin } from "../autograd/ops/classifier.ts";
import { capacityOf } from "../gpu/buffer.ts";
import { DTYPE_BYTES } from "../autograd/tensor.ts";
import type { ModelConfig } from "../model/config.ts";
import { frozenDType } from "../model/load.ts";
import { type LoraConfig, loraSpecs } from "../model/lora.ts";
import type { Dtype } from "../model/safetensors.ts";
import { parameterSpecs } from "../model/weights.ts";
import type { LatroExample } from "../data/example.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { loraConfigOf, type TrainConfig } from "./config.ts";
import { encodeAnswer, encodeQuery } from "../generate/prompts.ts";

export type CheckpointDtype = Dtype;

export interface MemoryPlanInput {
  model: ModelConfig;
  /** Storage dtype of the checkpoint's weights (config.json's torch_dtype). */
  weightDtype: CheckpointDtype;
  /** Whether frozen F16 weights can stay f16 (the adapter has shader-f16); else they widen to f32. */
  hasF16: boolean;
  lora: LoraConfig | null;
  gradientCheckpointing: boolean;
  /** A KL reference model is scored (kl_coef > 0). */
  reference: boolean;
  rolloutBatchSize: number;
  /** Rows per training micro-batch and per scoring pass (per_device_train_batch_size). */
  microBatchSize: number;
  promptLength: number;
  responseLength: number;
  /** Tokens of the answer y appended for scoring and training. */
  answerLength: number;
}

/** One line of the plan: bytes, and the flag that shrinks it when it is the largest. */
export interface MemoryComponent {
  name: string;
  bytes: number;
  remedy: string;
}

export interface MemoryPlan {
  input: MemoryPlanInput;
  persistent: MemoryComponent[];
  phases: { rollout: MemoryComponent[]; scoring: MemoryComponent[]; training: MemoryComponent[] };
  /** The training phase's saved activations without and with checkpointing (for the printout). */
  activations: { plain: number; checkpointed: number };
  /** Which phase peaks, and the peak in bytes. */
  peakPhase: "rollout" | "scoring" | "training";
  peak: number;
}

const F32 = 4;
const sum = (cs: readonly MemoryComponent[]) => cs.reduce((s, c) => s + c.bytes, 0);
/** Pool bytes of a tensor of `n` elements of `e` bytes. */
const pooled = (n: number, e = F32) => capacityOf(n * e);
/** Bytes of a tensor of `n` elements of `e` bytes allocated exactly (weights, adapters, moments). */
const exact = (n: number, e = F32) => capacityOf(n * e, true);

/** Pool bytes of the tensors one layer keeps for its backward on N tokens of B rows (forward-ops.ts). */
export function layerActivationBytes(m: ModelConfig, lora: LoraConfig | null, N: number): number {
  const { hiddenSize: C, intermediateSize: I, numHeads, numKvHeads, headDim: D } = m;
  const Q = numHeads * D;
  const KV = numKvHeads * D;
  let bytes =
    2 * (pooled(N * C) + pooled(N)) + // two RMSNorm outputs and their rstd
    pooled(N * Q) + 2 * pooled(N * KV) + // q, k, v
    pooled(N * Q) + pooled(N * numHeads) + // attention output, lse
    4 * pooled(N * C) + // o_proj and down_proj outputs, two residual sums
    3 * pooled(N * I); // gate, up, swiglu
  if (lora) {
    for (const s of loraSpecs(m, lora).filter((s) => s.layer === 0)) {
      bytes += s.parts.length * (pooled(N * lora.r) + (lora.dropout > 0 ? pooled(N * s.A[1]) : 0)); // per part: u, dropped input
    }
  }
  return bytes;
}

/** Pool bytes of the gradients alive at once while one layer is back-propagated: the MLP's dy, d(swiglu), dgate, dup. */
function layerBackwardBytes(m: ModelConfig, N: number): number {
  return 3 * pooled(N * m.intermediateSize) + pooled(N * m.hiddenSize);
}

/** Bytes per element of a frozen weight of this shape as loaded (model/load.ts `frozenDType`). */
const frozenBytes = (shape: readonly number[], dtype: CheckpointDtype, hasF16: boolean) => DTYPE_BYTES[frozenDType(shape, dtype, hasF16)];

export function memoryPlan(input: MemoryPlanInput): MemoryPlan {
  const { model: m, lora, weightDtype, hasF16 } = input;
  const { hiddenSize: C, intermediateSize: I, numLayers: L, numHeads, numKvHeads, headDim: D, vocabSize: V } = m;
  const Q = numHeads * D;
  const KV = numKvHeads * D;
  const specs = parameterSpecs(m);
  const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const frozenWeights = specs.reduce((s, p) => s + exact(count(p.shape), frozenBytes(p.shape, weightDtype, hasF16)), 0);
  const trainable = lora ? loraSpecs(m, lora).flatMap((s) => [count(s.A), ...s.parts.map((p) => p.rows * s.B[1])]) : specs.map((p) => count(p.shape));
  const trainableBytes = trainable.reduce((s, n) => s + exact(n), 0);
  const gradientBytes = trainable.reduce((s, n) => s + pooled(n), 0);

  const persistent: MemoryComponent[] = lora
    ? [
        { name: `base weights (frozen, ${weightDtype.toLowerCase()})`, bytes: frozenWeights, remedy: "a smaller model" },
        { name: `LoRA adapters r ${lora.r} (f32)`, bytes: trainableBytes, remedy: "--lora-r or --lora-target-modules" },
        { name: "reference π₀ (the base, adapters off)", bytes: 0, remedy: "" },
      ]
    : [
        { name: "weights (trained, f32)", bytes: trainableBytes, remedy: "--lora-r (train LoRA adapters over a frozen base)" },
        { name: `reference π₀ (frozen copy, ${weightDtype.toLowerCase()})`, bytes: input.reference ? frozenWeights : 0, remedy: "--lora-r (π₀ is then the base itself), or --kl-coef 0" },
      ];
  persistent.push({ name: "AdamW moments (2 × f32)", bytes: 2 * trainableBytes, remedy: "--lora-r" });

  // Rollout: prefill of B rows of P tokens, then decode against the cache.
  const B = input.rolloutBatchSize;
  const Tmax = input.promptLength + input.responseLength;
  const Np = B * input.promptLength;
  const rollout: MemoryComponent[] = [
    { name: `KV cache, ${B} rows × ${Tmax} tokens (f32)`, bytes: 2 * L * pooled(B * Tmax * KV), remedy: "--rollout-batch-size or --response-length" },
    {
      name: "decode step buffers",
      // The cache's scratch (x, h, rstd, fused qkv, q, attention out, SwiGLU out, logits; with LoRA
      // the adapter's [B, r] and the fused [B, 2I] gate/up), its positions, and generate's buffers.
      bytes:
        2 * pooled(B * C) + pooled(B * (Q + 2 * KV)) + 2 * pooled(B * Q) + pooled(B * I) + pooled(B * V) + 6 * pooled(B) +
        2 * pooled(B * input.responseLength) +
        (lora ? pooled(B * lora.r) + pooled(B * 2 * I) : 0),
      remedy: "--rollout-batch-size",
    },
    { name: `prefill, one layer at a time (${B} × ${input.promptLength} tokens)`, bytes: layerActivationBytes(m, null, Np) + pooled(Np * C), remedy: "--rollout-batch-size" },
  ];

  // Scoring and training passes: a micro-batch of rows × (prompt + response + answer) tokens.
  const T = Tmax + input.answerLength;
  const N = input.microBatchSize * T;
  const chunk = pooled(rowsWithin(N, V, CLASSIFIER_CHUNK_BYTES) * V);
  const scoring: MemoryComponent[] = [
    { name: `scoring, one layer at a time (${input.microBatchSize} × ${T} tokens)`, bytes: layerActivationBytes(m, lora, N) + pooled(N * C), remedy: "--per-device-train-batch-size" },
    { name: "logits chunk", bytes: chunk, remedy: "" },
  ];
  const perLayer = layerActivationBytes(m, lora, N);
  const around = 2 * pooled(N * C) + 5 * pooled(N); // embedding out, final norm out; rstd, ids, positions, targets, log-probs
  const plain = L * perLayer + around;
  const checkpointed = L * pooled(N * C) + perLayer + around; // each layer's output (the next one's input)
  const saved = input.gradientCheckpointing ? checkpointed : plain;
  // The backward's transient peak: the classifier's (a chunk of dlogits, its dh rows, dh) or a layer's.
  const rows = rowsWithin(N, V, CLASSIFIER_CHUNK_BYTES);
  const classifierBackward = chunk + pooled(rows * C) + pooled(N * C);
  const training: MemoryComponent[] = [
    { name: "gradients (f32)", bytes: gradientBytes, remedy: "--lora-r" },
    {
      name: `activations, micro-batch ${input.microBatchSize} × ${T} tokens${input.gradientCheckpointing ? " (checkpointed)" : ""}`,
      bytes: saved,
      remedy: input.gradientCheckpointing ? "--per-device-train-batch-size (with more --gradient-accumulation-steps)" : "--gradient-checkpointing",
    },
    {
      name: "backward transients (logits chunk or a layer's gradients)",
      bytes: Math.max(classifierBackward, layerBackwardBytes(m, N)),
      remedy: "--per-device-train-batch-size",
    },
  ];

  const phases = { rollout, scoring, training };
  const totals = { rollout: sum(rollout), scoring: sum(scoring), training: sum(training) };
  const peakPhase = (Object.keys(totals) as (keyof typeof totals)[]).reduce((a, b) => (totals[b] > totals[a] ? b : a));
  return { input, persistent, phases, activations: { plain, checkpointed }, peakPhase, peak: sum(persistent) + totals[peakPhase] };
}

export const GB = 1e9;
const gb = (bytes: number) => (bytes < 0.1 * GB ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / GB).toFixed(bytes < 10 * GB ? 2 : 1)} GB`);

/** The plan as text: persistent lines, each phase, the peak. */
export function formatMemoryPlan(plan: MemoryPlan): string {
  const lines: string[] = [];
  const row = (name: string, bytes: number) => lines.push(`  ${name.padEnd(62)} ${gb(bytes).padStart(9)}`);
  const i = plan.input;
  lines.push(
    `memory plan: ${i.model.architecture} (${i.model.numLayers} layers, hidden ${i.model.hiddenSize}), ` +
      `${i.lora ? `LoRA r ${i.lora.r} on ${i.lora.targetModules.join(",")}` : "full fine-tuning"}, ` +
      `${i.gradientCheckpointing ? "" : "no "}gradient checkpointing`,
  );
  for (const c of plan.persistent) row(c.name, c.bytes);
  for (const [phase, cs] of Object.entries(plan.phases)) {
    lines.push(`  ${phase}${phase === plan.peakPhase ? " (the peak phase)" : ""}:`);
    for (const c of cs) row(`  ${c.name}`, c.bytes);
  }
  row(`(activations ${i.gradientCheckpointing ? "without" : "with"} checkpointing would be)`, i.gradientCheckpointing ? plan.activations.plain : plan.activations.checkpointed);
  row("peak", plan.peak);
  return lines.join("\n");
}

/** Throws before anything is allocated when the plan exceeds `budgetGB`, naming the largest component and its flag. */
export function checkMemoryBudget(plan: MemoryPlan, budgetGB: number): void {
  if (plan.peak <= budgetGB * GB) return;
  const candidates = [...plan.persistent, ...plan.phases[plan.peakPhase]].filter((c) => c.remedy !== "");
  const largest = candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  throw new Error(
    `the memory plan needs ${gb(plan.peak)}, over --memory-budget ${budgetGB} GB; the largest part is ${largest.name} ` +
      `(${gb(largest.bytes)}): shrink it with ${largest.remedy}, or raise --memory-budget if the GPU has the memory`,
  );
}

/** Training prompts whose encoded lengths stand for the run's (the longest of them is planned for). */
const PROMPT_SAMPLE = 512;

const DTYPE_OF: Record<ModelConfig["torchDtype"], CheckpointDtype> = { float32: "F32", float16: "F16", bfloat16: "BF16" };

/**
 * The plan of a LaTRO run: its config, the model's config.json (its torch_dtype is the weights'
 * storage), and the longest prompt and answer among the first training examples.
 */
export function planForRun(config: TrainConfig, model: ModelConfig, tokenizer: Tokenizer, examples: readonly LatroExample[], hasF16: boolean): MemoryPlan {
  const sample = examples.slice(0, PROMPT_SAMPLE);
  return memoryPlan({
    model,
    weightDtype: DTYPE_OF[model.torchDtype],
    hasF16,
    lora: loraConfigOf(config),
    gradientCheckpointing: config.gradientCheckpointing,
    reference: config.klCoef > 0,
    rolloutBatchSize: config.rolloutBatchSize,
    microBatchSize: config.perDeviceTrainBatchSize,
    promptLength: Math.max(1, ...sample.map((e) => encodeQuery(tokenizer, e).length)),
    responseLength: config.responseLength,
    answerLength: Math.max(1, ...sample.map((e) => encodeAnswer(tokenizer, e).length)),
  });
}

// A Hugging Face model directory ⇄ a Transformer on the GPU. Loading streams one tensor at a time from
// disk to the GPU; saving downloads one parameter at a time while it is written. Trainable weights are
// f32; frozen ones (`frozen: true`, the base of a LoRA run or inference) keep their checkpoint dtype
// where a kernel reads it: weight matrices and the embedding as bf16, or f16 on adapters with
// shader-f16 (else f32), norms and biases as f32.
import { type DType, Tensor } from "../autograd/tensor.ts";
import { gpu } from "../gpu/device.ts";
import { downloadF32 } from "../gpu/recorder.ts";
import type { LoadedTensor } from "./safetensors.ts";
import { openHfDir, saveHfDir } from "./hfdir.ts";
import { Transformer } from "./transformer.ts";
import { readModelWeights } from "./weights.ts";
import type { ModelConfig } from "./config.ts";

/** Weights live for the run: exact allocations, not pooled size classes. */
const EXACT = { exact: true };

export interface LoadOptions {
  /** No gradients, weight matrices in their checkpoint dtype (see above); default false (all f32, trainable). */
  frozen?: boolean;
}

export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<Transformer> {
  const { config } = await openHfDir(dir);
  const params = new Map<string, Tensor>();
  for await (const t of readModelWeights(dir, config)) {
    const p = (opts.frozen ? frozenTensor(t) : Tensor.fromArray(t.data, t.shape, "f32", EXACT)).keep();
    p.name = t.name;
    p.requiresGrad = !opts.frozen;
    params.set(t.name, p);
  }
  return new Transformer(config, params);
}

/** The GPU storage type of a frozen checkpoint tensor. */
export function frozenDType(shape: readonly number[], dtype: LoadedTensor["dtype"], hasF16 = gpu().hasF16): DType {
  if (shape.length !== 2 || dtype === "F32") return "f32";
  if (dtype === "BF16") return "bf16";
  return hasF16 ? "f16" : "f32";
}

function frozenTensor(t: LoadedTensor): Tensor {
  const dtype = frozenDType(t.shape, t.dtype);
  if (dtype === "f32") return Tensor.fromArray(t.data, t.shape, "f32", EXACT);
  const n = t.shape.reduce((a, b) => a * b, 1);
  return Tensor.fromBits(new Uint16Array(t.raw.buffer, t.raw.byteOffset, n), t.shape, dtype as "f16" | "bf16", EXACT);
}

/** Writes `model` as an HF directory (f32 safetensors; frozen f16/bf16 weights widened exactly), copying tokenizer files from `tokenizerDir`. */
export async function saveModel(model: Transformer, dir: string, tokenizerDir?: string, config: ModelConfig = model.config): Promise<void> {
  await saveHfDir(dir, {
    config,
    tokenizerDir,
    tensors: model.parameters().map((p) => ({
      name: p.name!,
      shape: [...p.shape],
      dtype: "F32" as const,
      data: async () => (p.dtype === "f32" ? downloadF32(p.buf, p.size) : ((await p.toArray()) as Float32Array)),
    })),
  });
}

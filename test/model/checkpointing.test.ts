import { expect, test } from "bun:test";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { backward, zeroGrad } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { poolStats, resetPeak } from "../../src/gpu/buffer.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import { initLora, LORA_TARGET_MODULES } from "../../src/model/lora.ts";
import { Transformer } from "../../src/model/transformer.ts";
import { upload } from "../../src/gpu/recorder.ts";
import { randn, rng, setupGpu } from "../helpers.ts";
import { tinyModel } from "./tiny.ts";

const PAD = 0;

/** The trainable parameters' gradients after one weighted-log-prob backward, and the pool's peak bytes. */
async function gradients(model: Transformer, ids: Int32Array, B: number, T: number, g: Float64Array) {
  resetPeak();
  const before = poolStats().liveBytes;
  await scopeAsync(async () => {
    const lp = model.logprobs(tokenBatch(ids, B, T, PAD));
    backward(lp, Tensor.fromArray(g, lp.shape));
  });
  const peak = poolStats().peakLiveBytes - before;
  const grads = await Promise.all(model.trainableParameters().map(async (p) => Array.from((await p.grad!.toArray()) as Float32Array)));
  zeroGrad(model.trainableParameters());
  return { grads, peak };
}

test("--gradient-checkpointing: the same gradients, bit for bit (full fine-tuning, and LoRA with dropout), less peak memory", async () => {
  await setupGpu();
  const { model } = await tinyModel({ qwen: true, L: 4, C: 32, I: 64, seed: 21 });
  const [B, T] = [3, 24];
  const r = rng(22);
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i % T < [0, 3, 7][Math.floor(i / T)] ? PAD : 1 + Math.floor(r() * 36)));
  const g = Float64Array.from({ length: B * T }, () => r() - 0.5);

  const plain = await gradients(model, ids, B, T, g);
  model.gradientCheckpointing = true;
  const ckpt = await gradients(model, ids, B, T, g);
  expect(ckpt.grads).toEqual(plain.grads);
  expect(ckpt.peak).toBeLessThan(plain.peak);

  for (const p of model.parameters()) p.requiresGrad = false;
  const adapters = initLora(model.config, { r: 4, alpha: 8, dropout: 0.2, targetModules: [...LORA_TARGET_MODULES] }, 23);
  adapters.specs.forEach((s, i) => upload(adapters.pairs.get(s.module)!.B[0].buf, Float32Array.from(randn(s.B[0] * s.B[1], 30 + i, 0.3))));
  const lora = new Transformer(model.config, model.params, adapters);
  lora.dropoutSeed = 99;
  const loraPlain = await gradients(lora, ids, B, T, g);
  lora.gradientCheckpointing = true;
  const loraCkpt = await gradients(lora, ids, B, T, g);
  expect(loraCkpt.grads).toEqual(loraPlain.grads);
  expect(loraCkpt.grads[0].some((x) => x !== 0)).toBe(true);
  for (const p of model.parameters()) expect(p.grad).toBeUndefined();
}, 120_000);

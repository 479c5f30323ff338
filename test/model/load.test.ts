import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scope } from "../../src/autograd/scope.ts";
import { backward } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { Rng } from "../../src/data/rng.ts";
import { generate } from "../../src/generate/generate.ts";
import { poolStats, trimPool } from "../../src/gpu/buffer.ts";
import { sync } from "../../src/gpu/recorder.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import { loadModel, saveModel } from "../../src/model/load.ts";
import { setupGpu } from "../helpers.ts";
import { tinyModel } from "./tiny.ts";

test("load(save(model)) is identical, biases and untied lm_head included", async () => {
  await setupGpu();
  const { model } = await tinyModel({ qwen: true, seed: 8 });
  const dir = join(mkdtempSync(join(tmpdir(), "latro-save-")), "m");
  await saveModel(model, dir);
  const back = await loadModel(dir);
  expect(back.config.architecture).toBe("Qwen2ForCausalLM");
  expect(back.parameters().map((p) => p.name)).toEqual(model.parameters().map((p) => p.name));
  for (const p of model.parameters()) {
    expect(Array.from((await back.p(p.name!).toArray()) as Float32Array)).toEqual(Array.from((await p.toArray()) as Float32Array));
  }
});

test("loading, running and disposing a model 20 times keeps GPU memory flat", async () => {
  await setupGpu();
  const { model } = await tinyModel({ qwen: true, seed: 9 });
  const dir = join(mkdtempSync(join(tmpdir(), "latro-dispose-")), "m");
  await saveModel(model, dir);
  model.dispose();
  trimPool();
  const before = poolStats().liveBytes;
  const opts = { maxNewTokens: 3, temperature: 1, rng: new Rng(1), stopTokenIds: [], pad: 0 };
  const live: number[] = [];
  for (let i = 0; i < 20; i++) {
    const m = await loadModel(dir);
    await generate(m, Int32Array.from([3, 4, 5]), 1, 3, opts);
    scope(() => {
      const lp = m.logprobs(tokenBatch(Int32Array.from([3, 4, 5, 6]), 1, 4, 0));
      backward(lp, Tensor.fromArray([1, 1, 1, 1], [4])); // gradients that dispose() must release too
    });
    expect(poolStats().liveBytes).toBeGreaterThan(before);
    m.dispose();
    await sync();
    trimPool();
    live.push(poolStats().liveBytes);
  }
  expect(live).toEqual(Array(20).fill(before));
  expect(poolStats().pooledBytes).toBe(0);
});

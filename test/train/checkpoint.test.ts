import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tensor } from "../../src/autograd/tensor.ts";
import { resolveCheckpoint } from "../../src/train/checkpoint.ts";
import { firstBadGradient } from "../../src/train/loop.ts";
import { setupGpu } from "../helpers.ts";
import { tinyModel } from "../model/tiny.ts";

test("a save killed midway leaves only a temporary directory: resuming picks the last complete checkpoint", async () => {
  const out = mkdtempSync(join(tmpdir(), "latro-ckpt-"));
  for (const step of [2, 4]) {
    mkdirSync(join(out, `checkpoint-${step}`));
    writeFileSync(join(out, `checkpoint-${step}`, "trainer_state.json"), JSON.stringify({ step, episode: step * 8 }));
  }
  writeFileSync(join(out, "latest"), "checkpoint-4");
  mkdirSync(join(out, ".checkpoint-6.tmp-1234")); // what kill -9 during the next save leaves behind
  expect(await resolveCheckpoint(out)).toBe(join(out, "checkpoint-4"));
  expect(await resolveCheckpoint(join(out, "checkpoint-2"))).toBe(join(out, "checkpoint-2"));
  await expect(resolveCheckpoint(join(out, ".checkpoint-6.tmp-1234"))).rejects.toThrow("no trainer_state.json and no checkpoint-N");
});

test("a non-finite gradient is reported with the parameter's name and element", async () => {
  await setupGpu();
  const { model } = await tinyModel({ seed: 2 });
  const p = model.p("model.layers.1.mlp.gate_up_proj.weight");
  const g = new Float32Array(p.size);
  g[5] = Number.NaN;
  p.grad = Tensor.fromArray(g, p.shape).keep();
  expect(await firstBadGradient(model)).toBe("first non-finite gradient: model.layers.1.mlp.gate_up_proj.weight at element 5 (NaN)");
  p.grad.release();
  p.grad = undefined;
});

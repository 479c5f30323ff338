// The training loop with a stand-in task on a tiny random model: model selection keeps the weights of
// the best evaluation in checkpoint-best and records it in every checkpoint; a resumed loop carries
// the best on; a non-finite metric stops the run naming the step and the metric.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { backward } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { loadModel } from "../../src/model/load.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import type { Transformer } from "../../src/model/transformer.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { trainLoop, type LoopOptions, type TrainTask } from "../../src/train/loop.ts";
import { MetricsWriter } from "../../src/train/metrics-writer.ts";
import { openCheckpoint } from "../../src/train/resume.ts";
import { setupGpu } from "../helpers.ts";
import { tinyModel } from "../model/tiny.ts";

const TOKENIZER = join(import.meta.dir, "..", "..", "models", "latro-tiny");
const root = mkdtempSync(join(tmpdir(), "latro-loop-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(setupGpu);

/** Two micro-batches of next-token log-likelihood on fixed tokens; evaluation scores from `scores`. */
function standIn(model: Transformer, scores: number[], loss = () => 1): TrainTask {
  const tokens = Int32Array.from({ length: 2 * 5 }, (_, i) => 3 + ((i * 7) % 30));
  return {
    plan: async (step, lr) => ({
      microBatches: [0, 1].map(() => () =>
        scopeAsync(async () => {
          const lp = model.logprobs(tokenBatch(tokens, 2, 5, 0));
          backward(lp, Tensor.fromArray(new Float32Array(lp.size).fill(-0.1), lp.shape));
        }),
      ),
      metrics: ({ gradNorm }) => ({ step, lr, loss: loss(), grad_norm: gradNorm }),
    }),
    evaluate: async (step) => ({ metrics: { step, acc: scores[step - 1] }, score: { metric: "acc", value: scores[step - 1] } }),
    summary: (m) => JSON.stringify(m),
  };
}

function options(model: Transformer, outputDir: string, extra: Partial<LoopOptions> = {}): LoopOptions {
  return {
    model,
    optimizer: new AdamW(model.parameters(), { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 }),
    schedule: { learningRate: 1e-2, lrSchedulerType: "constant", warmupSteps: 0, totalSteps: 4 },
    outputDir,
    config: { what: "stand-in" },
    tokenizerDir: TOKENIZER,
    metrics: new MetricsWriter(outputDir),
    resume: null,
    evalEvery: 1,
    saveEvery: 1,
    logEvery: 0,
    ...extra,
  };
}

const state = (dir: string) => JSON.parse(readFileSync(join(dir, "trainer_state.json"), "utf8"));
async function sameWeights(a: string, b: string): Promise<boolean> {
  const [x, y] = [await loadModel(a), await loadModel(b)];
  for (const p of x.parameters()) {
    const u = (await p.toArray()) as Float32Array;
    const v = (await y.p(p.name!).toArray()) as Float32Array;
    if (u.some((e, i) => e !== v[i])) return false;
  }
  return true;
}

test("checkpoint-best holds the weights of the best evaluation, and every checkpoint records it", async () => {
  const out = join(root, "best");
  const { model } = await tinyModel({ seed: 4 });
  const result = await trainLoop(standIn(model, [0.1, 0.5, 0.3, 0.5]), options(model, out));
  expect(result).toEqual({ step: 4, interrupted: false, best: { metric: "acc", value: 0.5, step: 2 } });
  expect(state(join(out, "checkpoint-best"))).toMatchObject({ step: 2, best: { metric: "acc", value: 0.5, step: 2 } });
  expect(state(join(out, "checkpoint-1")).best).toEqual({ metric: "acc", value: 0.1, step: 1 });
  expect(state(join(out, "checkpoint-4")).best).toEqual({ metric: "acc", value: 0.5, step: 2 }); // a tie does not replace it
  expect(await sameWeights(join(out, "checkpoint-best"), join(out, "checkpoint-2"))).toBe(true);
  expect(await sameWeights(join(out, "checkpoint-best"), join(out, "checkpoint-3"))).toBe(false);
  const rows = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  expect(rows.map((r) => [r.step, r.acc ?? "update"])).toEqual([[1, "update"], [1, 0.1], [2, "update"], [2, 0.5], [3, "update"], [3, 0.3], [4, "update"], [4, 0.5]]);

  // Resumed from checkpoint-3, the best so far (update 2) is carried on and beaten at update 4.
  const { model: again } = await tinyModel({ seed: 4 });
  const resume = await openCheckpoint({ checkpointPath: join(out, "checkpoint-3"), config: { what: "stand-in" }, untracked: [], allowConfigChange: false });
  const resumed = await trainLoop(standIn(again, [0, 0, 0, 0.9]), options(again, out, { resume }));
  expect(resumed.best).toEqual({ metric: "acc", value: 0.9, step: 4 });
  expect(await sameWeights(join(out, "checkpoint-best"), join(out, "checkpoint-4"))).toBe(true);
});

test("a non-finite metric stops the run, naming the step and the metric", async () => {
  const { model } = await tinyModel({ seed: 5 });
  let n = 0;
  const task = standIn(model, [0, 0, 0, 0], () => (++n === 2 ? Number.NaN : 1));
  await expect(trainLoop(task, options(model, join(root, "nan"), { evalEvery: 0 }))).rejects.toThrow("step 2: loss is NaN (the run diverged; lower the learning rate)");
});

// Training metrics: updateMetrics against hand-computed values, MetricsWriter's JSONL files (and
// cutting them back for a resume), and the console summary line.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { METRIC, type SampleRow, summaryLine, updateMetrics } from "../../src/latro/metrics.ts";
import { MetricsWriter } from "../../src/train/metrics-writer.ts";

const root = mkdtempSync(join(tmpdir(), "latro-metrics-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** 4 rollouts (2 prompts × rloo_k 2), 2 micro-batches. */
const update = () =>
  updateMetrics({
    step: 4,
    episode: 64,
    trainDatasetSize: 32,
    episodesThisProcess: 24, // resumed at step 2.5 of 16 rollouts: 40 episodes were the earlier process's
    secondsThisProcess: 10,
    lr: 1e-6,
    klPenalty: [-0.1, -0.3, 0, -0.2],
    adjustedRewards: [1, 2, 3, 6],
    advantages: [-1, 1, -3, 3],
    stopped: [true, false, true, true],
    rationaleLengths: [10, 20, 30, 40],
    policyLosses: [0.5, 1.5],
    sftLosses: [2, 4],
  });

test("updateMetrics: means, stop counts and counters, under the original's names", () => {
  const m = update();
  expect(Object.keys(m).sort()).toEqual(
    Object.values(METRIC)
      .filter((k) => k !== METRIC.zeroShotAcc && k !== METRIC.testAcc && k !== METRIC.testAccBest && k !== METRIC.bestStep)
      .sort(),
  );
  expect(m[METRIC.eps]).toBe(2.4); // this process's 24 episodes in 10 s, not 64 / 10
  expect(m[METRIC.klPenalty]).toBeCloseTo(-0.15, 15); // (−0.1 − 0.3 + 0 − 0.2) / 4
  expect(m[METRIC.rlhfReward]).toBe(3); // 12 / 4
  expect(m[METRIC.advantageAvg]).toBe(0);
  expect(m[METRIC.policyLossAvg]).toBe(1);
  expect(m[METRIC.sftLossAvg]).toBe(3);
  expect(m[METRIC.numStopTokens]).toBe(3);
  expect(m[METRIC.percFinishedThoughts]).toBe(0.75);
  expect(m[METRIC.avgRationaleLength]).toBe(25);
  expect(m[METRIC.lr]).toBe(1e-6);
  expect(m[METRIC.episode]).toBe(64);
  expect(m[METRIC.epoch]).toBe(2); // 64 / 32
  expect(m[METRIC.step]).toBe(4);
});

test("MetricsWriter appends one JSON object per line, creating the directory", () => {
  const dir = join(root, "nested", "run");
  const w = new MetricsWriter(dir);
  expect(w.metricsPath).toBe(join(dir, "metrics.jsonl"));
  const first = update();
  w.write(first);
  w.write({ step: 5, lr: Number.NaN });
  const lines = readFileSync(w.metricsPath, "utf8").split("\n");
  expect(lines.length).toBe(3);
  expect(lines[2]).toBe("");
  expect(JSON.parse(lines[0])).toEqual(first);
  // JSON has no NaN: it is written as null.
  expect(JSON.parse(lines[1])).toEqual({ step: 5, lr: null });
});

test("MetricsWriter.writeSamples appends one row per rollout, tagged with its step", () => {
  const w = new MetricsWriter(join(root, "samples"));
  const row = (i: number): SampleRow => ({
    query: `q${i}`,
    model_response: `z${i}<|im_end|>pad`,
    postprocessed_response: `z${i}`,
    assembled_sequences: `q${i}z${i}y`,
    groundtruth: "y",
    reward: -i,
    advantage: i / 2,
  });
  w.writeSamples(3, [row(1), row(2)]);
  w.writeSamples(6, []);
  w.writeSamples(9, [row(3)]);
  const rows = readFileSync(w.samplesPath, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
  expect(rows).toEqual([
    { step: 3, ...row(1) },
    { step: 3, ...row(2) },
    { step: 9, ...row(3) },
  ]);
});

test("MetricsWriter.truncateAfter drops the rows of both files after a step, and says how many", () => {
  const w = new MetricsWriter(join(root, "truncate"));
  for (const step of [1, 2, 3]) w.write({ step, lr: step });
  w.write({ step: 3, [METRIC.zeroShotAcc]: 0.5 });
  w.writeSamples(1, [{ a: 1 }]);
  w.writeSamples(3, [{ a: 3 }, { a: 4 }]);
  expect(w.truncateAfter(2)).toBe(4);
  const rows = (path: string) => readFileSync(path, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
  expect(rows(w.metricsPath)).toEqual([{ step: 1, lr: 1 }, { step: 2, lr: 2 }]);
  expect(rows(w.samplesPath)).toEqual([{ step: 1, a: 1 }]);
  expect(w.truncateAfter(2)).toBe(0);
  w.write({ lr: 5 } as Record<string, number>);
  expect(() => w.truncateAfter(1)).toThrow(`${w.metricsPath}:3: row has no numeric "step"`);
});

test("summaryLine prints the present metrics in a fixed order", () => {
  expect(summaryLine(update())).toBe(
    "step 4 | epoch 2.00 | reward 3.000 | kl_pen -0.1500 | policy 1.000 | sft 3.000 | finished 75% | len 25.0 | lr 1.00e-6 | eps 2.40",
  );
  expect(summaryLine({ ...update(), [METRIC.eps]: 0.0123 })).toContain("| eps 0.0123");
  expect(summaryLine({ ...update(), [METRIC.eps]: 1234.5 })).toContain("| eps 1235");
  expect(summaryLine({ [METRIC.zeroShotAcc]: 0.75, [METRIC.step]: 10 })).toBe("step 10 | acc 75.0%");
  expect(summaryLine({ [METRIC.testAcc]: 0.5, [METRIC.testAccBest]: 0.625, [METRIC.bestStep]: 3, [METRIC.step]: 8 })).toBe(
    "step 8 | test acc 50.0% | test acc (best) 62.5% | best step 3",
  );
  expect(summaryLine({ unknown: 1 })).toBe("");
});

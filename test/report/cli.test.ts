// `bun run report OUTPUT_DIR` on synthetic runs: both files written from MetricsWriter's output, and
// clear errors (naming the file and line) for a missing directory, a missing or malformed metrics.jsonl.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReportInputError, buildCharts, readMetrics, writeReport } from "../../src/cli/report.ts";
import { METRIC, updateMetrics } from "../../src/latro/metrics.ts";
import { MetricsWriter } from "../../src/train/metrics-writer.ts";

const root = mkdtempSync(join(tmpdir(), "latro-report-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cli = new URL("../../src/cli/report.ts", import.meta.url).pathname;

const evaluation = (step: number, accuracy: number) => ({ [METRIC.zeroShotAcc]: accuracy, [METRIC.step]: step });

/** A run directory with `steps` updates, an evaluation every 5 and samples at each evaluation, and the final test row. */
function syntheticRun(name: string, steps: number): string {
  const dir = join(root, name);
  const w = new MetricsWriter(dir);
  w.write(evaluation(0, 0.5));
  for (let step = 1; step <= steps; step++) {
    w.write(
      updateMetrics({
        step,
        episode: 4 * step,
        trainDatasetSize: 16,
        episodesThisProcess: 4 * step,
        secondsThisProcess: step,
        lr: 1e-6 * (1 - step / (steps + 1)),
        klPenalty: [-0.01 * step, 0],
        adjustedRewards: [-2 + 0.1 * step, -2],
        advantages: [0.5, -0.5],
        stopped: [step % 2 === 0, true],
        rationaleLengths: [100 - step, 50],
        policyLosses: [0.1],
        sftLosses: [2 - 0.05 * step],
      }),
    );
    if (step % 5 === 0) {
      w.write(evaluation(step, step > 5 ? 1 : 0));
      w.writeSamples(step, [
        { query: "q", model_response: "r", postprocessed_response: `thought at ${step} <script>x</script>`, assembled_sequences: "a", groundtruth: "7", reward: -1, advantage: 0 },
      ]);
    }
  }
  w.write({ [METRIC.testAcc]: 0.25, [METRIC.testAccBest]: 0.375, [METRIC.bestStep]: 10, [METRIC.step]: steps });
  return dir;
}

function expectInputError(run: () => unknown, ...parts: string[]) {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ReportInputError);
    for (const p of parts) expect((error as Error).message).toContain(p);
    return;
  }
  throw new Error("expected a ReportInputError");
}

test("writeReport writes report.html and report.png into the run directory", () => {
  const dir = syntheticRun("ok", 20);
  const { html, png } = writeReport(dir);
  expect(html).toBe(join(dir, "report.html"));
  expect(png).toBe(join(dir, "report.png"));

  const page = readFileSync(html, "utf8");
  for (const metric of [METRIC.rlhfReward, METRIC.klPenalty, METRIC.avgRationaleLength, METRIC.percFinishedThoughts, METRIC.policyLossAvg, METRIC.sftLossAvg, METRIC.lr, METRIC.zeroShotAcc]) {
    expect(page).toContain(`data-series="${metric}"`);
  }
  expect(page).toContain("<th>training steps</th><td>20</td>");
  expect(page).toContain("<th>evaluations</th><td>5</td>");
  expect(page).toContain("<th>test accuracy, final model (step 20)</th><td>25.0%</td>");
  expect(page).toContain("<th>test accuracy, checkpoint-best (step 10, best validation accuracy)</th><td>37.5%</td>");
  // The last 5 of 4 samples: all of them, escaped.
  expect(page.match(/class="sample"/g)?.length).toBe(4);
  expect(page).toContain("thought at 20 &lt;script&gt;");
  expect(page).not.toContain("<script>");

  const bytes = readFileSync(png);
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(bytes.readUInt32BE(16)).toBe(2 * 640);
});

test("charts hold one point per row with the metric, percentages scaled, nulls left out", () => {
  const charts = buildCharts([
    { step: 2, [METRIC.percFinishedThoughts]: 0.5, [METRIC.rlhfReward]: null },
    { step: 1, [METRIC.percFinishedThoughts]: 0.25, [METRIC.rlhfReward]: -1 },
    { step: 2, [METRIC.zeroShotAcc]: 0.75 },
  ]);
  const series = (label: string) => charts.flatMap((c) => c.series).find((s) => s.label === label)!;
  expect(series(METRIC.percFinishedThoughts).points).toEqual([[1, 25], [2, 50]]);
  expect(series(METRIC.rlhfReward).points).toEqual([[1, -1]]);
  expect(series(METRIC.zeroShotAcc).points).toEqual([[2, 75]]);
  expect(series(METRIC.lr).points).toEqual([]);
});

test("--out moves the HTML and the PNG goes beside it; --samples limits the samples shown", () => {
  const dir = syntheticRun("out", 10);
  const out = join(root, "elsewhere", "run.html");
  const { png } = writeReport(dir, { out, samples: 1 });
  expect(png).toBe(join(root, "elsewhere", "run.png"));
  expect(existsSync(png)).toBe(true);
  const page = readFileSync(out, "utf8");
  expect(page.match(/class="sample"/g)?.length).toBe(1);
  expect(page).toContain("thought at 10");
});

test("a missing directory or metrics.jsonl is named in the error", () => {
  expectInputError(() => writeReport(join(root, "nope")), `"${join(root, "nope")}" is not a directory`);
  const empty = join(root, "empty");
  mkdirSync(empty);
  expectInputError(() => writeReport(empty), `${join(empty, "metrics.jsonl")} not found`);
  writeFileSync(join(empty, "metrics.jsonl"), "\n");
  expectInputError(() => writeReport(empty), "has no metric rows");
});

test("a malformed metrics.jsonl line is named by file and line", () => {
  const file = join(root, "bad.jsonl");
  writeFileSync(file, `{"step":1,"lr":1e-6}\n\n{"step":2,"lr":\n`);
  expectInputError(() => readMetrics(file), `${file}:3: not valid JSON`);
  writeFileSync(file, `{"step":1}\n[1,2]\n`);
  expectInputError(() => readMetrics(file), `${file}:2: expected a JSON object`);
  writeFileSync(file, `{"step":1}\n{"lr":1e-6}\n`);
  expectInputError(() => readMetrics(file), `${file}:2: "step" is undefined, expected a number`);
  writeFileSync(file, `{"step":1,"objective/rlhf_reward":"high"}\n`);
  expectInputError(() => readMetrics(file), `${file}:1: "objective/rlhf_reward" is "high", expected a number or null`);
});

test("the command prints the written paths, or a one-line error and exit code 1", () => {
  const dir = syntheticRun("cli", 6);
  const ok = Bun.spawnSync(["bun", cli, dir]);
  expect(ok.exitCode).toBe(0);
  expect(ok.stdout.toString()).toBe(`wrote ${join(dir, "report.html")}\nwrote ${join(dir, "report.png")}\n`);

  const missing = Bun.spawnSync(["bun", cli, join(root, "absent")]);
  expect(missing.exitCode).toBe(1);
  expect(missing.stderr.toString().trim()).toBe(`report: OUTPUT_DIR "${join(root, "absent")}" is not a directory; expected a training run's output directory`);
});

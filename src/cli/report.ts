// `bun run report OUTPUT_DIR [--out FILE] [--samples N]`: reads a training run's metrics.jsonl (and
// samples.jsonl, if any) and writes OUTPUT_DIR/report.html — SVG charts, a summary table and the last
// sampled rationales — and report.png beside it, the same charts as one image. --out moves the HTML
// file; the PNG takes its name with the extension ".png".
import { defineCommand, runMain } from "citty";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { METRIC } from "../latro/metrics.ts";
import { type SampleRecord, renderHtml } from "../report/html.ts";
import { type Chart, type Series, renderChartGrid } from "../report/plot.ts";
import { encodePng } from "../report/png.ts";

/** Bad input to the report: a missing directory or file, or a malformed line. */
export class ReportInputError extends Error {}

type Row = Record<string, unknown>;

/** What the report charts: per chart, its series' metric names, a scale for display, and which way is better. */
const CHARTS: { title: string; scale?: number; series: [metric: string, better?: "max" | "min"][] }[] = [
  { title: "Reward", series: [[METRIC.rlhfReward, "max"]] },
  { title: "KL penalty", series: [[METRIC.klPenalty, "max"]] },
  { title: "Rationale length (tokens)", series: [[METRIC.avgRationaleLength]] },
  { title: "Finished thoughts (%)", scale: 100, series: [[METRIC.percFinishedThoughts, "max"]] },
  { title: "Policy loss", series: [[METRIC.policyLossAvg]] },
  { title: "SFT loss", series: [[METRIC.sftLossAvg, "min"]] },
  { title: "Learning rate", series: [[METRIC.lr]] },
  { title: "Eval accuracy (%)", scale: 100, series: [[METRIC.zeroShotAcc, "max"]] },
];
const PLOTTED = new Set(CHARTS.flatMap((c) => c.series.map(([m]) => m)));

/**
 * The JSON objects of a JSONL file, one per non-blank line, each passed to `check` with its "FILE:LINE"
 * for error messages.
 */
export function readJsonl(path: string, check: (row: Row, where: string) => void = () => {}): Row[] {
  const rows: Row[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      const where = `${path}:${i + 1}`;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new ReportInputError(`${where}: not valid JSON (${(error as Error).message}): ${line.slice(0, 80)}`);
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new ReportInputError(`${where}: expected a JSON object, got ${line.slice(0, 80)}`);
      }
      check(value as Row, where);
      rows.push(value as Row);
    });
  return rows;
}

/**
 * The rows of metrics.jsonl. Each needs a numeric "step"; each charted metric it has must be a number,
 * or null (how JSON.stringify writes NaN and ±Infinity; such points are left out).
 */
export function readMetrics(path: string): Row[] {
  if (!existsSync(path)) throw new ReportInputError(`${path} not found; expected the metrics.jsonl a training run writes`);
  const rows = readJsonl(path, (row, where) => {
    if (typeof row.step !== "number") {
      throw new ReportInputError(`${where}: "step" is ${JSON.stringify(row.step)}, expected a number`);
    }
    for (const key of PLOTTED) {
      const v = row[key];
      if (v !== undefined && v !== null && typeof v !== "number") {
        throw new ReportInputError(`${where}: "${key}" is ${JSON.stringify(v)}, expected a number or null`);
      }
    }
  });
  if (rows.length === 0) throw new ReportInputError(`${path} has no metric rows; expected at least one JSON object`);
  return rows;
}

/** The report's charts from metric rows: one point per row that has the metric, in step order. */
export function buildCharts(rows: readonly Row[]): Chart[] {
  const sorted = [...rows].sort((a, b) => (a.step as number) - (b.step as number));
  return CHARTS.map(({ title, scale = 1, series }) => ({
    title,
    xLabel: "step",
    series: series.map(([metric, better]): Series => ({
      label: metric,
      better,
      points: sorted
        .filter((row) => typeof row[metric] === "number")
        .map((row) => [row.step as number, (row[metric] as number) * scale] as const),
    })),
  }));
}

/** The first and last step of the rows (a loop: a spread of a long run's steps would overflow the stack). */
function stepRange(rows: readonly Row[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const row of rows) {
    lo = Math.min(lo, row.step as number);
    hi = Math.max(hi, row.step as number);
  }
  return [lo, hi];
}

function runFacts(dir: string, rows: readonly Row[], samples: number): [string, string][] {
  const training = rows.filter((r) => typeof r[METRIC.rlhfReward] === "number");
  const evaluations = rows.filter((r) => typeof r[METRIC.zeroShotAcc] === "number");
  const last = (key: string) => training.findLast((r) => typeof r[key] === "number")?.[key] as number | undefined;
  const facts: [string, string][] = [
    ["run", dir],
    ["metric rows", String(rows.length)],
    ["training steps", String(training.length)],
    ["step range", stepRange(rows).join(" – ")],
    ["evaluations", String(evaluations.length)],
    ["samples recorded", String(samples)],
  ];
  const episode = last(METRIC.episode), epoch = last(METRIC.epoch);
  if (episode !== undefined) facts.push(["episodes", String(episode)]);
  if (epoch !== undefined) facts.push(["epochs", epoch.toFixed(2)]);
  // Model selection at the end of the run: the final model and checkpoint-best on the test split.
  const test = rows.findLast((r) => typeof r[METRIC.testAcc] === "number");
  const percent = (x: unknown) => `${(100 * (x as number)).toFixed(1)}%`;
  if (test) facts.push([`test accuracy, final model (step ${test[METRIC.step]})`, percent(test[METRIC.testAcc])]);
  if (test && typeof test[METRIC.testAccBest] === "number") {
    facts.push([`test accuracy, checkpoint-best (step ${test[METRIC.bestStep]}, best validation accuracy)`, percent(test[METRIC.testAccBest])]);
  }
  return facts;
}

export interface ReportOptions {
  /** HTML output path; default OUTPUT_DIR/report.html. The PNG goes beside it. */
  out?: string;
  /** How many of the last samples to show. */
  samples?: number;
}

/** Writes the HTML and PNG reports of the run in `dir`; returns their paths. */
export function writeReport(dir: string, options: ReportOptions = {}): { html: string; png: string } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ReportInputError(`OUTPUT_DIR "${dir}" is not a directory; expected a training run's output directory`);
  }
  const rows = readMetrics(join(dir, "metrics.jsonl"));
  const samplesPath = join(dir, "samples.jsonl");
  const samples: SampleRecord[] = existsSync(samplesPath) ? readJsonl(samplesPath) : [];

  const charts = buildCharts(rows);
  const facts = runFacts(dir, rows, samples.length);
  const name = basename(resolve(dir));
  const html = options.out ?? join(dir, "report.html");
  const png = html.replace(/(\.html?)?$/i, ".png");
  mkdirSync(dirname(html), { recursive: true });

  const shown = samples.slice(Math.max(0, samples.length - (options.samples ?? 5)));
  writeFileSync(html, renderHtml({ title: `LaTRO run report: ${name}`, facts, charts, samples: shown }));
  const heading = `LaTRO run: ${name}   steps ${stepRange(rows).join("-")}   ${rows.length} metric rows`;
  const image = renderChartGrid(charts, { columns: 2, cellWidth: 640, cellHeight: 400, heading });
  writeFileSync(png, encodePng(image.width, image.height, image.pixels));
  return { html, png };
}

export const reportCommand = defineCommand({
  meta: { name: "report", description: "Render a training run's metrics.jsonl as report.html (SVG charts) and report.png" },
  args: {
    dir: { type: "positional", description: "the run's OUTPUT_DIR (holds metrics.jsonl, optionally samples.jsonl)", required: true },
    out: { type: "string", description: "HTML output file (default OUTPUT_DIR/report.html); the PNG is written beside it" },
    samples: { type: "string", description: "how many of the last sampled rationales to show", default: "5" },
  },
  run({ args }) {
    try {
      const samples = Number(args.samples);
      if (!Number.isInteger(samples) || samples < 0) {
        throw new ReportInputError(`--samples: "${args.samples}" is not a count; expected a non-negative integer`);
      }
      const { html, png } = writeReport(args.dir, { out: args.out, samples });
      console.log(`wrote ${html}\nwrote ${png}`);
    } catch (error) {
      if (!(error instanceof ReportInputError)) throw error;
      console.error(`report: ${error.message}`);
      process.exit(1);
    }
  },
});

if (import.meta.main) runMain(reportCommand);

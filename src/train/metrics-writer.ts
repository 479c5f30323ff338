// The two JSONL files of a training run: OUTPUT_DIR/metrics.jsonl (one object per update or
// evaluation, each with its `step`) and OUTPUT_DIR/samples.jsonl (sampled outputs of evaluation
// updates, one row each, with its `step`). Appended line by line; a resumed run first cuts both back
// to the checkpoint's step, so its files read as those of an uninterrupted run.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export type Metrics = Record<string, number>;

export class MetricsWriter {
  readonly metricsPath: string;
  readonly samplesPath: string;

  constructor(outputDir: string) {
    mkdirSync(outputDir, { recursive: true });
    this.metricsPath = join(outputDir, "metrics.jsonl");
    this.samplesPath = join(outputDir, "samples.jsonl");
  }

  write(metrics: Metrics): void {
    appendFileSync(this.metricsPath, JSON.stringify(metrics) + "\n");
  }

  writeSamples(step: number, rows: readonly object[]): void {
    appendFileSync(this.samplesPath, rows.map((row) => JSON.stringify({ step, ...row }) + "\n").join(""));
  }

  /** Drops the rows of both files whose step is after `step`; returns how many rows were dropped. */
  truncateAfter(step: number): number {
    return truncateJsonl(this.metricsPath, step) + truncateJsonl(this.samplesPath, step);
  }
}

function truncateJsonl(path: string, step: number): number {
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, "utf8").split("\n").filter((l) => l.trim() !== "");
  const kept = lines.filter((line, i) => {
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${i + 1}: not JSON; cannot cut the file back to step ${step} for the resume`);
    }
    const s = (row as { step?: unknown }).step;
    if (typeof s !== "number") throw new Error(`${path}:${i + 1}: row has no numeric "step"; cannot cut the file back to step ${step}`);
    return s <= step;
  });
  if (kept.length !== lines.length) writeFileSync(path, kept.map((l) => l + "\n").join(""));
  return lines.length - kept.length;
}

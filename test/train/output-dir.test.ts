// The output directory check: a new run refuses a non-empty directory (naming both ways out),
// --overwrite-output-dir empties it (but never a project directory), a resume keeps it, and leftovers
// of killed saves are removed in every case.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareOutputDir } from "../../src/train/output-dir.ts";

const root = mkdtempSync(join(tmpdir(), "latro-outdir-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(name: string, entries: string[]): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const e of entries) {
    if (e.startsWith(".") || e.startsWith("checkpoint")) mkdirSync(join(dir, e));
    else writeFileSync(join(dir, e), "x");
  }
  return dir;
}

const NEW = { flag: "--output-dir", overwrite: false, resuming: false };

test("a missing or empty directory is fine; a non-empty one is refused with both ways out", () => {
  expect(() => prepareOutputDir(join(root, "missing"), NEW)).not.toThrow();
  expect(() => prepareOutputDir(run("empty", []), NEW)).not.toThrow();
  const dir = run("used", ["metrics.jsonl", "checkpoint-2", "latest", "config.json", "samples.jsonl"]);
  expect(() => prepareOutputDir(dir, NEW)).toThrow(
    `--output-dir ${dir} is not empty (checkpoint-2, config.json, latest, metrics.jsonl, …); pass --overwrite-output-dir to remove its files ` +
      `and start a new run, or --checkpoint-path ${dir} to resume the run in it`,
  );
  expect(() => prepareOutputDir(join(dir, "metrics.jsonl"), NEW)).toThrow(`--output-dir ${dir}/metrics.jsonl: exists and is not a directory`);
});

test("--overwrite-output-dir empties the directory, except a project's", () => {
  const dir = run("overwrite", ["metrics.jsonl", "checkpoint-2", "latest"]);
  prepareOutputDir(dir, { ...NEW, overwrite: true });
  expect(readdirSync(dir)).toEqual([]);
  const project = run("project", ["package.json", "src.ts"]);
  expect(() => prepareOutputDir(project, { ...NEW, overwrite: true })).toThrow("holds package.json; it is not a run's output directory");
  expect(readdirSync(project).sort()).toEqual(["package.json", "src.ts"]);
});

test("a resume keeps the run's files; leftovers of killed saves go in every case", () => {
  const dir = run("resume", ["metrics.jsonl", "checkpoint-2", ".checkpoint-4.tmp-1234", ".checkpoint-best.old-99", ".model.tmp-7", ".keep"]);
  prepareOutputDir(dir, { ...NEW, resuming: true });
  expect(readdirSync(dir).sort()).toEqual([".keep", "checkpoint-2", "metrics.jsonl"]);
  const stale = run("stale", [".checkpoint-3.tmp-42"]);
  prepareOutputDir(stale, NEW);
  expect(existsSync(join(stale, ".checkpoint-3.tmp-42"))).toBe(false);
});

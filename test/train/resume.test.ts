// The resume check: which config fields count, how differences are named, and --allow-config-change.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configChanges, openCheckpoint } from "../../src/train/resume.ts";

const root = mkdtempSync(join(tmpdir(), "latro-resume-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("configChanges names every tracked field that differs, old → new, untracked fields aside", () => {
  const saved = { seed: 1, lr: 1e-4, outputDir: "a", stops: ["x"], gone: 3 };
  const now = { seed: 2, lr: 1e-4, outputDir: "b", stops: ["x", "y"], added: true };
  expect(configChanges(saved, now, ["outputDir"], (k) => `--${k}`)).toEqual([
    "--seed: 1 → 2",
    '--stops: ["x"] → ["x","y"]',
    "--gone: 3 → undefined",
    "--added: undefined → true",
  ]);
  expect(configChanges(saved, { ...saved, outputDir: "c" }, ["outputDir"])).toEqual([]);
});

test("openCheckpoint refuses a changed config unless allowed, and then logs the changes", async () => {
  const dir = join(root, "checkpoint-4");
  mkdirSync(dir);
  writeFileSync(join(dir, "trainer_state.json"), JSON.stringify({ step: 4, best: null, config: { seed: 1, outputDir: "a" } }));
  const open = (config: object, allowConfigChange: boolean) => openCheckpoint({ checkpointPath: dir, config, untracked: ["outputDir"], allowConfigChange });
  expect(await open({ seed: 1, outputDir: "b" }, false)).toEqual({ step: 4, best: null, dir });
  await expect(open({ seed: 2, outputDir: "a" }, false)).rejects.toThrow(`--checkpoint-path ${dir} was saved by a run with a different config`);
  const logged: string[] = [];
  const error = console.error;
  console.error = (line: string) => logged.push(line);
  try {
    expect((await open({ seed: 2, outputDir: "a" }, true)).step).toBe(4);
  } finally {
    console.error = error;
  }
  expect(logged).toEqual([`--allow-config-change: resuming ${dir} with changed fields:\n  seed: 1 → 2`]);
});

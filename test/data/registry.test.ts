import { expect, test } from "bun:test";
import type { Dataset } from "../../src/data/example.ts";
import { datasetNames, loadDataset, registerDataset, registerDatasetFamily } from "../../src/data/registry.ts";

test("the built-in datasets are registered", () => {
  expect(datasetNames()).toEqual(expect.arrayContaining(["gsm8k", "gsm8k_8shot", "arc_challenge"]));
  const d = loadDataset("arc_challenge", "val");
  expect([d.name, d.split, d.examples.length]).toEqual(["arc_challenge", "val", 299]);
});

test("registerDataset adds a loader that loadDataset calls with the split", () => {
  const stub = (split: Dataset["split"]): Dataset => ({
    name: "registry_test_stub",
    split,
    answerKind: "number",
    examples: [{ id: `stub/${split}/0`, query: { messages: [], plainPrompt: "1+1" }, response: "The answer is 2.", groundtruth: "2" }],
  });
  registerDataset("registry_test_stub", stub);
  expect(datasetNames()).toContain("registry_test_stub");
  expect(loadDataset("registry_test_stub", "test").examples[0].id).toBe("stub/test/0");
  expect(() => registerDataset("registry_test_stub", stub)).toThrow('dataset "registry_test_stub" is already registered');
});

test("registerDataset rejects names loadDataset could not reach", () => {
  expect(() => registerDataset("jsonl:x", () => ({}) as Dataset)).toThrow('not start with "jsonl:", got "jsonl:x"');
  expect(() => registerDataset("", () => ({}) as Dataset)).toThrow('got ""');
  expect(() => registerDatasetFamily("jsonl:", () => ({}) as Dataset)).toThrow('family "jsonl:" is already registered');
  expect(() => registerDatasetFamily("stub", () => ({}) as Dataset)).toThrow('prefix must be a name followed by ":", got "stub"');
});

test("registerDatasetFamily makes every prefix:SPEC name loadable, its loader given the full name", () => {
  registerDatasetFamily("registry_family:", (name, split) => ({ name, split, answerKind: "number", examples: [] }));
  expect(datasetNames()).toContain("registry_family:…");
  expect(loadDataset("registry_family:a=1", "val")).toMatchObject({ name: "registry_family:a=1", split: "val" });
  expect(() => registerDataset("registry_family:x", () => ({}) as Dataset)).toThrow('not start with "registry_family:"');
});

test("loadDataset names unknown datasets and splits", () => {
  expect(() => loadDataset("gsm9k", "train")).toThrow('unknown dataset "gsm9k" (expected one of gsm8k, gsm8k_8shot, arc_challenge');
  expect(() => loadDataset("gsm9k", "train")).toThrow("jsonl:…");
  expect(() => loadDataset("gsm8k", "dev")).toThrow('loadDataset("gsm8k"): split must be one of train, val, test, got "dev"');
});

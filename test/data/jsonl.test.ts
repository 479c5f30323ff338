import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadJsonlDataset, readJsonl } from "../../src/data/jsonl.ts";
import { MissingSplitError } from "../../src/data/split.ts";

const dir = mkdtempSync(join(tmpdir(), "latro-jsonl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `lines` to a fresh file in the test directory and returns its path. */
function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join("\n"));
  return path;
}

const row = (queries: unknown, responses: unknown, groundtruth: unknown) => JSON.stringify({ queries, responses, groundtruth });

describe("readJsonl", () => {
  test("parses non-blank lines with 1-based line numbers", () => {
    const path = file("rows.jsonl", ['{"a":1}', "", '{"a":2}', ""]);
    expect(readJsonl(path)).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 3, value: { a: 2 } },
    ]);
  });

  test("names the file and line of invalid JSON", () => {
    const path = file("broken.jsonl", ['{"a":1}', "{oops"]);
    expect(() => readJsonl(path)).toThrow(`${path}:2: invalid JSON`);
  });

  test("names a missing file", () => {
    expect(() => readJsonl(join(dir, "absent.jsonl"))).toThrow(`${join(dir, "absent.jsonl")}: cannot read JSON Lines file`);
  });
});

describe("jsonl:PATH datasets", () => {
  test("read queries, responses and groundtruth as LaTRO triples", () => {
    const path = file("arith.train.jsonl", [row("2+3=? Let's think step by step.", "The answer is 5.", 5), row("1,000+1=?", "The answer is 1,001.", "1,001")]);
    const name = `jsonl:${join(dir, "arith.{split}.jsonl")}`;
    const d = loadJsonlDataset(name, "train");
    expect(d.name).toBe(name);
    expect(d.answerKind).toBe("number");
    expect(d.examples).toEqual([
      {
        id: `${path}:1`,
        query: { messages: [{ role: "user", content: "2+3=? Let's think step by step." }], plainPrompt: "2+3=? Let's think step by step." },
        response: "The answer is 5.",
        groundtruth: "5",
      },
      {
        id: `${path}:2`,
        query: { messages: [{ role: "user", content: "1,000+1=?" }], plainPrompt: "1,000+1=?" },
        response: "The answer is 1,001.",
        groundtruth: "1,001",
      },
    ]);
  });

  test("compare as text when any groundtruth is not a number", () => {
    const path = file("words.jsonl", [row("q1", "The answer is 4.", "4"), row("q2", "The answer is blue.", "blue")]);
    expect(loadJsonlDataset(`jsonl:${path}`, "val").answerKind).toBe("text");
  });

  test("substitute {split} in the path", () => {
    file("mine.val.jsonl", [row("q", "The answer is 1.", "1")]);
    const d = loadJsonlDataset(`jsonl:${join(dir, "mine.{split}.jsonl")}`, "val");
    expect(d.examples[0].id).toBe(`${join(dir, "mine.val.jsonl")}:1`);
    expect(() => loadJsonlDataset(`jsonl:${join(dir, "mine.{split}.jsonl")}`, "test")).toThrow("mine.test.jsonl: cannot read");
  });

  test("without {split}, val is a seeded tenth of the file, train the rest, and there is no test split", () => {
    const rows = Array.from({ length: 30 }, (_, i) => row(`q${i}`, `The answer is ${i}.`, i));
    const path = file("all.jsonl", rows);
    const train = loadJsonlDataset(`jsonl:${path}`, "train").examples.map((e) => e.groundtruth);
    const val = loadJsonlDataset(`jsonl:${path}`, "val").examples.map((e) => e.groundtruth);
    expect([train.length, val.length]).toEqual([27, 3]);
    expect([...train, ...val].sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    expect(loadJsonlDataset(`jsonl:${path}`, "val").examples.map((e) => e.groundtruth)).toEqual(val);
    expect(() => loadJsonlDataset(`jsonl:${path}`, "test")).toThrow(MissingSplitError);
    expect(() => loadJsonlDataset(`jsonl:${path}`, "test")).toThrow("has no test split: the file without {split} is split into train and a held-out val only");
    const one = file("one.jsonl", [row("q", "The answer is 1.", 1)]);
    expect(() => loadJsonlDataset(`jsonl:${one}`, "train")).toThrow(`${one}: 1 row; a file without {split} needs at least 2`);
  });

  test("name the file, line and column of a missing column", () => {
    const path = file("missing.jsonl", [row("q", "r", "1"), JSON.stringify({ query: "q", responses: "r", groundtruth: "1" })]);
    expect(() => loadJsonlDataset(`jsonl:${path}`, "train")).toThrow(`${path}:2: missing column "queries" (have query, responses, groundtruth)`);
  });

  test("name the file, line, column and value of a mistyped column", () => {
    const responses = file("typed.jsonl", [row("q", 42, "1")]);
    expect(() => loadJsonlDataset(`jsonl:${responses}`, "train")).toThrow(`${responses}:1: column "responses" must be a string, got 42`);
    const gold = file("gold.jsonl", [row("q", "r", null)]);
    expect(() => loadJsonlDataset(`jsonl:${gold}`, "train")).toThrow(
      `${gold}:1: column "groundtruth" must be a string or a finite number, got null`,
    );
  });

  test("reject lines that are not objects, and empty files", () => {
    const array = file("array.jsonl", ['["q", "r", "1"]']);
    expect(() => loadJsonlDataset(`jsonl:${array}`, "train")).toThrow(`${array}:1: expected a JSON object per line, got ["q","r","1"]`);
    const empty = file("empty.jsonl", ["", ""]);
    expect(() => loadJsonlDataset(`jsonl:${empty}`, "train")).toThrow(`${empty}: no rows (expected columns queries, responses, groundtruth)`);
  });

  test("reject a name without a path", () => {
    expect(() => loadJsonlDataset("jsonl:", "train")).toThrow('name must be "jsonl:PATH", got "jsonl:"');
  });
});

import { describe, expect, test } from "bun:test";
import { GSM8K_VAL_SIZE, gsm8kDataset, gsm8kProblems, readGsm8k } from "../../src/data/gsm8k.ts";
import { canonicalNumber } from "../../src/data/number.ts";

describe("GSM8K files", () => {
  const train = readGsm8k("train");

  test("hold every problem of the original release", () => {
    expect(train).toHaveLength(7473);
    expect(readGsm8k("test")).toHaveLength(1319);
  });

  test("split each solution on '#### ' into rationale and verbatim gold answer", () => {
    expect(train[0]).toEqual({
      id: "gsm8k/train/0",
      question:
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
      rationale: "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n",
      answer: "72",
    });
    expect(train.some((p) => p.answer === "1,080")).toBe(true); // commas kept, as in the original
    expect(train.some((p) => p.answer === "-7")).toBe(true);
    for (const p of train) expect(canonicalNumber(p.answer)).not.toBeNull();
  });
});

describe("GSM8K splits", () => {
  const trainIds = gsm8kProblems("train").map((p) => p.id);
  const val = gsm8kProblems("val");

  test("hold GSM8K_VAL_SIZE problems out of train, disjointly", () => {
    expect(val).toHaveLength(GSM8K_VAL_SIZE);
    expect(trainIds).toHaveLength(7473 - GSM8K_VAL_SIZE);
    const held = new Set(val.map((p) => p.id));
    expect(held.size).toBe(GSM8K_VAL_SIZE);
    expect(trainIds.some((id) => held.has(id))).toBe(false);
  });

  test("draw the validation set from a fixed seed (pinned)", () => {
    expect(val.slice(0, 3).map((p) => p.id)).toEqual(["gsm8k/train/4", "gsm8k/train/52", "gsm8k/train/71"]);
    expect(val[val.length - 1].id).toBe("gsm8k/train/7432");
    expect(gsm8kProblems("val")).toEqual(val);
  });

  test("keep test untouched", () => {
    expect(gsm8kProblems("test")[0].id).toBe("gsm8k/test/0");
  });
});

describe("gsm8kDataset", () => {
  test("builds LaTRO triples: query, 'The answer is {gold}.', gold", () => {
    const d = gsm8kDataset("test", false);
    expect(d.name).toBe("gsm8k");
    expect(d.split).toBe("test");
    expect(d.answerKind).toBe("number");
    const e = d.examples[0];
    expect(e.response).toBe(`The answer is ${e.groundtruth}.`);
    expect(e.query.messages[0].content.endsWith(" Let's think step by step.")).toBe(true);
    expect(e.choices).toBeUndefined();
  });

  test("gsm8k_8shot prefixes the exemplars and keeps the same problems", () => {
    const zero = gsm8kDataset("val", false);
    const few = gsm8kDataset("val", true);
    expect(few.name).toBe("gsm8k_8shot");
    expect(few.examples.map((e) => e.id)).toEqual(zero.examples.map((e) => e.id));
    expect(few.examples[0].query.plainPrompt.startsWith("\nQ: There are 15 trees")).toBe(true);
    expect(few.examples[0].query.plainPrompt.endsWith(zero.examples[0].query.plainPrompt)).toBe(true);
  });
});

// The synthetic `arith` task: reproducible from its seed, disjoint splits, every answer re-derived
// from the rationale's expressions and the question's numbers, and each difficulty knob bounding
// what it should.
import { expect, test } from "bun:test";
import {
  ARITH_DEFAULTS,
  ARITH_SEED,
  ARITH_SPLIT_SIZES,
  type ArithOptions,
  arithOptions,
  arithProblems,
  generateArithProblem,
} from "../../src/data/arith.ts";
import type { Problem } from "../../src/data/example.ts";
import { loadDataset } from "../../src/data/registry.ts";
import { Rng } from "../../src/data/rng.ts";

interface Step {
  x: number;
  op: string;
  y: number;
  r: number;
}

const LINE = /^[^<>]*?(\d+) ([-+*/]) (\d+) = <<(\d+)([-+*/])(\d+)=(\d+)>>(\d+) [^<>\d]*\.$/;
// Factors written as words in questions ("keeps half of her apples").
const FRACTION_WORDS: Record<string, number> = { half: 2, third: 3, quarter: 4, fifth: 5 };

/** The rationale's steps, each checked to be well formed and correctly evaluated. */
function steps(p: Problem): Step[] {
  expect(p.rationale?.endsWith("\n")).toBe(true);
  return p.rationale!.slice(0, -1).split("\n").map((line) => {
    const m = LINE.exec(line);
    if (!m) throw new Error(`${p.id}: rationale line ${JSON.stringify(line)} is not one annotated step`);
    const [x, op, y, x2, op2, y2, r, r2] = [Number(m[1]), m[2], Number(m[3]), Number(m[4]), m[5], Number(m[6]), Number(m[7]), Number(m[8])];
    expect([x2, op2, y2, r2]).toEqual([x, op, y, r]);
    const exact = op === "+" ? x + y : op === "-" ? x - y : op === "*" ? x * y : x / y;
    expect(r).toBe(exact);
    return { x, op, y, r };
  });
}

/** The numbers a question states, digits or fraction words. */
function questionNumbers(q: string): number[] {
  const digits = [...q.matchAll(/\d+/g)].map((m) => Number(m[0]));
  const words = [...q.matchAll(/\b(half|third|quarter|fifth)\b/g)].map((m) => FRACTION_WORDS[m[1]]);
  return [...digits, ...words];
}

/** Checks one problem end to end; returns its steps. */
function checkProblem(p: Problem, o: ArithOptions): Step[] {
  const s = steps(p);
  expect(s.length).toBeGreaterThanOrEqual(o.minSteps);
  expect(s.length).toBeLessThanOrEqual(o.maxSteps);
  // A chain: each step starts from the previous result, the last one is the answer.
  for (let i = 1; i < s.length; i++) expect(s[i].x).toBe(s[i - 1].r);
  expect(String(s[s.length - 1].r)).toBe(p.answer);
  // The chain starts from the question's first sentence: "X has N items." or "X has A boxes with B items in each."
  const first = /^\S+ has (\d+) [^.]*?(?:with (\d+) [^.]* in each)?\./.exec(p.question);
  expect(first).not.toBeNull();
  const containers = first![2] !== undefined;
  if (containers) {
    expect([s[0].x, s[0].op, s[0].y]).toEqual([Number(first![1]), "*", Number(first![2])]);
    expect(s[0].x).toBeLessThanOrEqual(o.maxFactor);
    expect(s[0].y).toBeLessThanOrEqual(o.maxOperand);
  } else {
    expect(s[0].x).toBeGreaterThanOrEqual(2);
    expect(s[0].x).toBeLessThanOrEqual(o.maxOperand);
  }
  // Every operand comes from the question, and every amount stays in [1, maxValue].
  const stated = questionNumbers(p.question);
  s.forEach((step, i) => {
    expect(stated).toContain(step.y);
    expect(o.ops).toContain(step.op as ArithOptions["ops"][number]);
    expect(step.r).toBeGreaterThanOrEqual(1);
    expect(step.r).toBeLessThanOrEqual(o.maxValue);
    if (i > 0 || !containers) expect(step.y).toBeLessThanOrEqual(step.op === "+" || step.op === "-" ? o.maxOperand : o.maxFactor);
  });
  expect(p.question.endsWith("?")).toBe(true);
  return s;
}

test("the same seed gives the same problems and another seed different ones", () => {
  const draw = (seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: 50 }, () => generateArithProblem(rng, ARITH_DEFAULTS));
  };
  expect(draw(7)).toEqual(draw(7));
  expect(draw(7)).not.toEqual(draw(8));
  expect(arithProblems("val")).toEqual(arithProblems("val"));
});

test("splits have their fixed sizes, unique ids and pairwise disjoint questions; every answer re-derives", () => {
  const splits = { test: arithProblems("test"), val: arithProblems("val"), train: arithProblems("train") };
  const seen = new Set<string>();
  for (const [split, problems] of Object.entries(splits)) {
    expect(problems.length).toBe(ARITH_SPLIT_SIZES[split as keyof typeof splits]);
    problems.forEach((p, i) => {
      expect(p.id).toBe(`arith/${split}/${i}`);
      expect(seen.has(p.question)).toBe(false);
      seen.add(p.question);
      checkProblem(p, ARITH_DEFAULTS);
    });
  }
  // The default mixture covers every step count and operation.
  const all = Object.values(splits).flat().map((p) => steps(p));
  expect(new Set(all.map((s) => s.length))).toEqual(new Set([1, 2, 3]));
  expect(new Set(all.flat().map((s) => s.op))).toEqual(new Set(["+", "-", "*", "/"]));
});

test("splits are consecutive runs of one seeded, deduplicated stream: test, then val, then train", () => {
  const rng = new Rng(ARITH_SEED);
  const stream: string[] = [];
  while (stream.length < ARITH_SPLIT_SIZES.test + ARITH_SPLIT_SIZES.val + 10) {
    const p = generateArithProblem(rng, ARITH_DEFAULTS);
    if (p && !stream.includes(p.question)) stream.push(p.question);
  }
  const questions = (split: "test" | "val" | "train") => arithProblems(split).map((p) => p.question);
  const valStart = ARITH_SPLIT_SIZES.test;
  const trainStart = valStart + ARITH_SPLIT_SIZES.val;
  expect(questions("test")).toEqual(stream.slice(0, valStart));
  expect(questions("val")).toEqual(stream.slice(valStart, trainStart));
  expect(questions("train").slice(0, 10)).toEqual(stream.slice(trainStart));
});

test("steps, ops, operand and value bound every problem", () => {
  for (const spec of ["steps=1", "steps=4", "steps=2-3,ops=+-", "ops=*/,factor=3", "operand=5,value=30"]) {
    const o = arithOptions(spec);
    for (const p of arithProblems("val", o)) checkProblem(p, o);
  }
  expect(new Set(arithProblems("val", arithOptions("steps=4")).map((p) => steps(p).length))).toEqual(new Set([4]));
});

test("distractors add numbers the rationale does not use; distractors=0 adds none", () => {
  const unused = (p: Problem) => {
    const used = steps(p).flatMap((s) => [s.x, s.y]);
    return questionNumbers(p.question).filter((n) => !used.includes(n)).length;
  };
  const none = arithProblems("val", arithOptions("distractors=0"));
  expect(none.every((p) => unused(p) === 0)).toBe(true);
  const some = arithProblems("val", arithOptions("distractors=2"));
  expect(some.filter((p) => unused(p) > 0).length).toBeGreaterThan(some.length / 2);
});

test("registered datasets: arith and arith:SPEC, prompted like GSM8K", () => {
  const ds = loadDataset("arith", "val");
  expect(ds).toMatchObject({ name: "arith", split: "val", answerKind: "number" });
  expect(ds.examples.length).toBe(ARITH_SPLIT_SIZES.val);
  const p = arithProblems("val")[0];
  expect(ds.examples[0]).toMatchObject({
    id: "arith/val/0",
    response: `The answer is ${p.answer}.`,
    groundtruth: p.answer,
    query: { messages: [{ role: "user", content: `${p.question} Let's think step by step.` }] },
  });
  const two = loadDataset("arith:steps=2", "test");
  expect(two.examples[0].id).toBe("arith:steps=2/test/0");
  expect(arithProblems("test", arithOptions("steps=2"), "arith:steps=2").every((q) => steps(q).length === 2)).toBe(true);
  const easy = loadDataset("arith:steps=1,ops=+-,distractors=0", "val");
  expect(easy.examples[0].id).toBe("arith:steps=1,ops=+-,distractors=0/val/0");
  expect(easy.examples.map((e) => e.groundtruth)).toEqual(arithProblems("val", arithOptions("steps=1,ops=+-,distractors=0")).map((q) => q.answer));
  expect(() => loadDataset("arith:steps=x", "val")).toThrow('arith spec "steps=x": steps=x must be steps=N or steps=MIN-MAX');
});

test("bad options and specs are rejected, naming the field and value", () => {
  expect(() => arithOptions("steps=0")).toThrow(/minSteps must be an integer ≥ 1, got 0/);
  expect(() => arithOptions("steps=3-2")).toThrow(/maxSteps must be an integer ≥ 3, got 2/);
  expect(() => arithOptions("ops=+x")).toThrow(/ops must be a non-empty list of distinct operations from \+ - \* \/, got \["\+","x"\]/);
  expect(() => arithOptions("depth=3")).toThrow(/depth=3 must be key=value with key one of steps, operand/);
  expect(() => arithOptions("operand=ten")).toThrow(/operand=ten must be operand=N/);
  expect(() => arithProblems("val", { ...ARITH_DEFAULTS, maxOperand: 2, maxValue: 2, ops: ["+"] })).toThrow(/only 0 distinct problems/);
});

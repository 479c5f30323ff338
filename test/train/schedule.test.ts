// Learning-rate schedules against transformers' formulas, evaluated by hand.
import { expect, test } from "bun:test";
import { learningRateAt, lrMultiplier } from "../../src/train/schedule.ts";

test("linear: warmup from 0, then linear decay to 0 at the last step", () => {
  // warmup 2, total 10: s/2 for s < 2, then (10 − s) / 8.
  const expected: [number, number][] = [[0, 0], [1, 0.5], [2, 1], [3, 7 / 8], [6, 0.5], [9, 1 / 8], [10, 0], [12, 0]];
  for (const [step, value] of expected) expect(lrMultiplier("linear", step, 2, 10)).toBeCloseTo(value, 15);
});

test("linear with no warmup starts at the full rate; warmup as long as training decays to 0 at once", () => {
  expect(lrMultiplier("linear", 0, 0, 4)).toBe(1);
  expect(lrMultiplier("linear", 3, 0, 4)).toBe(0.25);
  expect(lrMultiplier("linear", 2, 4, 4)).toBe(0.5);
  expect(lrMultiplier("linear", 4, 4, 4)).toBe(0);
});

test("cosine, constant_with_warmup and constant", () => {
  expect(lrMultiplier("cosine", 1, 0, 4)).toBeCloseTo(0.5 + Math.SQRT2 / 4, 15); // ½(1 + cos(π/4))
  expect(lrMultiplier("cosine", 2, 0, 4)).toBeCloseTo(0.5, 15);
  expect(lrMultiplier("cosine", 4, 0, 4)).toBeCloseTo(0, 15);
  expect(lrMultiplier("cosine", 3, 2, 6)).toBeCloseTo(0.5 + Math.SQRT2 / 4, 15); // warmup 2, ¼ of the decay
  expect(lrMultiplier("constant_with_warmup", 1, 4, 10)).toBe(0.25);
  expect(lrMultiplier("constant_with_warmup", 7, 4, 10)).toBe(1);
  expect(lrMultiplier("constant", 0, 4, 10)).toBe(1);
});

test("update u runs at λ(u − 1), as the original steps the scheduler after each update", () => {
  const schedule = { learningRate: 4e-7, lrSchedulerType: "linear" as const, warmupSteps: 0, totalSteps: 4 };
  for (const [u, lr] of [[1, 4e-7], [2, 3e-7], [3, 2e-7], [4, 1e-7]]) expect(learningRateAt(schedule, u)).toBeCloseTo(lr, 20);
  const warm = { ...schedule, warmupSteps: 2 };
  expect(learningRateAt(warm, 1)).toBe(0);
  expect(learningRateAt(warm, 2)).toBeCloseTo(2e-7, 20);
  expect(learningRateAt(warm, 3)).toBeCloseTo(4e-7, 20);
});

import { expect, test } from "bun:test";
import { repeatedPrompts } from "../../src/generate/repeated-prompts.ts";

test("repeatedPrompts finds runs of K identical rows and keeps one row of each, else K = 1", () => {
  const of = (r: number[][]) => {
    const { prompts, P, K } = repeatedPrompts(Int32Array.from(r.flat()), r.length, r[0].length);
    return { prompts: Array.from(prompts), P, K };
  };
  expect(of([[1, 2], [1, 2], [3, 4], [3, 4]])).toEqual({ prompts: [1, 2, 3, 4], P: 2, K: 2 });
  expect(of([[5], [5], [5]])).toEqual({ prompts: [5], P: 1, K: 3 });
  expect(of([[1, 2], [1, 2], [1, 2], [3, 4]]).K).toBe(1); // 4 rows are no runs of 3
  expect(of([[1], [1], [2], [3]]).K).toBe(1); // the second run differs
  expect(of([[1, 2], [2, 1]])).toEqual({ prompts: [1, 2, 2, 1], P: 2, K: 1 });
  expect(of([[7]])).toEqual({ prompts: [7], P: 1, K: 1 });
  expect(() => repeatedPrompts(Int32Array.from([1, 2, 3]), 2, 2)).toThrow("3 ids for 2 rows × 2");
});

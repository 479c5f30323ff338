import { expect, test } from "bun:test";
import { rowStopped } from "../../src/generate/stopping.ts";

test("a row stops at a stop token or at a stop sequence that no open earlier sequence can precede", () => {
  const stopped = (row: number[], seqs: number[][], ids: number[] = []) => rowStopped(row, row.length, ids, seqs);
  expect(stopped([1, 5, 6, 7], [[6, 7]])).toBe(true);
  expect(stopped([1, 5, 6], [[6, 7]])).toBe(false); // sequence not complete yet
  expect(stopped([1, 5, 6, 7], [[5, 6, 9], [6, 7]])).toBe(true); // the earlier sequence already failed
  expect(stopped([1, 5, 6, 7], [[5, 6, 7, 8], [6, 7]])).toBe(false); // [5 6 7 8] may still start at 1
  expect(stopped([1, 5, 6, 7, 9], [[5, 6, 7, 8], [6, 7]])).toBe(true);
  expect(stopped([1, 5, 6, 7, 8], [[5, 6, 7, 8], [6, 7]])).toBe(true);
  expect(stopped([1, 3, 4], [[3, 4, 5]], [4])).toBe(true); // a stop token ends the row whatever is open
  expect(stopped([1, 3, 4], [], [2])).toBe(false);
  expect(stopped([], [[1]], [1])).toBe(false);
  expect(rowStopped([1, 6, 7, 9], 2, [], [[6, 7]])).toBe(false); // only the first `steps` tokens count
});

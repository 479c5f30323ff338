// The index arithmetic of one rollout batch on a hand-worked example (CPU only): sampled responses
// → rationales cut at stops (rollout.ts `cutRationales`) → x ⊕ z ⊕ y with pads moved left and the
// all-pad columns dropped (sequences.ts) → which positions' log-probs make log π(z|x) and
// log π(y|x⊕z), which carry the loss weights and the rollout temperature; micro-batches.
import { describe, expect, test } from "bun:test";
import { cutRationales } from "../../src/latro/rollout.ts";
import { assembleSequences, rowLengths, selectRows, sequenceLogprobs, tokenLossWeights, tokenTemperatures } from "../../src/latro/sequences.ts";

const P = 0; // pad
const EOS = 2;
const stops = { stopTokenIds: [EOS, P], stopSeqs: [[30, 31]], pad: P };

// Four rows, qLen 4, response_length 5, answers of 2–3 tokens (raw width 4 + 5 + 3 = 12).
const queries = Int32Array.from([
  P, P, 5, 6, //   row 0: two left pads
  7, 8, 9, 10, //  row 1: no pad
  P, P, P, 11, //  row 2: three left pads
  P, 3, 4, 5, //   row 3: one left pad
]);
const responses = Int32Array.from([
  12, 13, EOS, 14, P, // row 0: stop token at 2 → z = [12, 13]
  EOS, 15, 16, 17, 18, // row 1: stop token at position 0 → z empty
  19, 30, 31, 20, 21, //  row 2: stop sequence [30, 31] (two tokens) at 1 → z = [19]
  22, 23, 24, 25, 26, //  row 3: no stop → z is the whole response
]);
const answers = [[40, EOS], [41, 42, EOS], [43, EOS], [44, EOS]].map((a) => Int32Array.from(a));

// By hand: real lengths 2+2+2 = 6, 4+0+3 = 7, 1+1+2 = 4, 3+5+2 = 10 → the batch is 10 wide.
const WANT_TOKENS = [
  [P, P, P, P, 5, 6, 12, 13, 40, EOS],
  [P, P, P, 7, 8, 9, 10, 41, 42, EOS],
  [P, P, P, P, P, P, 11, 19, 43, EOS],
  [3, 4, 5, 22, 23, 24, 25, 26, 44, EOS],
];
// z = tokens [zStart, yStart), y = tokens [yStart, 10); token t is scored by the log-prob at t − 1.
const Z_RANGE = [[6, 8], [7, 7], [7, 8], [3, 8]];

const rowsOf = (a: ArrayLike<number>, len: number) => Array.from({ length: a.length / len }, (_, i) => Array.from(a).slice(i * len, (i + 1) * len));

function assembled() {
  const cut = cutRationales(responses, 4, 5, stops);
  return { cut, batch: assembleSequences(queries, 4, cut.tokens, 5, cut.rationaleLen, answers, P) };
}

describe("cutRationales", () => {
  test("stop token, stop at position 0, a two-token stop sequence, no stop", () => {
    const { cut } = assembled();
    expect(Array.from(cut.rationaleLen)).toEqual([2, 0, 1, 5]);
    expect(Array.from(cut.stopped)).toEqual([1, 1, 1, 0]);
    expect(rowsOf(cut.tokens, 5)).toEqual([
      [12, 13, P, P, P],
      [P, P, P, P, P],
      [19, P, P, P, P],
      [22, 23, 24, 25, 26],
    ]);
  });
});

describe("assembleSequences", () => {
  test("left pads first, then x, z, y; the all-pad columns are dropped", () => {
    const { batch } = assembled();
    expect(batch.len).toBe(10);
    expect(rowsOf(batch.tokens, 10)).toEqual(WANT_TOKENS);
    expect(Array.from(batch.answerLen)).toEqual([2, 3, 2, 2]);
    expect(Array.from(batch.rationaleLen)).toEqual([2, 0, 1, 5]);
    expect(Array.from(rowLengths(batch))).toEqual([6, 7, 4, 10]);
  });

  test("a query with no real token is refused, naming the row", () => {
    const empty = Int32Array.from([P, P]);
    expect(() => assembleSequences(empty, 2, Int32Array.from([9]), 1, Int32Array.from([1]), [Int32Array.from([EOS])], P)).toThrow(
      "assembleSequences: query 0 ends with pad 0",
    );
  });
});

describe("sequenceLogprobs", () => {
  test("z sums log-probs [zStart − 1, yStart − 1), y sums [yStart − 1, len − 1)", () => {
    const { batch } = assembled();
    // logprob at (row i, position p) = −(100·i + p), so each sum names its positions.
    const lp = Float32Array.from({ length: 40 }, (_, k) => -(100 * Math.floor(k / 10) + (k % 10)));
    const { rationale, answer } = sequenceLogprobs(batch, lp);
    expect(Array.from(rationale)).toEqual([-(5 + 6), 0, -206, -(302 + 303 + 304 + 305 + 306)]);
    expect(Array.from(answer)).toEqual([-(7 + 8), -(106 + 107 + 108), -(207 + 208), -(307 + 308)]);
  });
});

describe("tokenLossWeights and tokenTemperatures", () => {
  test("weights and the rollout temperature sit on the positions that score z; y and the rest get 0 / 1", () => {
    const { batch } = assembled();
    const w = rowsOf(tokenLossWeights(batch, [1, 2, 3, 4], [10, 20, 30, 40]), 10);
    const tau = rowsOf(tokenTemperatures(batch, 0.5), 10);
    expect(w).toEqual([
      [0, 0, 0, 0, 0, 1, 1, 10, 10, 0],
      [0, 0, 0, 0, 0, 0, 20, 20, 20, 0],
      [0, 0, 0, 0, 0, 0, 3, 30, 30, 0],
      [0, 0, 4, 4, 4, 4, 4, 40, 40, 0],
    ]);
    Z_RANGE.forEach(([zs, ys], i) =>
      expect(tau[i]).toEqual(Array.from({ length: 10 }, (_, p) => (p >= zs - 1 && p < ys - 1 ? 0.5 : 1))),
    );
    expect(tau[1].every((t) => t === 1)).toBe(true); // an empty rationale scores nothing at 0.5
  });
});

describe("selectRows", () => {
  test("a micro-batch is as long as its longest row, its ranges unchanged", () => {
    const { batch } = assembled();
    const sub = selectRows(batch, [2, 0]);
    expect(sub.len).toBe(6);
    expect(rowsOf(sub.tokens, 6)).toEqual([WANT_TOKENS[2].slice(4), WANT_TOKENS[0].slice(4)]);
    expect(Array.from(sub.rationaleLen)).toEqual([1, 2]);
    expect(Array.from(sub.answerLen)).toEqual([2, 2]);
    // Same sums as in the full batch: position p of the full batch is p − 4 here.
    const lp = Float32Array.from({ length: 12 }, (_, k) => -(100 * [2, 0][Math.floor(k / 6)] + (k % 6) + 4));
    const { rationale, answer } = sequenceLogprobs(sub, lp);
    expect(Array.from(rationale)).toEqual([-206, -(5 + 6)]);
    expect(Array.from(answer)).toEqual([-(207 + 208), -(7 + 8)]);
    expect(selectRows(batch, [3, 1]).len).toBe(10);
  });
});

import { describe, expect, test } from "bun:test";
import { Rng, shuffleInPlace, shuffled } from "../../src/data/rng.ts";

describe("Rng", () => {
  test("matches an independent xoshiro128** + splitmix32 reference for seed 0", () => {
    // Values computed by a separate Python implementation; pins every seeded split and shuffle.
    const r = new Rng(0);
    expect([r.nextUint32(), r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual([
      1789933344, 44971166, 2521387044, 3848737593,
    ]);
  });

  test("the same seed gives the same stream, different seeds different ones", () => {
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 8 }, () => r.next());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(draw(-1)).toEqual(draw(2 ** 32 - 1)); // seeds are taken modulo 2^32
  });

  test("next() lies in [0, 1) and int(n) in [0, n), roughly uniformly", () => {
    const r = new Rng(123);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      counts[r.int(10)]++;
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(new Rng(1).int(1)).toBe(0);
  });

  test("rejects bad seeds and ranges, naming the value", () => {
    expect(() => new Rng(1.5)).toThrow("seed must be a safe integer, got 1.5");
    expect(() => new Rng(Number.NaN)).toThrow("got NaN");
    expect(() => new Rng(1).int(0)).toThrow("n must be an integer in [1, 2^32], got 0");
    expect(() => new Rng(1).int(2.5)).toThrow("got 2.5");
  });
});

describe("shuffled", () => {
  const items = Array.from({ length: 50 }, (_, i) => i);

  test("returns a seeded permutation and leaves the input alone", () => {
    const a = shuffled(items, 3);
    expect(a).toEqual(shuffled(items, 3));
    expect(a).not.toEqual(items);
    expect(a).not.toEqual(shuffled(items, 4));
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(items[0]).toBe(0);
  });

  test("handles empty and single-item inputs", () => {
    expect(shuffled([], 1)).toEqual([]);
    expect(shuffled(["x"], 1)).toEqual(["x"]);
  });
});

describe("Rng.stream", () => {
  const draw = (r: Rng) => Array.from({ length: 6 }, () => r.nextUint32());

  test("is fixed by (seed, purpose, index) and differs when any of them does", () => {
    expect(draw(Rng.stream(1, "rollout", 3))).toEqual(draw(Rng.stream(1, "rollout", 3)));
    const others = [Rng.stream(2, "rollout", 3), Rng.stream(1, "rollouts", 3), Rng.stream(1, "rollout", 4), new Rng(1)];
    for (const o of others) expect(draw(o)).not.toEqual(draw(Rng.stream(1, "rollout", 3)));
  });

  test("streams that seed arithmetic would merge stay apart", () => {
    // seed·1_000_003 + step collides for (seed 0, step 1_000_003) and (seed 1, step 0).
    expect(draw(Rng.stream(0, "step", 1_000_003))).not.toEqual(draw(Rng.stream(1, "step", 0)));
  });

  test("rejects a bad index, naming it", () => {
    expect(() => Rng.stream(1, "x", -1)).toThrow("index must be a non-negative integer, got -1");
  });
});

describe("shuffleInPlace", () => {
  test("with a count, the first count entries are a sample drawn as the partial Fisher–Yates draws it", () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const rng = new Rng(5);
    const expected = items.slice();
    const check = new Rng(5);
    for (let i = 0; i < 4; i++) {
      const j = i + check.int(10 - i);
      [expected[i], expected[j]] = [expected[j], expected[i]];
    }
    expect(shuffleInPlace(items, rng, 4)).toEqual(expected);
  });
});

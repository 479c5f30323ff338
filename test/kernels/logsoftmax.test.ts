import { afterEach, beforeAll, expect, test } from "bun:test";
import { acquire, setBindingLimit } from "../../src/gpu/buffer.ts";
import { logSoftmaxGather, logSoftmaxGatherBackward } from "../../src/kernels/logsoftmax.ts";
import { fromGpu, randn, randu, relError, rng, setupGpu, toGpu, toGpuI32 } from "../helpers.ts";
import { logSoftmaxGatherBackwardRef, logSoftmaxGatherRef } from "../reference/logsoftmax.ts";

beforeAll(setupGpu);
afterEach(() => setBindingLimit(undefined));

function inputs(N: number, V: number, seed: number, scale: number, ignore = true) {
  const r = rng(seed);
  const logits = randn(N * V, seed, scale);
  // Every third row (from the second) is ignored, with −1 or HF's −100.
  const targets = Array.from({ length: N }, (_, n) => (ignore && n % 3 === 1 ? (n % 2 ? -1 : -100) : Math.floor(r() * V)));
  const dlogprob = randn(N, seed + 1);
  return { logits, targets, dlogprob };
}

/** Per-row temperatures: all `tau`, or ("mixed") each row drawn from [0.3, 2) with every other row at 1. */
function temperatures(N: number, tau: number | "mixed", seed: number): Float64Array {
  if (tau !== "mixed") return new Float64Array(N).fill(tau);
  const t = randu(N, seed, 0.3, 2);
  return t.map((x, n) => (n % 2 ? 1 : x));
}

// [N, V, τ, logit scale]: tiny, odd, Qwen and Llama-3 vocab rows, temperatures (one per row when mixed).
const CASES: [number, number, number | "mixed", number][] = [
  [1, 1, 1, 1],
  [4, 7, 1, 1],
  [5, 1000, 0.7, 3],
  [9, 1001, "mixed", 3],
  [3, 151936, 1, 2],
  [2, 128256, 1.3, 2],
  [3, 50257, "mixed", 2],
];

for (const [N, V, tau, scale] of CASES) {
  test(`logSoftmaxGather fwd+bwd [${N}, ${V}] τ=${tau} matches f64 (logprob, lse rel ≤ 1e-6; dlogits rel ≤ 2e-6)`, async () => {
    const { logits, targets, dlogprob } = inputs(N, V, N * 31 + V, scale);
    const taus = temperatures(N, tau, N + V);
    const lg = toGpu(logits), tg = toGpuI32(targets), dg = toGpu(dlogprob), temperature = toGpu(taus);
    const [lp, lse, dl] = [acquire(N * 4), acquire(N * 4), acquire(N * V * 4)];
    const shape = { N, V };
    logSoftmaxGather({ logits: lg, targets: tg, temperature, logprob: lp, lse }, shape);
    logSoftmaxGatherBackward({ logits: lg, targets: tg, temperature, lse, dlogprob: dg, dlogits: dl }, shape);
    const ref = logSoftmaxGatherRef(logits, targets, N, V, taus);
    expect(relError(await fromGpu(lse), ref.lse)).toBeLessThan(1e-6);
    const gotLp = await fromGpu(lp);
    expect(relError(gotLp, ref.logprob)).toBeLessThan(1e-6);
    targets.forEach((t, n) => t < 0 && expect(gotLp[n]).toBe(0));
    const dRef = logSoftmaxGatherBackwardRef(logits, targets, dlogprob, N, V, taus);
    const got = await fromGpu(dl);
    expect(relError(got, dRef)).toBeLessThan(2e-6);
    // Ignored rows get exactly zero gradient.
    targets.forEach((t, n) => t < 0 && expect(got.subarray(n * V, (n + 1) * V).every((g) => g === 0)).toBe(true));
  });
}

test("logSoftmaxGather windows over rows (small binding limit), in place and not, per-row τ", async () => {
  const N = 37, V = 192; // 768-byte rows; 5-row windows start 256-byte aligned
  const { logits, targets, dlogprob } = inputs(N, V, 5, 3);
  const taus = temperatures(N, "mixed", 6);
  const shape = { N, V };
  setBindingLimit(5 * V * 4);
  const lg = toGpu(logits), tg = toGpuI32(targets), dg = toGpu(dlogprob), temperature = toGpu(taus);
  const [lp, lse, dl] = [acquire(N * 4), acquire(N * 4), acquire(N * V * 4)];
  logSoftmaxGather({ logits: lg, targets: tg, temperature, logprob: lp, lse }, shape);
  logSoftmaxGatherBackward({ logits: lg, targets: tg, temperature, lse, dlogprob: dg, dlogits: dl }, shape);
  logSoftmaxGatherBackward({ logits: lg, targets: tg, temperature, lse, dlogprob: dg, dlogits: lg }, shape); // in place
  const ref = logSoftmaxGatherRef(logits, targets, N, V, taus);
  expect(relError(await fromGpu(lp), ref.logprob)).toBeLessThan(1e-6);
  const dRef = logSoftmaxGatherBackwardRef(logits, targets, dlogprob, N, V, taus);
  const out = await fromGpu(dl);
  expect(relError(out, dRef)).toBeLessThan(2e-6);
  expect(Array.from(await fromGpu(lg))).toEqual(Array.from(out)); // in place == out of place, bit for bit
});

test("logSoftmaxGather backward reference matches finite differences of the f64 forward", () => {
  const N = 3, V = 5, tau = [0.8, 1, 1.7], h = 1e-6;
  const { logits, targets, dlogprob } = inputs(N, V, 9, 1, false);
  const x = Array.from(logits);
  const loss = (xs: number[]) => logSoftmaxGatherRef(xs, targets, N, V, tau).logprob.reduce((a, lp, n) => a + lp * dlogprob[n], 0);
  const d = logSoftmaxGatherBackwardRef(x, targets, dlogprob, N, V, tau);
  for (let i = 0; i < N * V; i++) {
    const xp = x.slice(), xm = x.slice();
    xp[i] += h;
    xm[i] -= h;
    expect(Math.abs((loss(xp) - loss(xm)) / (2 * h) - d[i])).toBeLessThan(1e-8);
  }
});

test("logSoftmaxGather: a target ≥ V gives NaN; bad shapes and aliasing throw", async () => {
  const lg = toGpu([0, 1, 2, 3]), tg = toGpuI32([4]), temperature = toGpu([1]), lp = acquire(4), lse = acquire(4);
  logSoftmaxGather({ logits: lg, targets: tg, temperature, logprob: lp, lse }, { N: 1, V: 4 });
  expect((await fromGpu(lp))[0]).toBeNaN();
  expect(() => logSoftmaxGather({ logits: lg, targets: tg, temperature, logprob: lp, lse }, { N: 2, V: 4 })).toThrow("logSoftmaxGather: logits has 16 bytes, expected at least 32 (8 elements)");
  expect(() =>
    logSoftmaxGatherBackward({ logits: lg, targets: tg, temperature, lse, dlogprob: lp, dlogits: lse }, { N: 1, V: 1 }),
  ).toThrow("logSoftmaxGatherBackward: dlogits must not be the same buffer as lse");
  expect(() =>
    logSoftmaxGatherBackward({ logits: lg, targets: tg, temperature, lse, dlogprob: lp, dlogits: temperature }, { N: 1, V: 1 }),
  ).toThrow("logSoftmaxGatherBackward: dlogits must not be the same buffer as temperature");
});

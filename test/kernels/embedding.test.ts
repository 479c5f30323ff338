import { afterEach, beforeAll, expect, test } from "bun:test";
import { acquire, setBindingLimit } from "../../src/gpu/buffer.ts";
import { recorderCounters, upload } from "../../src/gpu/recorder.ts";
import { embeddingBackward, embeddingForward } from "../../src/kernels/embedding.ts";
import { fromGpu, randn, relError, rng, setupGpu, toGpu, toGpuI32 } from "../helpers.ts";
import { numGrad } from "../reference/elementwise.ts";
import * as ref from "../reference/embedding.ts";
import { roundBf16 } from "../reference/matmul.ts";

beforeAll(setupGpu);
afterEach(() => setBindingLimit(undefined));

/** N ids in [0, distinct) (many repeats), with a few out-of-range ids (−1, V) mixed in. */
function ids(N: number, distinct: number, V: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: N }, (_, n) => (n % 11 === 5 ? -1 : n % 13 === 7 ? V : Math.floor(r() * distinct)));
}

/**
 * The backward's exact result: dW0 + (0 + dout[n1] + dout[n2] + …) over the tokens of each id in
 * increasing n, each addition rounded to f32 — the kernel's summation order, bit for bit.
 */
function backwardInTokenOrder(id: number[], dout: ArrayLike<number>, dW0: ArrayLike<number>, V: number, C: number): Float32Array {
  const out = Float32Array.from(dW0);
  for (let v = 0; v < V; v++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      id.forEach((u, n) => {
        if (u === v) s = Math.fround(s + dout[n * C + c]);
      });
      out[v * C + c] = Math.fround(out[v * C + c] + s);
    }
  }
  return out;
}

const SHAPES: [number, number][] = [];
for (const N of [1, 3, 17]) for (const C of [1, 7, 65, 896]) SHAPES.push([N, C]);
SHAPES.push([600, 7]); // several rank tiles, the last one partial; runs of up to ~40 tokens

test("forward gathers rows exactly (out-of-range ids give zero rows)", async () => {
  const V = 50;
  for (const [N, C] of SHAPES) {
    const W = randn(V * C, C);
    const id = ids(N, V, V, N + C);
    const out = toGpu(new Float32Array(N * C).fill(NaN));
    embeddingForward(out, toGpuI32(id), toGpu(W), { N, V, C });
    expect(await fromGpu(out, N * C)).toEqual(Float32Array.from(ref.embeddingForward(id, W, V, C)));
  }
});

test("backward with repeated ids: float64 within 1e-6, and exactly the token-order f32 sums", async () => {
  const V = 40;
  for (const [N, C] of SHAPES) {
    const id = ids(N, 15, V, N * C);
    const dout = randn(N * C, N + C);
    const want = ref.embeddingBackward(id, dout, V, C);
    const dW = toGpu(new Float32Array(V * C).fill(NaN)); // overwritten, untouched rows zeroed
    const [gid, gdout] = [toGpuI32(id), toGpu(dout)];
    embeddingBackward(dW, gdout, gid, { N, V, C });
    const got = await fromGpu(dW, V * C);
    expect(relError(got, want)).toBeLessThan(1e-6);
    expect(got).toEqual(backwardInTokenOrder(id, dout, new Float32Array(V * C), V, C));
    const dW0 = randn(V * C, 3);
    const acc = toGpu(dW0);
    embeddingBackward(acc, gdout, gid, { N, V, C }, { accumulate: true });
    expect(await fromGpu(acc, V * C)).toEqual(backwardInTokenOrder(id, dout, dW0, V, C));
  }
});

test("the float64 backward matches finite differences", () => {
  const [V, C] = [4, 3];
  const id = [1, 3, 1, -1, 1, 4];
  const W = randn(V * C, 1);
  const dout = randn(id.length * C, 2);
  const fd = numGrad((w) => ref.embeddingForward(id, w, V, C), W, dout);
  expect(relError(ref.embeddingBackward(id, dout, V, C), fd)).toBeLessThan(1e-8);
});

test("a table beyond one storage binding is processed window by window", async () => {
  const [N, V, C] = [60, 300, 7]; // out [N, C] must still fit one binding
  setBindingLimit(64 * C * 4); // 64 rows of W per binding: 5 windows
  const W = randn(V * C, 1);
  const id = ids(N, V, V, 2);
  id[0] = V - 1;
  id[1] = 0;
  id[2] = 64; // first row of the second window
  const out = acquire(N * C * 4);
  const before = recorderCounters().dispatches;
  embeddingForward(out, toGpuI32(id), toGpu(W), { N, V, C });
  expect(recorderCounters().dispatches - before).toBe(5);
  expect(await fromGpu(out, N * C)).toEqual(Float32Array.from(ref.embeddingForward(id, W, V, C)));
  const dout = randn(N * C, 3);
  const dW = acquire(V * C * 4);
  embeddingBackward(dW, toGpu(dout), toGpuI32(id), { N, V, C });
  expect(await fromGpu(dW, V * C)).toEqual(backwardInTokenOrder(id, dout, new Float32Array(V * C), V, C));
});

test("a bf16 table (packed pairs, odd C) is gathered exactly, also window by window", async () => {
  const [N, V, C] = [37, 300, 7];
  const W = roundBf16(randn(V * C, 4));
  const bits = new Uint16Array(V * C + ((V * C) % 2));
  W.forEach((x, i) => (bits[i] = new Uint32Array(Float32Array.of(x).buffer)[0] >>> 16));
  const Wg = acquire(V * C * 2);
  upload(Wg, bits);
  const id = ids(N, V, V, 5);
  id[0] = V - 1;
  id[1] = 128; // first row of a window below
  for (const limit of [undefined, 128 * C * 2]) {
    setBindingLimit(limit);
    const out = toGpu(new Float32Array(N * C).fill(NaN));
    embeddingForward(out, toGpuI32(id), Wg, { N, V, C }, "bf16");
    expect(await fromGpu(out, N * C)).toEqual(Float32Array.from(ref.embeddingForward(id, W, V, C)));
  }
});

test("backward is bit-identical from run to run", async () => {
  const [N, V, C] = [500, 30, 65];
  const [gid, gdout] = [toGpuI32(ids(N, 30, V, 4)), toGpu(randn(N * C, 5))];
  const runs = [];
  for (let r = 0; r < 2; r++) {
    const dW = acquire(V * C * 4);
    embeddingBackward(dW, gdout, gid, { N, V, C });
    runs.push(await fromGpu(dW, V * C));
  }
  expect(runs[1]).toEqual(runs[0]);
});

test("arguments are validated", () => {
  const b = acquire(64);
  expect(() => embeddingForward(b, acquire(8), b, { N: 2, V: 4, C: 4 })).toThrow("embeddingForward: out must not be the same buffer as W");
  expect(() => embeddingForward(acquire(32), acquire(8), acquire(60), { N: 2, V: 4, C: 4 })).toThrow("embeddingForward: W has 60 bytes, expected at least 64");
  expect(() => embeddingBackward(acquire(64), acquire(32), acquire(4), { N: 2, V: 4, C: 4 })).toThrow("embeddingBackward: ids has 4 bytes, expected at least 8");
});

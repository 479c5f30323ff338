import { expect, test } from "bun:test";
import { tokenLogprobs } from "../../src/autograd/ops/classifier.ts";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { backward } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { randn, randu, relError, rng, setupGpu } from "../helpers.ts";
import { roundBf16 } from "../reference/matmul.ts";

/** float64 reference: log softmax(h·Wᵀ/τ_n)[target] per row, and its gradients for loss Σ g·logprob. */
function reference(h: Float64Array, w: Float64Array, t: number[], g: Float64Array, tau: ArrayLike<number>, N: number, V: number, C: number) {
  const lp = new Float64Array(N);
  const dh = new Float64Array(N * C);
  const dw = new Float64Array(V * C);
  for (let n = 0; n < N; n++) {
    if (t[n] < 0) continue;
    const logits = Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let c = 0; c < C; c++) s += h[n * C + c] * w[v * C + c];
      return s / tau[n];
    });
    const m = Math.max(...logits);
    const z = logits.reduce((s, x) => s + Math.exp(x - m), 0);
    lp[n] = logits[t[n]] - m - Math.log(z);
    for (let v = 0; v < V; v++) {
      const d = (g[n] / tau[n]) * ((v === t[n] ? 1 : 0) - Math.exp(logits[v] - m) / z);
      for (let c = 0; c < C; c++) {
        dh[n * C + c] += d * w[v * C + c];
        dw[v * C + c] += d * h[n * C + c];
      }
    }
  }
  return { lp, dh, dw };
}

for (const perRow of [false, true]) {
  test(`the chunked fused classifier matches float64 in log-probs and both gradients, whatever the chunk (${perRow ? "per-row temperatures" : "temperature 1"}; rel ≤ 1e-5)`, async () => {
    await setupGpu();
    const N = 11;
    const V = 37;
    const C = 13;
    const h0 = randn(N * C, 1);
    const w0 = randn(V * C, 2, 0.5);
    const r = rng(3);
    const targets = Array.from({ length: N }, (_, i) => (i === 4 ? -1 : Math.floor(r() * V)));
    const g = randn(N, 4);
    // Rationale-like rows at τ ∈ [0.3, 2), answer-like rows (every third) at 1.
    const tau = perRow ? randu(N, 5, 0.3, 2).map((x, i) => (i % 3 === 2 ? 1 : x)) : new Float64Array(N).fill(1);
    const want = reference(h0, w0, targets, g, tau, N, V, C);
    for (const chunkRows of [N, 4, 1]) {
      const h = Tensor.fromArray(h0, [N, C]).keep();
      const w = Tensor.fromArray(w0, [V, C]).keep();
      h.requiresGrad = true;
      w.requiresGrad = true;
      const lp = await scopeAsync(async () => {
        const temperature = perRow ? Tensor.fromArray(tau, [N]) : undefined;
        const out = tokenLogprobs(h, w, Tensor.fromArray(targets, [N], "i32"), { chunkRows, temperature });
        const values = (await out.toArray()) as Float32Array;
        backward(out, Tensor.fromArray(g, [N]));
        return values;
      });
      expect(relError(lp, want.lp)).toBeLessThan(1e-5);
      expect(relError((await h.grad!.toArray()) as Float32Array, want.dh)).toBeLessThan(1e-5);
      expect(relError((await w.grad!.toArray()) as Float32Array, want.dw)).toBeLessThan(1e-5);
      h.release();
      w.release();
    }
  });
}

test("a frozen bf16 classifier weight: log-probs and dh match float64 of the bf16 values", async () => {
  await setupGpu();
  const [N, V, C] = [9, 41, 11];
  const h0 = randn(N * C, 7);
  const w0 = roundBf16(randn(V * C, 8, 0.5));
  const r = rng(9);
  const targets = Array.from({ length: N }, () => Math.floor(r() * V));
  const g = randn(N, 10);
  const want = reference(h0, w0, targets, g, new Float64Array(N).fill(1), N, V, C);
  const bits = Uint16Array.from(w0, (x) => new Uint32Array(Float32Array.of(x).buffer)[0] >>> 16);
  const h = Tensor.fromArray(h0, [N, C]).keep();
  h.requiresGrad = true;
  const w = Tensor.fromBits(bits, [V, C], "bf16").keep();
  const lp = await scopeAsync(async () => {
    const out = tokenLogprobs(h, w, Tensor.fromArray(targets, [N], "i32"), { chunkRows: 4 });
    const values = (await out.toArray()) as Float32Array;
    backward(out, Tensor.fromArray(g, [N]));
    return values;
  });
  expect(relError(lp, want.lp)).toBeLessThan(1e-5);
  expect(relError((await h.grad!.toArray()) as Float32Array, want.dh)).toBeLessThan(1e-5);
  expect(w.grad).toBeUndefined();
  h.release();
  w.release();
});

import { expect, test } from "bun:test";
import { loraLinear } from "../../src/autograd/ops/lora.ts";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { backward } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { dropout } from "../../src/kernels/dropout.ts";
import { fromGpu, randn, relError, setupGpu, toGpu } from "../helpers.ts";
import { dropoutMask, loraRef } from "../reference/lora.ts";
import { roundBf16 } from "../reference/matmul.ts";
import { acquire, release } from "../../src/gpu/buffer.ts";

// f32 accumulation over K ≤ 13 against float64.
const TOL = 1e-5;

const bf16Bits = (x: Float64Array) => Uint16Array.from(x, (v) => new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16);

test("dropout: the mask is the reference hash's, bit for bit, keeps ≈ 1 − p, and depends on the seed", async () => {
  await setupGpu();
  const n = 10007;
  const x = Float64Array.from({ length: n }, () => 1);
  const xg = toGpu(x);
  const out = acquire(n * 4);
  for (const [p, seed] of [[0.1, 7], [0.5, 7], [0.5, 8]] as const) {
    dropout(out, xg, n, { p, seed });
    const got = await fromGpu(out, n);
    const want = dropoutMask(n, p, seed);
    expect(relError(got, want)).toBe(0);
    const kept = want.reduce((k, m) => k + (m > 0 ? 1 : 0), 0) / n;
    expect(Math.abs(kept - (1 - p))).toBeLessThan(0.02);
  }
  expect(relError(dropoutMask(n, 0.5, 7), dropoutMask(n, 0.5, 8))).toBeGreaterThan(0);
  release(xg);
  release(out);
  expect(() => dropout(out, xg, n, { p: 1, seed: 1 })).toThrow("dropout: p must be in [0, 1), got 1");
}, 120_000);

test("loraLinear matches float64 in y, dx, dA and dB: f32 and bf16 base weights, with and without dropout", async () => {
  await setupGpu();
  const [N, In, Out, r] = [7, 13, 11, 3];
  const scale = 16 / r;
  for (const [wType, p] of [["f32", 0], ["bf16", 0], ["f32", 0.3], ["bf16", 0.3]] as const) {
    const x0 = randn(N * In, 1);
    const w0 = wType === "bf16" ? roundBf16(randn(Out * In, 2, 0.3)) : randn(Out * In, 2, 0.3);
    const b0 = randn(Out, 3);
    const A0 = randn(r * In, 4, 0.3);
    const B0 = randn(Out * r, 5, 0.3); // random (not PEFT's zero init) so that dA and dx see B
    const g = randn(N * Out, 6);
    const seed = 12345;
    const mask = p > 0 ? dropoutMask(N * In, p, seed) : new Float64Array(N * In).fill(1);
    const want = loraRef(x0, w0, b0, A0, B0, mask, g, N, In, Out, r, scale);

    const x = Tensor.fromArray(x0, [N, In]).keep();
    x.requiresGrad = true;
    const w = (wType === "bf16" ? Tensor.fromBits(bf16Bits(w0), [Out, In], "bf16") : Tensor.fromArray(w0, [Out, In])).keep();
    const b = Tensor.fromArray(b0, [Out]).keep();
    const A = Tensor.fromArray(A0, [r, In]).keep();
    const B = Tensor.fromArray(B0, [Out, r]).keep();
    A.requiresGrad = B.requiresGrad = true;
    const y = await scopeAsync(async () => {
      const out = loraLinear(x, w, b, { A, B, scale }, { p, seed });
      const values = await out.toArray();
      backward(out, Tensor.fromArray(g, [N, Out]));
      return values;
    });
    const what = `${wType}, p ${p}`;
    expect({ what, err: relError(y, want.y) < TOL }).toEqual({ what, err: true });
    expect({ what, err: relError(await x.grad!.toArray(), want.dx) < TOL }).toEqual({ what, err: true });
    expect({ what, err: relError(await A.grad!.toArray(), want.dA) < TOL }).toEqual({ what, err: true });
    expect({ what, err: relError(await B.grad!.toArray(), want.dB) < TOL }).toEqual({ what, err: true });
    for (const t of [x, w, b, A, B]) t.release();
  }
}, 240_000);

test("loraLinear refuses a trainable base weight and mis-shaped adapters, naming the weight", async () => {
  await setupGpu();
  const x = Tensor.fromArray(new Float32Array(6), [2, 3]).keep();
  const w = Tensor.fromArray(new Float32Array(12), [4, 3]).keep();
  w.name = "model.layers.0.self_attn.q_proj.weight";
  const A = Tensor.fromArray(new Float32Array(6), [2, 3]).keep();
  const B = Tensor.fromArray(new Float32Array(8), [4, 2]).keep();
  expect(() => loraLinear(x, w, undefined, { A: B, B, scale: 1 })).toThrow("lora_A of model.layers.0.self_attn.q_proj.weight is [4,2], expected [r, 3]");
  expect(() => loraLinear(x, w, undefined, { A, B: A, scale: 1 })).toThrow("lora_B of model.layers.0.self_attn.q_proj.weight is [2,3], expected [4, 2]");
  w.requiresGrad = true;
  expect(() => loraLinear(x, w, undefined, { A, B, scale: 1 })).toThrow("must be frozen");
  for (const t of [x, w, A, B]) t.release();
});

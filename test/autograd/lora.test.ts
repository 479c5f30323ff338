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

/**
 * Runs loraLinear on the adapters `specs` (ranks, rows, column starts, dropout), with a residual operand
 * r when `residual`, and checks y, dx, dA, dB (and dr = dy) against float64.
 */
async function checkLora(
  what: string,
  wType: "f32" | "bf16",
  N: number,
  In: number,
  Out: number,
  specs: { r: number; rows: number; col0: number; p: number; seed: number }[],
  residual = false,
) {
  const x0 = randn(N * In, 1);
  const w0 = wType === "bf16" ? roundBf16(randn(Out * In, 2, 0.3)) : randn(Out * In, 2, 0.3);
  const b0 = randn(Out, 3);
  const ref = specs.map((s, i) => ({
    A: randn(s.r * In, 10 + i, 0.3),
    B: randn(s.rows * s.r, 20 + i, 0.3), // random (not PEFT's zero init) so that dA and dx see B
    r: s.r, rows: s.rows, col0: s.col0, scale: 16 / s.r,
    mask: s.p > 0 ? dropoutMask(N * In, s.p, s.seed) : new Float64Array(N * In).fill(1),
  }));
  const g = randn(N * Out, 6);
  const want = loraRef(x0, w0, b0, ref, g, N, In, Out);
  const r0 = randn(N * Out, 7);
  const wantY = residual ? want.y.map((v, i) => v + r0[i]) : want.y;

  const x = Tensor.fromArray(x0, [N, In]).keep();
  x.requiresGrad = true;
  const w = (wType === "bf16" ? Tensor.fromBits(bf16Bits(w0), [Out, In], "bf16") : Tensor.fromArray(w0, [Out, In])).keep();
  const b = Tensor.fromArray(b0, [Out]).keep();
  const r = Tensor.fromArray(r0, [N, Out]).keep();
  r.requiresGrad = true;
  const adapters = ref.map((a, i) => {
    const A = Tensor.fromArray(a.A, [a.r, In]).keep();
    const B = Tensor.fromArray(a.B, [a.rows, a.r]).keep();
    A.requiresGrad = B.requiresGrad = true;
    return { A, B, scale: a.scale, col0: a.col0, dropout: { p: specs[i].p, seed: specs[i].seed } };
  });
  const y = await scopeAsync(async () => {
    const out = loraLinear(x, w, b, adapters, residual ? r : undefined);
    const values = await out.toArray();
    backward(out, Tensor.fromArray(g, [N, Out]));
    return values;
  });
  const ok = (got: ArrayLike<number>, exp: ArrayLike<number>) => relError(got, exp) < TOL;
  expect({ what, y: ok(y, wantY), dx: ok(await x.grad!.toArray(), want.dx) }).toEqual({ what, y: true, dx: true });
  if (residual) expect(Array.from(await r.grad!.toArray())).toEqual(Array.from(Float32Array.from(g)));
  else expect(r.grad).toBeUndefined();
  for (const [i, a] of adapters.entries()) {
    expect({ what, i, dA: ok(await a.A.grad!.toArray(), want.grads[i].dA), dB: ok(await a.B.grad!.toArray(), want.grads[i].dB) }).toEqual({ what, i, dA: true, dB: true });
  }
  for (const t of [x, w, b, r, ...adapters.flatMap((a) => [a.A, a.B])]) t.release();
}

test("loraLinear matches float64 in y, dx, dA and dB: f32 and bf16 base weights, with and without dropout, with a residual", async () => {
  await setupGpu();
  const [N, In, Out, r] = [7, 13, 11, 3];
  for (const wType of ["f32", "bf16"] as const) {
    for (const p of [0, 0.3]) await checkLora(`${wType}, p ${p}`, wType, N, In, Out, [{ r, rows: Out, col0: 0, p, seed: 12345 }]);
  }
  await checkLora("bf16, p 0.3, residual r + …", "bf16", N, In, Out, [{ r, rows: Out, col0: 0, p: 0.3, seed: 7 }], true);
}, 240_000);

test("loraLinear over a fused weight: separate adapters on column ranges (q/k/v parts), own ranks and dropout masks", async () => {
  await setupGpu();
  const parts = [
    { r: 3, rows: 5, col0: 0, p: 0.3, seed: 1 },
    { r: 2, rows: 3, col0: 5, p: 0, seed: 2 },
    { r: 4, rows: 3, col0: 8, p: 0.2, seed: 3 },
  ];
  await checkLora("fused q/k/v, bf16", "bf16", 9, 13, 11, parts);
  await checkLora("only the middle part adapted", "f32", 9, 12, 11, [parts[1]]);
}, 240_000);

test("loraLinear refuses a trainable base weight and mis-shaped adapters, naming the weight", async () => {
  await setupGpu();
  const x = Tensor.fromArray(new Float32Array(6), [2, 3]).keep();
  const w = Tensor.fromArray(new Float32Array(12), [4, 3]).keep();
  w.name = "model.layers.0.self_attn.q_proj.weight";
  const A = Tensor.fromArray(new Float32Array(6), [2, 3]).keep();
  const B = Tensor.fromArray(new Float32Array(8), [4, 2]).keep();
  expect(() => loraLinear(x, w, undefined, [{ A: B, B, scale: 1 }])).toThrow("lora_A of model.layers.0.self_attn.q_proj.weight is [4,2], expected [r, 3]");
  expect(() => loraLinear(x, w, undefined, [{ A, B: A, scale: 1 }])).toThrow("lora_B of model.layers.0.self_attn.q_proj.weight is [2,3] at column 0, expected [rows, 2] within its 4 columns");
  expect(() => loraLinear(x, w, undefined, [{ A, B, scale: 1, col0: 1 }])).toThrow("lora_B of model.layers.0.self_attn.q_proj.weight is [4,2] at column 1, expected [rows, 2] within its 4 columns");
  w.requiresGrad = true;
  expect(() => loraLinear(x, w, undefined, [{ A, B, scale: 1 }])).toThrow("must be frozen");
  for (const t of [x, w, A, B]) t.release();
});

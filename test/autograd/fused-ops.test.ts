// The fused layer ops against float64: forward on both paths (not recorded: one fused matmul;
// recorded: the unfused kernels whose intermediates the backward keeps), and every input's gradient
// against finite differences of the float64 forward.
import { beforeAll, expect, test } from "bun:test";
import { linearResidual } from "../../src/autograd/ops/linear.ts";
import { rmsnormLinear } from "../../src/autograd/ops/norm-linear.ts";
import { swigluLinear } from "../../src/autograd/ops/swiglu-linear.ts";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { backward, noGrad } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { randn, relError, setupGpu } from "../helpers.ts";
import { numGrad } from "../reference/elementwise.ts";
import { fusedLinearRef, roundBf16 } from "../reference/matmul.ts";

beforeAll(setupGpu);

const [N, C, Out, I] = [5, 11, 7, 9];
const EPS = 1e-5;
// f32 against float64: forward within 2e-6 of the largest value; gradients against central differences
// of the float64 forward (h = 1e-5) within 1e-4.
const FWD_TOL = 2e-6;
const GRAD_TOL = 1e-4;

/** Leaf tensors that require grad, from float64 inputs. */
const leaves = (inputs: Float64Array[], shapes: number[][]) =>
  inputs.map((d, i) => {
    const t = Tensor.fromArray(d, shapes[i]);
    t.requiresGrad = true;
    return t;
  });

/**
 * Checks `op` over `inputs` against the float64 `ref`: the forward without recording and while
 * recording, then the gradients of Σ dy·y with respect to every input.
 */
async function check(
  name: string,
  inputs: Float64Array[],
  shapes: number[][],
  op: (ts: Tensor[]) => Tensor,
  ref: (xs: Float64Array[]) => Float64Array,
) {
  const want = ref(inputs);
  await scopeAsync(async () => {
    const ts = leaves(inputs, shapes);
    const plain = noGrad(() => op(ts));
    expect(relError((await plain.toArray()) as Float32Array, want), `${name} forward (not recorded)`).toBeLessThan(FWD_TOL);
    const y = op(ts);
    expect(relError((await y.toArray()) as Float32Array, want), `${name} forward (recorded)`).toBeLessThan(FWD_TOL);
    const dy = randn(want.length, 99);
    backward(y, Tensor.fromArray(dy, y.shape));
    for (let i = 0; i < inputs.length; i++) {
      const fd = numGrad((v) => ref(inputs.map((x, j) => (j === i ? v : x))), inputs[i], dy);
      expect(relError((await ts[i].grad!.toArray()) as Float32Array, fd), `${name} gradient of input ${i}`).toBeLessThan(GRAD_TOL);
    }
  });
}

test("rmsnormLinear: RMSNorm(x; g)·Wᵀ + b", async () => {
  const inputs = [randn(N * C, 1, 2), randn(C, 2), randn(Out * C, 3, 0.5), randn(Out, 4)];
  await check(
    "rmsnormLinear",
    inputs,
    [[N, C], [C], [Out, C], [Out]],
    ([x, g, w, b]) => rmsnormLinear(x, g, w, b, EPS),
    ([x, g, w, b]) => fusedLinearRef(x, w, [], { M: N, N: Out, K: C }, { bias: b, norm: { w: g, eps: EPS } }),
  );
});

test("linearResidual: r + x·Wᵀ + b", async () => {
  const inputs = [randn(N * Out, 5), randn(N * C, 6), randn(Out * C, 7, 0.5), randn(Out, 8)];
  await check(
    "linearResidual",
    inputs,
    [[N, Out], [N, C], [Out, C], [Out]],
    ([r, x, w, b]) => linearResidual(r, x, w, b),
    ([r, x, w, b]) => fusedLinearRef(x, w, [], { M: N, N: Out, K: C }, { bias: b, residual: r }),
  );
});

test("swigluLinear: silu(n·Wgᵀ) ∘ (n·Wuᵀ), n = RMSNorm(x; g), W = [Wg; Wu]", async () => {
  const inputs = [randn(N * C, 9, 2), randn(C, 10), randn(2 * I * C, 11, 0.5)];
  await check(
    "swigluLinear",
    inputs,
    [[N, C], [C], [2 * I, C]],
    ([x, g, w]) => swigluLinear(x, g, w, EPS),
    ([x, g, w]) => fusedLinearRef(x, w, [], { M: N, N: I, K: C, swiglu: true }, { norm: { w: g, eps: EPS } }),
  );
});

test("frozen bf16 W: each fused op reads it in place, forward (both paths) and dx against float64 of the bf16-rounded W", async () => {
  const bits = (w: Float64Array) => Uint16Array.from(w, (v) => new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16);
  const x0 = randn(N * C, 12, 2);
  const g0 = randn(C, 13);
  const r0 = randn(N * Out, 14);
  const wq = roundBf16(randn(Out * C, 15, 0.5));
  const wgu = roundBf16(randn(2 * I * C, 16, 0.5));
  const norm = { w: g0, eps: EPS };
  const frozen = (w: Float64Array, shape: number[]) => Tensor.fromBits(bits(w), shape, "bf16");
  const cases: [string, (x: Tensor, g: Tensor, r: Tensor) => Tensor, (x: Float64Array) => Float64Array][] = [
    ["rmsnormLinear", (x, g) => rmsnormLinear(x, g, frozen(wq, [Out, C]), undefined, EPS), (x) => fusedLinearRef(x, wq, [], { M: N, N: Out, K: C }, { norm })],
    ["linearResidual", (x, _, r) => linearResidual(r, x, frozen(wq, [Out, C])), (x) => fusedLinearRef(x, wq, [], { M: N, N: Out, K: C }, { residual: r0 })],
    ["swigluLinear", (x, g) => swigluLinear(x, g, frozen(wgu, [2 * I, C]), EPS), (x) => fusedLinearRef(x, wgu, [], { M: N, N: I, K: C, swiglu: true }, { norm })],
  ];
  for (const [name, op, ref] of cases) {
    await scopeAsync(async () => {
      const want = ref(x0);
      const [g, r] = [Tensor.fromArray(g0, [C]), Tensor.fromArray(r0, [N, Out])];
      const plain = noGrad(() => op(Tensor.fromArray(x0, [N, C]), g, r));
      expect(relError((await plain.toArray()) as Float32Array, want), `${name} forward (not recorded)`).toBeLessThan(FWD_TOL);
      const x = Tensor.fromArray(x0, [N, C]);
      x.requiresGrad = true;
      const y = op(x, g, r);
      expect(relError((await y.toArray()) as Float32Array, want), `${name} forward (recorded)`).toBeLessThan(FWD_TOL);
      const dy = randn(want.length, 98);
      backward(y, Tensor.fromArray(dy, y.shape));
      expect(relError((await x.grad!.toArray()) as Float32Array, numGrad(ref, x0, dy)), `${name} dx`).toBeLessThan(GRAD_TOL);
    });
  }
});

test("shape errors name the op and the operands", () => {
  const t = (shape: number[]) => new Tensor(shape);
  expect(() => rmsnormLinear(t([2, 4]), t([3]), t([5, 4]), undefined, EPS)).toThrow("rmsnormLinear: x [2,4], norm weight [3] and W [5,4] do not match");
  expect(() => linearResidual(t([2, 4]), t([2, 3]), t([5, 3]))).toThrow("linearResidual: residual [2,4] is not [2, 5]");
  expect(() => swigluLinear(t([2, 4]), t([4]), t([5, 4]), EPS)).toThrow("W must be [2I, 4]");
});

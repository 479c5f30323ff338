// swigluLinear: the gated MLP's input side, h = silu(n·Wgᵀ) ∘ (n·Wuᵀ) with n = RMSNorm(x; g) and
// W = [Wg; Wu] the fused gate/up projection.
//   x [N, C], g [C], W [2I, C] (f32, or f16/bf16 when frozen) → h [N, I]
// Not recorded (inference, scoring, prefill): one matmul with the RMSNorm prologue (where that pays:
// normProloguePays; else rmsnorm first) and the SwiGLU epilogue. Recorded: rmsnorm, the [N, 2I]
// projection and the swiglu op, keeping n and the projection for the backward (swiglu's, then
// linear's and rmsnorm's).
import { matmul, normProloguePays } from "../../kernels/matmul.ts";
import { willRecord } from "../tape.ts";
import { storageType, Tensor } from "../tensor.ts";
import { linear } from "./linear.ts";
import { rmsnorm } from "./rmsnorm.ts";
import { swiglu } from "./swiglu.ts";

export function swigluLinear(x: Tensor, g: Tensor, w: Tensor, eps: number): Tensor {
  const [N, C] = x.shape;
  const [rows, WIn] = w.shape;
  if (x.shape.length !== 2 || g.size !== C || WIn !== C || rows % 2) {
    throw new Error(`swigluLinear: x [${x.shape}], norm weight [${g.shape}] and W [${w.shape}] do not match (W must be [2I, ${C}])`);
  }
  if (!willRecord([x, g, w])) {
    const h = new Tensor([N, rows / 2]);
    const shape = { M: N, N: rows / 2, K: C, transB: true, swiglu: true, normEps: eps, bType: storageType(w) };
    if (normProloguePays(shape)) matmul({ a: x.buf, b: w.buf, c: h.buf, normWeight: g.buf }, shape);
    else matmul({ a: rmsnorm(x, g, eps).buf, b: w.buf, c: h.buf }, shape);
    return h;
  }
  return swiglu(linear(rmsnorm(x, g, eps), w));
}

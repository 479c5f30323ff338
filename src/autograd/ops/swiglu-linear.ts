// swigluLinear: the gated MLP's input side, h = silu(n·Wgᵀ) ∘ (n·Wuᵀ) with n = RMSNorm(x; g) and
// W = [Wg; Wu] the fused gate/up projection.
//   x [N, C], g [C], W [2I, C] → h [N, I]
// Not recorded (inference, scoring, prefill): one matmul with the RMSNorm prologue (where that pays:
// normProloguePays; else rmsnorm first) and the SwiGLU epilogue. Recorded: rmsnorm, the [N, 2I]
// projection and the SwiGLU kernel, keeping n and the projection for the backward (SwiGLU's, then
// linear's and rmsnorm's).
import { matmul, normProloguePays } from "../../kernels/matmul.ts";
import { swigluBackward, swigluForward } from "../../kernels/swiglu.ts";
import { record, willRecord } from "../tape.ts";
import { Tensor } from "../tensor.ts";
import { linear } from "./linear.ts";
import { rmsnorm } from "./rmsnorm.ts";

export function swigluLinear(x: Tensor, g: Tensor, w: Tensor, eps: number): Tensor {
  const [N, C] = x.shape;
  const [rows, WIn] = w.shape;
  if (x.shape.length !== 2 || g.size !== C || WIn !== C || rows % 2) {
    throw new Error(`swigluLinear: x [${x.shape}], norm weight [${g.shape}] and W [${w.shape}] do not match (W must be [2I, ${C}])`);
  }
  const I = rows / 2;
  const h = new Tensor([N, I]);
  if (!willRecord([x, g, w])) {
    const shape = { M: N, N: I, K: C, transB: true, swiglu: true, normEps: eps };
    if (normProloguePays(shape)) matmul({ a: x.buf, b: w.buf, c: h.buf, normWeight: g.buf }, shape);
    else matmul({ a: rmsnorm(x, g, eps).buf, b: w.buf, c: h.buf }, shape);
    return h;
  }
  const gu = linear(rmsnorm(x, g, eps), w);
  swigluForward(h.buf, { fused: gu.buf }, { N, I });
  return record("swiglu", [gu], h, (dh) => {
    const dgu = new Tensor(gu.shape);
    swigluBackward({ fused: dgu.buf }, dh.buf, { fused: gu.buf }, { N, I });
    return [dgu];
  });
}

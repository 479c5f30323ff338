// swigluLinear: the gated MLP's input side, h = silu(n·Wgᵀ) ∘ (n·Wuᵀ) with n = RMSNorm(x; g) and
// W = [Wg; Wu] the fused gate/up projection, plus the LoRA updates of gate and up when adapted.
//   x [N, C], g [C], W [2I, C] → h [N, I]
// Not recorded, not adapted and `fuse` (inference, scoring, prefill): one matmul with the RMSNorm prologue
// (where that pays: normProloguePays; else rmsnorm first) and the SwiGLU epilogue. Otherwise:
// rmsnorm, the [N, 2I] projection (with its adapters) and the SwiGLU kernel, keeping n and the
// projection for the backward (SwiGLU's, then the projection's and rmsnorm's).
import { matmul, normProloguePays } from "../../kernels/matmul.ts";
import { swigluBackward, swigluForward } from "../../kernels/swiglu.ts";
import { record, willRecord } from "../tape.ts";
import { Tensor } from "../tensor.ts";
import { checkLinear, linear } from "./linear.ts";
import { type LoraAdapter, loraLinear } from "./lora.ts";
import { rmsnorm } from "./rmsnorm.ts";

export function swigluLinear(x: Tensor, g: Tensor, w: Tensor, eps: number, adapters: readonly LoraAdapter[] = [], fuse = true): Tensor {
  const [N, C] = x.shape;
  const [rows, WIn] = w.shape;
  if (x.shape.length !== 2 || g.size !== C || WIn !== C || rows % 2) {
    throw new Error(`swigluLinear: x [${x.shape}], norm weight [${g.shape}] and W [${w.shape}] do not match (W must be [2I, ${C}])`);
  }
  const I = rows / 2;
  const bType = checkLinear("swigluLinear", x, w);
  const h = new Tensor([N, I]);
  if (fuse && !willRecord([x, g, w]) && adapters.length === 0) {
    const shape = { M: N, N: I, K: C, transB: true, swiglu: true, normEps: eps, bType };
    if (normProloguePays(shape)) matmul({ a: x.buf, b: w.buf, c: h.buf, normWeight: g.buf }, shape);
    else matmul({ a: rmsnorm(x, g, eps).buf, b: w.buf, c: h.buf }, shape);
    return h;
  }
  const n = rmsnorm(x, g, eps);
  const gu = adapters.length ? loraLinear(n, w, undefined, adapters) : linear(n, w);
  swigluForward(h.buf, { fused: gu.buf }, { N, I });
  return record("swiglu", [gu], h, (dh) => {
    const dgu = new Tensor(gu.shape);
    swigluBackward({ fused: dgu.buf }, dh.buf, { fused: gu.buf }, { N, I });
    return [dgu];
  });
}

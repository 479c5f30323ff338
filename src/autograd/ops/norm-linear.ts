// rmsnormLinear: y = RMSNorm(x; g)·Wᵀ + b, a normalised input projection (the attention's fused q/k/v).
//   x [N, C], g [C], W [out, C] (f32, or f16/bf16 when frozen), b [out] → y [N, out]
// Not recorded (inference, scoring, prefill): one matmul with the RMSNorm as its prologue (where that
// pays: normProloguePays). Recorded: rmsnorm then linear, keeping the normalised input and 1/rms for
// the backward, which is linear's and then rmsnorm's.
import { matmul, normProloguePays } from "../../kernels/matmul.ts";
import { willRecord } from "../tape.ts";
import { storageType, Tensor } from "../tensor.ts";
import { linear } from "./linear.ts";
import { rmsnorm } from "./rmsnorm.ts";

export function rmsnormLinear(x: Tensor, g: Tensor, w: Tensor, b: Tensor | undefined, eps: number): Tensor {
  const [N, C] = x.shape;
  const [Out, WIn] = w.shape;
  if (x.shape.length !== 2 || g.size !== C || WIn !== C) throw new Error(`rmsnormLinear: x [${x.shape}], norm weight [${g.shape}] and W [${w.shape}] do not match`);
  if (b && b.size !== Out) throw new Error(`rmsnormLinear: bias [${b.shape}] does not match W [${w.shape}]`);
  if (willRecord([x, g, w, ...(b ? [b] : [])]) || !normProloguePays({ M: N, N: Out, K: C })) return linear(rmsnorm(x, g, eps), w, b);
  const y = new Tensor([N, Out]);
  matmul({ a: x.buf, b: w.buf, c: y.buf, bias: b?.buf, normWeight: g.buf }, { M: N, N: Out, K: C, transB: true, normEps: eps, bType: storageType(w) });
  return y;
}

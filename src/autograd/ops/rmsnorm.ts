// rmsnorm: y = x / sqrt(mean(x²) + eps) · w over the last dimension.
//   x [N, C], w [C] → y [N, C]; the forward saves rstd [N] for the backward.
import { rmsnormBackward, rmsnormForward } from "../../kernels/rmsnorm.ts";
import { record, weightGrad } from "../tape.ts";
import { Tensor } from "../tensor.ts";

export function rmsnorm(x: Tensor, w: Tensor, eps: number): Tensor {
  const [N, C] = x.shape;
  if (x.shape.length !== 2 || w.size !== C) throw new Error(`rmsnorm: x [${x.shape}] does not match w [${w.shape}]`);
  const y = new Tensor([N, C]);
  const rstd = new Tensor([N]);
  rmsnormForward(y.buf, rstd.buf, x.buf, w.buf, { N, C, eps });
  return record("rmsnorm", [x, w], y, (dy) => {
    const dx = new Tensor([N, C]);
    // A frozen w (LoRA) gets no gradient: the kernel's dw goes to a scratch buffer.
    const dw = w.requiresGrad ? weightGrad(w) : undefined;
    const dwBuf = dw ? dw.grad : new Tensor([C]);
    rmsnormBackward(dx.buf, dwBuf.buf, dy.buf, x.buf, w.buf, rstd.buf, { N, C, eps }, { accumulateDw: dw?.accumulate });
    if (!dw) dwBuf.release();
    return [dx, dw?.returned];
  });
}

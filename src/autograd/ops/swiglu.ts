// swiglu: h = silu(gate) · up over the fused gate/up projection's output (the Llama MLP's gating).
//   gu [N, 2I] = [gate | up] per row → h [N, I];  dgate = dh·up·silu'(gate), dup = dh·silu(gate)
import { swigluBackward, swigluForward } from "../../kernels/swiglu.ts";
import { record } from "../tape.ts";
import { Tensor } from "../tensor.ts";

export function swiglu(gu: Tensor): Tensor {
  const [N, I2] = gu.shape;
  if (gu.shape.length !== 2 || I2 % 2) throw new Error(`swiglu: input [${gu.shape}] is not [N, 2I] (gate | up)`);
  const I = I2 / 2;
  const h = new Tensor([N, I]);
  swigluForward(h.buf, { fused: gu.buf }, { N, I });
  return record("swiglu", [gu], h, (dh) => {
    const dgu = new Tensor(gu.shape);
    swigluBackward({ fused: dgu.buf }, dh.buf, { fused: gu.buf }, { N, I });
    return [dgu];
  });
}

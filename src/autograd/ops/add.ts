// add: out = a + b (same shape) — the residual connections. Both inputs receive the gradient.
import { add as addKernel } from "../../kernels/elementwise.ts";
import { record } from "../tape.ts";
import { sameShape, Tensor } from "../tensor.ts";

export function add(a: Tensor, b: Tensor): Tensor {
  if (!sameShape(a.shape, b.shape)) throw new Error(`add: shapes [${a.shape}] and [${b.shape}] differ`);
  const out = new Tensor(a.shape);
  addKernel(out.buf, a.buf, b.buf, a.size);
  return record("add", [a, b], out, (g) => [g, g]);
}

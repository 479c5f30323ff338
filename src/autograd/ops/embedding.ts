// embedding: out[n, :] = W[ids[n], :].
//   ids i32 [N], W [V, C] → out [N, C]; the backward scatters rows into dW deterministically.
// A frozen W may be stored as f16 or bf16 (gathered and widened by the kernel); a trained one is f32.
import { embeddingBackward, embeddingForward } from "../../kernels/embedding.ts";
import { record, weightGrad } from "../tape.ts";
import { Tensor } from "../tensor.ts";

export function embedding(ids: Tensor, w: Tensor): Tensor {
  const N = ids.size;
  const [V, C] = w.shape;
  if (ids.dtype !== "i32") throw new Error("embedding: ids must be i32");
  if (w.dtype === "i32") throw new Error(`embedding: ${w.name ?? "the table"} must be a float tensor`);
  if (w.dtype !== "f32" && w.requiresGrad) throw new Error(`embedding: ${w.name ?? "the table"} is stored as ${w.dtype}; only a frozen table may be`);
  const out = new Tensor([N, C]);
  embeddingForward(out.buf, ids.buf, w.buf, { N, V, C }, w.dtype);
  return record("embedding", [w], out, (dout) => {
    const dw = weightGrad(w);
    embeddingBackward(dw.grad.buf, dout.buf, ids.buf, { N, V, C }, { accumulate: dw.accumulate });
    return [dw.returned];
  });
}

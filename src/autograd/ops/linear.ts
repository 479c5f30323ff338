// linear: y = x·Wᵀ + b, with W stored [out, in] as Hugging Face does (an NT matmul).
//   x [N, in], W [out, in], b [out] → y [N, out]
//   dx = dy·W (NN), dW += dyᵀ·x (TN, accumulated in place), db += Σ_rows dy
// A frozen W may be stored as f16 or bf16 (read by the matmul as such); a trained one is f32.
import { matmul } from "../../kernels/matmul.ts";
import { colSum } from "../../kernels/reduce.ts";
import { record, weightGrad } from "../tape.ts";
import { storageType, Tensor } from "../tensor.ts";

export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const [N, In] = x.shape;
  const [Out, WIn] = w.shape;
  if (x.shape.length !== 2 || WIn !== In) throw new Error(`linear: x [${x.shape}] does not match W [${w.shape}] (${w.name ?? "weight"})`);
  if (b && b.size !== Out) throw new Error(`linear: bias [${b.shape}] does not match W [${w.shape}]`);
  const bType = storageType(w);
  if (bType !== "f32" && w.requiresGrad) throw new Error(`linear: ${w.name ?? "weight"} is stored as ${bType}; only frozen weights may be`);
  const y = new Tensor([N, Out]);
  matmul({ a: x.buf, b: w.buf, c: y.buf, bias: b?.buf }, { M: N, N: Out, K: In, transB: true, bType });
  return record("linear", b ? [x, w, b] : [x, w], y, (dy) => {
    let dx: Tensor | undefined;
    if (x.requiresGrad) {
      dx = new Tensor([N, In]);
      matmul({ a: dy.buf, b: w.buf, c: dx.buf }, { M: N, N: In, K: Out, bType });
    }
    let dwOut: Tensor | undefined;
    if (w.requiresGrad) {
      const dw = weightGrad(w);
      matmul({ a: dy.buf, b: x.buf, c: dw.grad.buf }, { M: Out, N: In, K: N, transA: true, accumulate: dw.accumulate });
      dwOut = dw.returned;
    }
    let dbOut: Tensor | undefined;
    if (b?.requiresGrad) {
      const db = weightGrad(b);
      colSum(db.grad.buf, dy.buf, { N, C: Out }, { accumulate: db.accumulate });
      dbOut = db.returned;
    }
    return [dx, dwOut, dbOut];
  });
}

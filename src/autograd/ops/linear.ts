// linear: y = x·Wᵀ + b, with W stored [out, in] as Hugging Face does (an NT matmul); and
// linearResidual: y = r + x·Wᵀ + b, a projection back into the residual stream r in one matmul.
//   x [N, in], W [out, in], b [out], r [N, out] → y [N, out]
//   dx = dy·W (NN), dW += dyᵀ·x (TN, accumulated in place), db += Σ_rows dy, dr = dy
// A frozen W may be stored as f16 or bf16 (read by the matmul as such); a trained one is f32.
import { matmul, type MatmulDType } from "../../kernels/matmul.ts";
import { colSum } from "../../kernels/reduce.ts";
import { record, weightGrad } from "../tape.ts";
import { storageType, Tensor } from "../tensor.ts";

/** Checks x, W and b of x·Wᵀ + b; returns W's storage type (f16/bf16 only for a frozen W). */
function check(fn: string, x: Tensor, w: Tensor, b?: Tensor): MatmulDType {
  const [, In] = x.shape;
  const [Out, WIn] = w.shape;
  if (x.shape.length !== 2 || WIn !== In) throw new Error(`${fn}: x [${x.shape}] does not match W [${w.shape}] (${w.name ?? "weight"})`);
  if (b && b.size !== Out) throw new Error(`${fn}: bias [${b.shape}] does not match W [${w.shape}]`);
  const bType = storageType(w);
  if (bType !== "f32" && w.requiresGrad) throw new Error(`${fn}: ${w.name ?? "weight"} is stored as ${bType}; only frozen weights may be`);
  return bType;
}

export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const bType = check("linear", x, w, b);
  const y = new Tensor([x.shape[0], w.shape[0]]);
  matmul({ a: x.buf, b: w.buf, c: y.buf, bias: b?.buf }, { M: x.shape[0], N: w.shape[0], K: x.shape[1], transB: true, bType });
  return record("linear", b ? [x, w, b] : [x, w], y, (dy) => linearBackward(dy, x, w, b));
}

export function linearResidual(r: Tensor, x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const bType = check("linearResidual", x, w, b);
  if (r.shape.length !== 2 || r.shape[0] !== x.shape[0] || r.shape[1] !== w.shape[0]) {
    throw new Error(`linearResidual: residual [${r.shape}] is not [${x.shape[0]}, ${w.shape[0]}]`);
  }
  const y = new Tensor(r.shape);
  matmul({ a: x.buf, b: w.buf, c: y.buf, bias: b?.buf, residual: r.buf }, { M: x.shape[0], N: w.shape[0], K: x.shape[1], transB: true, bType });
  return record("linearResidual", b ? [r, x, w, b] : [r, x, w], y, (dy) => [dy, ...linearBackward(dy, x, w, b)]);
}

/** [dx, dW, db] of y = x·Wᵀ + b (parameter gradients accumulated in place, see weightGrad). */
export function linearBackward(dy: Tensor, x: Tensor, w: Tensor, b?: Tensor): (Tensor | undefined)[] {
  const [N, In] = x.shape;
  const Out = w.shape[0];
  let dx: Tensor | undefined;
  if (x.requiresGrad) {
    dx = new Tensor([N, In]);
    matmul({ a: dy.buf, b: w.buf, c: dx.buf }, { M: N, N: In, K: Out, bType: storageType(w) });
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
}

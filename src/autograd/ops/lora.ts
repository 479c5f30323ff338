// loraLinear: a frozen linear layer plus a trainable low-rank update (LoRA, Hu et al. 2021, as PEFT):
//   y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ,   s = alpha / r
//   x [N, in], W [out, in] frozen (f32, f16 or bf16 storage), b [out] frozen, A [r, in], B [out, r]
//   drop: inverted dropout with probability p on the adapter's input only (PEFT's lora_dropout),
//         seeded, so a recomputed forward (activation checkpointing) draws the same mask.
// Saved for backward: u = drop(x)·Aᵀ [N, r] and, when p > 0, drop(x) [N, in].
//   dB += s·dyᵀ·u (TN),  du = s·dy·B (NN),  dA += duᵀ·drop(x) (TN),
//   dx = dy·W + drop'(du·A)   (drop' applies the same mask and scale)
// W and b never get gradients: they must not require grad.
import { dropout } from "../../kernels/dropout.ts";
import { addInPlace } from "../../kernels/elementwise.ts";
import { matmul } from "../../kernels/matmul.ts";
import { record, weightGrad } from "../tape.ts";
import { storageType, Tensor } from "../tensor.ts";

export interface LoraAdapter {
  /** [r, in], trainable. */
  A: Tensor;
  /** [out, r], trainable (zero at initialisation). */
  B: Tensor;
  /** alpha / r. */
  scale: number;
}

export interface LoraDropout {
  /** Probability in [0, 1); 0 means no dropout. */
  p: number;
  seed: number;
}

export function loraLinear(x: Tensor, w: Tensor, b: Tensor | undefined, adapter: LoraAdapter, drop?: LoraDropout): Tensor {
  const [N, In] = x.shape;
  const [Out, WIn] = w.shape;
  const { A, B, scale } = adapter;
  const name = w.name ?? "weight";
  if (x.shape.length !== 2 || WIn !== In) throw new Error(`loraLinear: x [${x.shape}] does not match W [${w.shape}] (${name})`);
  const r = A.shape[0];
  if (A.shape.length !== 2 || A.shape[1] !== In) throw new Error(`loraLinear: lora_A of ${name} is [${A.shape}], expected [r, ${In}]`);
  if (B.shape.length !== 2 || B.shape[0] !== Out || B.shape[1] !== r) throw new Error(`loraLinear: lora_B of ${name} is [${B.shape}], expected [${Out}, ${r}]`);
  if (b && b.size !== Out) throw new Error(`loraLinear: bias [${b.shape}] does not match W [${w.shape}]`);
  if (w.requiresGrad || b?.requiresGrad) throw new Error(`loraLinear: the base weight and bias of ${name} must be frozen (requiresGrad false)`);
  if (!Number.isFinite(scale)) throw new Error(`loraLinear: scale must be finite, got ${scale}`);
  const p = drop?.p ?? 0;
  const wType = storageType(w);

  let xd = x;
  if (p > 0) {
    xd = new Tensor([N, In]);
    dropout(xd.buf, x.buf, N * In, drop!);
  }
  const u = new Tensor([N, r]);
  matmul({ a: xd.buf, b: A.buf, c: u.buf }, { M: N, N: r, K: In, transB: true });
  const y = new Tensor([N, Out]);
  matmul({ a: x.buf, b: w.buf, c: y.buf, bias: b?.buf }, { M: N, N: Out, K: In, transB: true, bType: wType });
  matmul({ a: u.buf, b: B.buf, c: y.buf }, { M: N, N: Out, K: r, transB: true, alpha: scale, accumulate: true });

  return record("loraLinear", [x, A, B], y, (dy) => {
    let dBOut: Tensor | undefined;
    if (B.requiresGrad) {
      const dB = weightGrad(B);
      matmul({ a: dy.buf, b: u.buf, c: dB.grad.buf }, { M: Out, N: r, K: N, transA: true, alpha: scale, accumulate: dB.accumulate });
      dBOut = dB.returned;
    }
    const du = new Tensor([N, r]);
    matmul({ a: dy.buf, b: B.buf, c: du.buf }, { M: N, N: r, K: Out, alpha: scale });
    let dAOut: Tensor | undefined;
    if (A.requiresGrad) {
      const dA = weightGrad(A);
      matmul({ a: du.buf, b: xd.buf, c: dA.grad.buf }, { M: r, N: In, K: N, transA: true, accumulate: dA.accumulate });
      dAOut = dA.returned;
    }
    let dx: Tensor | undefined;
    if (x.requiresGrad) {
      dx = new Tensor([N, In]);
      matmul({ a: dy.buf, b: w.buf, c: dx.buf }, { M: N, N: In, K: Out, bType: wType });
      if (p > 0) {
        const dxd = new Tensor([N, In]);
        matmul({ a: du.buf, b: A.buf, c: dxd.buf }, { M: N, N: In, K: r });
        dropout(xd.buf, dxd.buf, N * In, drop!); // xd is not needed any more: reuse it
        addInPlace(dx.buf, xd.buf, N * In);
        dxd.release();
      } else {
        matmul({ a: du.buf, b: A.buf, c: dx.buf }, { M: N, N: In, K: r, accumulate: true });
      }
    }
    du.release();
    return [dx, dAOut, dBOut];
  });
}

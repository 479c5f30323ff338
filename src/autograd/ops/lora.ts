// loraLinear: a frozen linear layer plus trainable low-rank updates (LoRA, Hu et al. 2021, as PEFT):
//   y = (r +) x·Wᵀ + b + Σ_i s_i·(drop_i(x)·A_iᵀ)·B_iᵀ   placed at output columns [c_i, c_i + out_i)
//   x [N, in], W [out, in] frozen (f32, f16 or bf16 storage), b [out] frozen, A_i [r_i, in], B_i [out_i, r_i],
//   r [N, out] an optional residual (a projection back into the residual stream: one matmul adds it)
//   One adapter over all columns is a plain LoRA layer; several over column ranges are the separate
//   adapters of projections whose weights are stored fused (q/k/v as one [q + k + v, in] matrix).
//   drop_i: inverted dropout with probability p_i on the adapter's input only (PEFT's lora_dropout),
//   seeded, so a recomputed forward (activation checkpointing) draws the same mask.
// Saved for backward: u_i = drop_i(x)·A_iᵀ [N, r_i] and, when p_i > 0, drop_i(x) [N, in].
//   with dy_i = dy[:, c_i : c_i + out_i]:
//   dB_i += s_i·dy_iᵀ·u_i (TN),  du_i = s_i·dy_i·B_i (NN),  dA_i += du_iᵀ·drop_i(x) (TN),
//   dx = dy·W + Σ_i drop_i'(du_i·A_i)   (drop_i' applies the same mask and scale),  dr = dy
// W and b never get gradients: they must not require grad.
import { dropout } from "../../kernels/dropout.ts";
import { addInPlace } from "../../kernels/elementwise.ts";
import { matmul } from "../../kernels/matmul.ts";
import { record, weightGrad } from "../tape.ts";
import { storageType, Tensor } from "../tensor.ts";

export interface LoraDropout {
  /** Probability in [0, 1); 0 means no dropout. */
  p: number;
  seed: number;
}

export interface LoraAdapter {
  /** [r, in], trainable. */
  A: Tensor;
  /** [out_i, r], trainable (zero at initialisation). */
  B: Tensor;
  /** alpha / r. */
  scale: number;
  /** First output column the adapter adds into (default 0). */
  col0?: number;
  dropout?: LoraDropout;
}

export function loraLinear(x: Tensor, w: Tensor, b: Tensor | undefined, adapters: readonly LoraAdapter[], residual?: Tensor): Tensor {
  const [N, In] = x.shape;
  const [Out, WIn] = w.shape;
  const name = w.name ?? "weight";
  if (x.shape.length !== 2 || WIn !== In) throw new Error(`loraLinear: x [${x.shape}] does not match W [${w.shape}] (${name})`);
  if (b && b.size !== Out) throw new Error(`loraLinear: bias [${b.shape}] does not match W [${w.shape}]`);
  if (w.requiresGrad || b?.requiresGrad) throw new Error(`loraLinear: the base weight and bias of ${name} must be frozen (requiresGrad false)`);
  for (const { A, B, scale, col0 = 0, dropout: d } of adapters) {
    const r = A.shape[0];
    if (A.shape.length !== 2 || A.shape[1] !== In) throw new Error(`loraLinear: lora_A of ${name} is [${A.shape}], expected [r, ${In}]`);
    if (B.shape.length !== 2 || B.shape[1] !== r || col0 + B.shape[0] > Out) {
      throw new Error(`loraLinear: lora_B of ${name} is [${B.shape}] at column ${col0}, expected [rows, ${r}] within its ${Out} columns`);
    }
    if (!Number.isFinite(scale)) throw new Error(`loraLinear: scale must be finite, got ${scale}`);
    if (d && !(d.p >= 0 && d.p < 1)) throw new Error(`loraLinear: dropout must be in [0, 1), got ${d.p}`);
  }
  if (residual && (residual.shape.length !== 2 || residual.shape[0] !== N || residual.shape[1] !== Out)) {
    throw new Error(`loraLinear: residual [${residual.shape}] is not [${N}, ${Out}]`);
  }
  const wType = storageType(w);

  const y = new Tensor([N, Out]);
  matmul({ a: x.buf, b: w.buf, c: y.buf, bias: b?.buf, residual: residual?.buf }, { M: N, N: Out, K: In, transB: true, bType: wType });
  const saved = adapters.map(({ A, B, scale, col0 = 0, dropout: d }) => {
    let xd = x;
    if (d && d.p > 0) {
      xd = new Tensor([N, In]);
      dropout(xd.buf, x.buf, N * In, d);
    }
    const r = A.shape[0];
    const u = new Tensor([N, r]);
    matmul({ a: xd.buf, b: A.buf, c: u.buf }, { M: N, N: r, K: In, transB: true });
    matmul({ a: u.buf, b: B.buf, c: y.buf }, { M: N, N: B.shape[0], K: r, transB: true, alpha: scale, accumulate: true, ldc: Out, offsetC: col0 });
    return { xd, u };
  });

  const inputs = [x, ...adapters.flatMap((a) => [a.A, a.B]), ...(residual ? [residual] : [])];
  return record("loraLinear", inputs, y, (dy) => {
    let dx: Tensor | undefined;
    if (x.requiresGrad) {
      dx = new Tensor([N, In]);
      matmul({ a: dy.buf, b: w.buf, c: dx.buf }, { M: N, N: In, K: Out, bType: wType });
    }
    const grads = adapters.flatMap(({ A, B, scale, col0 = 0, dropout: d }, i) => {
      const { xd, u } = saved[i];
      const [rows, r] = B.shape;
      const slice = { lda: Out, offsetA: col0 }; // dy_i: columns [col0, col0 + rows) of dy
      let dBOut: Tensor | undefined;
      if (B.requiresGrad) {
        const dB = weightGrad(B);
        matmul({ a: dy.buf, b: u.buf, c: dB.grad.buf }, { M: rows, N: r, K: N, transA: true, alpha: scale, accumulate: dB.accumulate, ...slice });
        dBOut = dB.returned;
      }
      const du = new Tensor([N, r]);
      matmul({ a: dy.buf, b: B.buf, c: du.buf }, { M: N, N: r, K: rows, alpha: scale, ...slice });
      let dAOut: Tensor | undefined;
      if (A.requiresGrad) {
        const dA = weightGrad(A);
        matmul({ a: du.buf, b: xd.buf, c: dA.grad.buf }, { M: r, N: In, K: N, transA: true, accumulate: dA.accumulate });
        dAOut = dA.returned;
      }
      if (dx) {
        if (d && d.p > 0) {
          const dxd = new Tensor([N, In]);
          matmul({ a: du.buf, b: A.buf, c: dxd.buf }, { M: N, N: In, K: r });
          dropout(xd.buf, dxd.buf, N * In, d); // xd is not needed any more: reuse it
          addInPlace(dx.buf, xd.buf, N * In);
          dxd.release();
        } else {
          matmul({ a: du.buf, b: A.buf, c: dx.buf }, { M: N, N: In, K: r, accumulate: true });
        }
      }
      du.release();
      return [dAOut, dBOut];
    });
    return [dx, ...grads, ...(residual ? [dy] : [])];
  });
}

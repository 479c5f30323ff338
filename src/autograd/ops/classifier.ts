// tokenLogprobs: the fused classifier. log π(target | h) for every row, without materialising the
// [N, V] log-probabilities: logits = h·Wᵀ per chunk of rows, then log-softmax-gather.
//   h [N, C], W [V, C], targets i32 [N] (−1: ignored, log-prob 0) → logprob [N]
//   optional temperature f32 [N]: row n scores log softmax(h_n·Wᵀ / τ_n) (default 1 everywhere),
//   the distribution a sampler at τ_n drew from; gradients flow through the 1/τ_n scaling.
// Rows are processed in chunks whose [rows, V] logits fit one storage binding (Qwen's V = 151,936
// allows ~220 rows per 128 MiB); the backward recomputes each chunk's logits (like llm.c's fused
// classifier it never keeps them), turns them into dlogits = g·(onehot − softmax) in place, then
//   dh = dlogits·W (NN) and dW += dlogitsᵀ·h (TN). A frozen W may be stored as f16 or bf16.
import { acquire, type Buf, release } from "../../gpu/buffer.ts";
import { gpu } from "../../gpu/device.ts";
import { stridedCopy } from "../../kernels/copy.ts";
import { fill } from "../../kernels/elementwise.ts";
import { logSoftmaxGather, logSoftmaxGatherBackward } from "../../kernels/logsoftmax.ts";
import { matmul } from "../../kernels/matmul.ts";
import { record, weightGrad } from "../tape.ts";
import { storageType, Tensor } from "../tensor.ts";

/** Default bytes of one chunk of logits (under WebGPU's smallest maxStorageBufferBindingSize, 128 MiB). */
export const CLASSIFIER_CHUNK_BYTES = 64 << 20;

/** Rows of N whose [rows, V] f32 logits fit `limitBytes` (at least one). */
export const rowsWithin = (N: number, V: number, limitBytes: number) => Math.max(1, Math.min(N, Math.floor(limitBytes / (V * 4))));

/** Rows per chunk: the logits of a chunk stay within one binding and within `budgetBytes`. */
export function classifierChunkRows(N: number, V: number, budgetBytes = CLASSIFIER_CHUNK_BYTES): number {
  return rowsWithin(N, V, Math.min(budgetBytes, gpu().limits.maxStorageBufferBindingSize));
}

export function tokenLogprobs(
  h: Tensor,
  w: Tensor,
  targets: Tensor,
  opts: { chunkRows?: number; temperature?: Tensor } = {},
): Tensor {
  const [N, C] = h.shape;
  const [V, WC] = w.shape;
  if (h.shape.length !== 2 || WC !== C) throw new Error(`tokenLogprobs: h [${h.shape}] does not match W [${w.shape}]`);
  if (targets.size !== N || targets.dtype !== "i32") throw new Error(`tokenLogprobs: targets must be i32 [${N}]`);
  const bType = storageType(w);
  if (bType !== "f32" && w.requiresGrad) throw new Error(`tokenLogprobs: ${w.name ?? "W"} is stored as ${bType}; only a frozen W may be`);
  if (opts.temperature && (opts.temperature.size !== N || opts.temperature.dtype !== "f32")) {
    throw new Error(`tokenLogprobs: temperature must be f32 [${N}], got ${opts.temperature.dtype} [${opts.temperature.shape}]`);
  }
  const rows = opts.chunkRows ?? classifierChunkRows(N, V);
  const out = new Tensor([N]);
  const lse = new Tensor([N]);
  const temperature = opts.temperature ?? ones(N);
  const logits = acquire(rows * V * 4);
  forEachChunk(N, rows, C, h.buf, targets.buf, temperature.buf, (n, hc, tc, tauc, r0) => {
    matmul({ a: hc, b: w.buf, c: logits }, { M: n, N: V, K: C, transB: true, bType });
    const lp = acquire(n * 4);
    const ls = acquire(n * 4);
    logSoftmaxGather({ logits, targets: tc, temperature: tauc, logprob: lp, lse: ls }, { N: n, V });
    stridedCopy(lp, out.buf, { rows: 1, cols: n, srcStride: n, dstStride: n, dstOffset: r0 });
    stridedCopy(ls, lse.buf, { rows: 1, cols: n, srcStride: n, dstStride: n, dstOffset: r0 });
    release(lp);
    release(ls);
  });
  release(logits);
  return record("tokenLogprobs", [h, w], out, (g) => {
    const dh = h.requiresGrad ? new Tensor([N, C]) : undefined;
    const dw = w.requiresGrad ? weightGrad(w) : undefined;
    let first = true;
    const dlogits = acquire(rows * V * 4);
    forEachChunk(N, rows, C, h.buf, targets.buf, temperature.buf, (n, hc, tc, tauc, r0) => {
      const gc = sub(g.buf, r0, n, 1);
      const lc = sub(lse.buf, r0, n, 1);
      matmul({ a: hc, b: w.buf, c: dlogits }, { M: n, N: V, K: C, transB: true, bType });
      logSoftmaxGatherBackward({ logits: dlogits, targets: tc, temperature: tauc, lse: lc, dlogprob: gc, dlogits }, { N: n, V });
      if (dh) {
        const dhc = acquire(n * C * 4);
        matmul({ a: dlogits, b: w.buf, c: dhc }, { M: n, N: C, K: V, bType });
        stridedCopy(dhc, dh.buf, { rows: n, cols: C, srcStride: C, dstStride: C, dstOffset: r0 * C });
        release(dhc);
      }
      if (dw) {
        matmul({ a: dlogits, b: hc, c: dw.grad.buf }, { M: V, N: C, K: n, transA: true, accumulate: dw.accumulate || !first });
      }
      first = false;
      if (gc !== g.buf) release(gc);
      if (lc !== lse.buf) release(lc);
    });
    release(dlogits);
    return [dh, dw?.returned];
  });
}

/** Calls fn(n, hChunk, targetsChunk, temperatureChunk, row0) per chunk; a single chunk uses the buffers themselves. */
function forEachChunk(
  N: number,
  rows: number,
  C: number,
  h: Buf,
  targets: Buf,
  temperature: Buf,
  fn: (n: number, h: Buf, targets: Buf, temperature: Buf, row0: number) => void,
): void {
  for (let r0 = 0; r0 < N; r0 += rows) {
    const n = Math.min(rows, N - r0);
    const hc = sub(h, r0, n, C);
    const tc = sub(targets, r0, n, 1);
    const tauc = sub(temperature, r0, n, 1);
    fn(n, hc, tc, tauc, r0);
    if (hc !== h) release(hc);
    if (tc !== targets) release(tc);
    if (tauc !== temperature) release(tauc);
  }
}

/** [n] ones: the temperature when none is given. */
function ones(n: number): Tensor {
  const t = new Tensor([n]);
  fill(t.buf, 1, n);
  return t;
}

/** Rows [r0, r0 + n) of a [*, cols] buffer: the buffer itself when that is all of it, else a copy. */
function sub(b: Buf, r0: number, n: number, cols: number): Buf {
  if (r0 === 0 && n * cols * 4 >= b.size) return b;
  const c = acquire(n * cols * 4);
  stridedCopy(b, c, { rows: n, cols, srcStride: cols, dstStride: cols, srcOffset: r0 * cols });
  return c;
}

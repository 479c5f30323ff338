// GB/s of the memory-bound ops of a Llama layer (RMSNorm, RoPE, SwiGLU, embedding, elementwise,
// reductions) at transformer shapes: Qwen2.5-0.5B and Llama-3.2-1B at B = 16, T = 512 (N = 8192 tokens),
// or in quick mode a tiny d = 256 model at N = 1024. Bytes are each op's compulsory traffic (every
// input read once, every output written once); the `copy` row is the practical roof.
import { acquire, type Buf, release } from "../gpu/buffer.ts";
import { upload } from "../gpu/recorder.ts";
import { timeGpu } from "../gpu/timing.ts";
import { add, addBias, axpy, copy, fill } from "../kernels/elementwise.ts";
import { embeddingBackward, embeddingForward } from "../kernels/embedding.ts";
import { colSum, segmentSum, sum } from "../kernels/reduce.ts";
import { rmsnormBackward, rmsnormForward } from "../kernels/rmsnorm.ts";
import { ropeInvFreq, ropeQkvBackward, ropeQkvForward } from "../kernels/rope.ts";
import { swigluBackward, swigluForward } from "../kernels/swiglu.ts";
import type { Bench, BenchRow } from "./types.ts";

interface Model {
  name: string;
  B: number;
  T: number;
  C: number;
  I: number;
  Hq: number;
  Hkv: number;
  D: number;
  V: number;
  theta: number;
}

const TINY: Model = { name: "tiny d=256", B: 8, T: 128, C: 256, I: 768, Hq: 4, Hkv: 4, D: 64, V: 4096, theta: 10_000 };
const QWEN: Model = { name: "Qwen2.5-0.5B", B: 16, T: 512, C: 896, I: 4864, Hq: 14, Hkv: 2, D: 64, V: 151_936, theta: 1_000_000 };
const LLAMA: Model = { name: "Llama-3.2-1B", B: 16, T: 512, C: 2048, I: 8192, Hq: 32, Hkv: 8, D: 64, V: 128_256, theta: 500_000 };

/** A buffer of n f32 values, filled with small pseudo-random values (no NaNs or denormals). */
function randomBuf(n: number, held: Buf[]): Buf {
  const b = acquire(n * 4);
  const chunk = new Float32Array(Math.min(n, 1 << 20));
  for (let i = 0; i < chunk.length; i++) chunk[i] = Math.sin(i * 12.9898) * 0.5;
  for (let o = 0; o < n; o += chunk.length) upload(b, chunk.subarray(0, Math.min(chunk.length, n - o)), o * 4);
  held.push(b);
  return b;
}

export const benchLayerOps: Bench = async ({ quick }) => {
  const rows: BenchRow[] = [];
  const opts = quick ? { warmup: 1, iters: 3 } : { warmup: 2, iters: 10 };
  for (const m of quick ? [TINY] : [QWEN, LLAMA]) {
    const held: Buf[] = [];
    const free = (...bufs: Buf[]) => bufs.forEach((b) => release(held.splice(held.indexOf(b), 1)[0]));
    const N = m.B * m.T;
    const { C, I, Hq, Hkv, D, V } = m;
    const time = async (name: string, shape: string, bytes: number, record: () => void, note?: string) => {
      const t = await timeGpu(record, opts);
      rows.push({ name, shape: `${m.name}: ${shape}`, ms: t.ms, rate: bytes / (t.ms * 1e6), unit: "GB/s", timing: t.source, note });
    };
    const NC = `N=${N} C=${C}`;

    // RMSNorm
    const x = randomBuf(N * C, held);
    const w = randomBuf(C, held);
    const y = randomBuf(N * C, held);
    const rstd = randomBuf(N, held);
    const dw = randomBuf(C, held);
    await time("rmsnorm forward", NC, (2 * N * C + C + N) * 4, () => rmsnormForward(y, rstd, x, w, { N, C, eps: 1e-6 }));
    const dx = randomBuf(N * C, held);
    await time("rmsnorm backward", NC, (4 * N * C + C + N) * 4, () =>
      rmsnormBackward(dx, dw, y, x, w, rstd, { N, C, eps: 1e-6 }, { accumulateDx: true, accumulateDw: true }),
      "dx and dw accumulated",
    );

    // RoPE out of the fused q/k/v projection (q, k rotated; v copied), and its backward into dqkv
    const qkv = randomBuf(N * (Hq + 2 * Hkv) * D, held);
    const qkvOut = { q: randomBuf(N * Hq * D, held), k: randomBuf(N * Hkv * D, held), v: randomBuf(N * Hkv * D, held) };
    const pos = acquire(N * 4);
    held.push(pos);
    upload(pos, Int32Array.from({ length: N }, (_, i) => i % m.T));
    const inv = acquire((D / 2) * 4);
    held.push(inv);
    upload(inv, ropeInvFreq({ rope_theta: m.theta, head_dim: D }));
    const ropeShape = { B: m.B, T: m.T, Hq, Hkv, D };
    const ropeBytes = 2 * N * (Hq + 2 * Hkv) * D * 4;
    await time("rope forward (from qkv)", `N=${N} Hq=${Hq} Hkv=${Hkv} D=${D}`, ropeBytes, () => ropeQkvForward(qkvOut, qkv, pos, inv, ropeShape));
    const grads = { dq: qkvOut.q, dk: qkvOut.k, dv: qkvOut.v };
    await time("rope backward (into dqkv)", `N=${N} Hq=${Hq} Hkv=${Hkv} D=${D}`, ropeBytes, () => ropeQkvBackward(qkv, grads, pos, inv, ropeShape));

    // SwiGLU
    const gate = randomBuf(N * I, held);
    const up = randomBuf(N * I, held);
    const h = randomBuf(N * I, held);
    await time("swiglu forward", `N=${N} I=${I}`, 3 * N * I * 4, () => swigluForward(h, { gate, up }, { N, I }));
    const dgate = randomBuf(N * I, held);
    const dup = randomBuf(N * I, held);
    await time("swiglu backward", `N=${N} I=${I}`, 5 * N * I * 4, () => swigluBackward({ gate: dgate, up: dup }, h, { gate, up }, { N, I }));
    free(gate, up, h, dgate, dup);

    // Embedding: ids spread over the vocabulary with repeats (every 4th token shares one id)
    const W = randomBuf(V * C, held);
    const ids = acquire(N * 4);
    held.push(ids);
    const idv = Int32Array.from({ length: N }, (_, n) => (n % 4 === 0 ? 13 : (n * 7919) % V));
    upload(ids, idv);
    const unique = new Set(idv).size;
    await time("embedding forward", `N=${N} V=${V} C=${C}`, (2 * N * C + N) * 4, () => embeddingForward(y, ids, W, { N, V, C }));
    await time("embedding backward", `N=${N} V=${V} C=${C}`, (N * C + 2 * unique * C + N) * 4, () => embeddingBackward(W, y, ids, { N, V, C }, { accumulate: true }),
      `accumulate; ${unique} distinct ids; includes the N² rank sort`,
    );
    free(W);

    // Elementwise and reductions over the residual stream [N, C]
    const n = N * C;
    await time("add (residual)", NC, 3 * n * 4, () => add(y, x, dx, n));
    await time("bias add", NC, (3 * n) * 4 + C * 4, () => addBias(y, x, w, { N, C }));
    await time("axpy", NC, 3 * n * 4, () => axpy(y, x, 0.5, n));
    await time("copy", NC, 2 * n * 4, () => copy(y, x, n));
    await time("fill", NC, n * 4, () => fill(y, 0, n));
    await time("sum of squares", NC, n * 4, () => sum(rstd, x, n, { squares: true }));
    await time("colSum (bias grad)", NC, (n + C) * 4, () => colSum(dw, x, { N, C }));
    const ranges = acquire(2 * m.B * 4);
    held.push(ranges);
    upload(ranges, Int32Array.from({ length: 2 * m.B }, (_, i) => (i % 2 ? m.T : i % m.T)));
    await time("segmentSum", `B=${m.B} T=${m.T}`, m.B * m.T * 4, () => segmentSum(rstd, x, ranges, { B: m.B, T: m.T }), "latency bound");
    for (const b of held) release(b);
  }
  return rows;
};

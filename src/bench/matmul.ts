// Matmul benchmark: 1024³ NN/NT against tfjs-webgpu on the same adapter, then the matmuls of one
// transformer layer at Qwen2.5-0.5B shapes (C = 896, 14 q heads + 2 kv heads of D = 64, MLP 4864,
// vocab 151,936; B·T = 16·512 rows), forward (NT), backward (NN for dx, TN accumulate for dW), the
// lm-head over the full vocab (weight over the binding limit: windows), f16 weights, and one
// Llama-3.2-1B MLP shape.
import { acquire, type Buf, release } from "../gpu/buffer.ts";
import { gpu, isCpuAdapter } from "../gpu/device.ts";
import { upload } from "../gpu/recorder.ts";
import { timeGpu } from "../gpu/timing.ts";
import { matmul, matmulFlops, type MatmulDType, type MatmulShape } from "../kernels/matmul.ts";
import { peerMatMul } from "./tfjs-peer.ts";
import type { Bench, BenchRow } from "./types.ts";

/** A buffer of n values of a fixed pseudo-random pattern in [-0.5, 0.5), as f32, f16 or bf16 (truncated). */
function filled(n: number, type: MatmulDType = "f32"): Buf {
  const data = type === "f16" ? new Float16Array(n + (n % 2)) : new Float32Array(n + (n % 2));
  const period = Math.min(n, 4093);
  for (let i = 0; i < period; i++) data[i] = (((i * 2654435761) >>> 0) / 2 ** 31 - 1) * 0.5;
  for (let done = period; done < n; done *= 2) data.copyWithin(done, 0, Math.min(done, n - done));
  const b = acquire(n * (type === "f32" ? 4 : 2));
  upload(b, type === "bf16" ? Uint16Array.from(new Uint32Array(data.buffer), (u) => u >>> 16) : data);
  return b;
}

const shapeText = (s: MatmulShape) =>
  `M=${s.M} N=${s.N} K=${s.K}${s.transA ? " Aᵀ" : ""}${s.transB ? " Bᵀ" : ""}` +
  `${s.aType && s.aType !== "f32" ? ` A:${s.aType}` : ""}${s.bType && s.bType !== "f32" ? ` B:${s.bType}` : ""}${s.accumulate ? " +=C" : ""}`;

/** Iterations so that one timed run is about `budgetMs` at an assumed `gflops` (at least 1). */
const itersFor = (flops: number, budgetMs: number, gflops: number) => Math.max(1, Math.min(20, Math.round(budgetMs / (flops / gflops / 1e6))));

/** Times one matmul of `s` on fresh operands (with a bias when `bias`). */
async function timeMatmul(s: MatmulShape, opts: { bias?: boolean; wall?: boolean; iters: number; warmup?: number }) {
  const [ra, ca] = s.transA ? [s.K, s.M] : [s.M, s.K];
  const [rb, cb] = s.transB ? [s.N, s.K] : [s.K, s.N];
  const a = filled(ra * ca, s.aType);
  const b = filled(rb * cb, s.bType);
  const c = filled(s.M * s.N);
  const bias = opts.bias ? filled(s.N) : undefined;
  try {
    return await timeGpu(() => matmul({ a, b, c, bias }, s), { warmup: opts.warmup ?? 1, iters: opts.iters, wall: opts.wall });
  } finally {
    for (const x of [a, b, c, bias]) if (x) release(x);
  }
}

export const benchMatmul: Bench = async ({ quick }) => {
  const rows: BenchRow[] = [];
  const cpu = isCpuAdapter();
  const variant = cpu ? "direct" : "tiled";
  const assumed = cpu ? 5 : 5000; // GFLOP/s, only to size the iteration counts of the full run

  // 1024³ against tfjs-webgpu: both wall clock (see tfjs-peer.ts), interleaved, best of `rounds`.
  const n = 1024;
  const rounds = quick ? 1 : 3;
  const iters = quick ? 1 : 5;
  for (const transB of [false, true]) {
    const s: MatmulShape = { M: n, N: n, K: n, transB };
    let ours = Infinity;
    let theirs = Infinity;
    for (let r = 0; r < rounds; r++) {
      ours = Math.min(ours, (await timeMatmul(s, { wall: true, iters })).ms);
      theirs = Math.min(theirs, await peerMatMul(n, n, n, transB, { warmup: 1, iters }));
    }
    const flops = matmulFlops(s);
    rows.push({
      name: `matmul ${transB ? "NT" : "NN"} f32 (${variant})`,
      shape: shapeText(s),
      ms: ours,
      rate: flops / ours / 1e6,
      unit: "GFLOP/s",
      timing: "wall",
      peer: { name: "tfjs-webgpu matMul", ms: theirs, rate: flops / theirs / 1e6 },
      note: `both wall clock to queue completion; best of ${rounds} rounds of ${iters}`,
    });
  }

  // One transformer layer, Qwen2.5-0.5B; B·T = 16·512 rows (quick: 128 rows).
  const BT = quick ? 128 : 16 * 512;
  const lmRows = quick ? 8 : 256;
  const C = 896, Hq = 14, Hkv = 2, D = 64, I = 4864, V = 151_936;
  const layer: [string, MatmulShape, boolean?][] = [
    ["qkv projection (+bias)", { M: BT, N: (Hq + 2 * Hkv) * D, K: C, transB: true }, true],
    ["attention output", { M: BT, N: C, K: Hq * D, transB: true }],
    ["mlp up (gate, up each)", { M: BT, N: I, K: C, transB: true }],
    ["mlp down", { M: BT, N: C, K: I, transB: true }],
    ["mlp down backward dx", { M: BT, N: I, K: C }],
    ["mlp down backward dW", { M: C, N: I, K: BT, transA: true, accumulate: true }],
    ["qkv projection f16 weight", { M: BT, N: (Hq + 2 * Hkv) * D, K: C, transB: true, bType: "f16" }, true],
    ["mlp up f16 weight", { M: BT, N: I, K: C, transB: true, bType: "f16" }],
    // The vocab projection for a chunk of rows: W [V, C] is 544 MB in f32, 272 MB in f16 (windows).
    ["lm-head (W in binding windows)", { M: lmRows, N: V, K: C, transB: true }],
    ["lm-head f16 weight (windows)", { M: lmRows, N: V, K: C, transB: true, bType: "f16" }],
    // Llama-3.2-1B MLP up: C = 2048, intermediate 8192.
    ["llama-3.2-1B mlp up", { M: BT, N: 8192, K: 2048, transB: true }],
  ];
  for (const [name, s, bias] of layer) {
    if ((s.aType === "f16" || s.bType === "f16") && !gpu().hasF16) continue;
    const flops = matmulFlops(s);
    const t = await timeMatmul(s, { bias, iters: quick ? 1 : itersFor(flops, 3000, assumed) });
    rows.push({
      name: `${name} (${variant})`,
      shape: shapeText(s),
      ms: t.ms,
      rate: flops / t.ms / 1e6,
      unit: "GFLOP/s",
      timing: t.source,
      note: quick ? `quick: ${s.M === lmRows ? `${lmRows} rows instead of 256` : `B·T = ${BT} instead of 8192`}` : undefined,
    });
  }
  return rows;
};

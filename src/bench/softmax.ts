// Benchmarks for the softmax family: row softmax (attention-score and vocab shapes, beside the
// tfjs-webgpu peer), the fused log-softmax gather (forward, backward, in place), AdamW with and
// without GPU-side clipping, the global grad norm, and the sampler.
//
// Rates are effective bandwidth: the bytes a kernel must move at least once (each input read once,
// each output written once) over its time, so a kernel that re-reads a row from cache scores as if
// it had not. Full mode: Qwen2.5-0.5B shapes (B = 16, T = 512, 14 heads, V = 151,936, 494M params);
// quick mode: reduced shapes that run in seconds on a CPU adapter.
import { acquire, type Buf, release } from "../gpu/buffer.ts";
import { upload } from "../gpu/recorder.ts";
import { timeGpu } from "../gpu/timing.ts";
import { adamw, gradNormSquares } from "../kernels/adamw.ts";
import { fill } from "../kernels/elementwise.ts";
import { logSoftmaxGather, logSoftmaxGatherBackward } from "../kernels/logsoftmax.ts";
import { sample } from "../kernels/sample.ts";
import { softmax, softmaxBackward } from "../kernels/softmax.ts";
import { peerSoftmax } from "./tfjs-peer.ts";
import type { Bench, BenchRow } from "./types.ts";

const V_QWEN = 151936;
const QWEN_PARAMS = 494_032_768;

export const benchSoftmax: Bench = async ({ quick }) => {
  const rows: BenchRow[] = [];
  const iters = quick ? 3 : 20;
  const reduced = quick ? "quick: reduced shape" : undefined;

  // Row softmax: attention scores [B·H·T, T] and vocab rows [N, V], forward with the peer, and backward.
  const softmaxShapes: { what: string; rows: number; cols: number }[] = quick
    ? [
        { what: "B·H·T, T", rows: 2 * 14 * 128, cols: 128 },
        { what: "N, V", rows: 4, cols: V_QWEN },
      ]
    : [
        { what: "B·H·T, T", rows: 16 * 14 * 512, cols: 512 },
        { what: "N, V", rows: 256, cols: V_QWEN },
      ];
  for (const { what, rows: r, cols: c } of softmaxShapes) {
    const bytes = r * c * 4;
    await withBufs([bytes, bytes, bytes, bytes], async ([x, y, dy, dx]) => {
      const fwd = await timeGpu(() => softmax({ x, y }, { rows: r, cols: c }), { iters });
      const peerMs = await peerSoftmax(r, c);
      rows.push({
        name: "softmax fwd",
        shape: `[${what}] = [${r}, ${c}]`,
        ms: fwd.ms,
        rate: gbps(2 * bytes, fwd.ms),
        unit: "GB/s",
        timing: fwd.source,
        peer: { name: "tfjs-webgpu", ms: peerMs, rate: gbps(2 * bytes, peerMs) },
        note: reduced,
      });
      const bwd = await timeGpu(() => softmaxBackward({ y, dy, dx }, { rows: r, cols: c }), { iters });
      rows.push(row("softmax bwd", `[${what}] = [${r}, ${c}]`, bwd, gbps(3 * bytes, bwd.ms), reduced));
    });
  }

  // Fused classifier over vocab rows: only [N] vectors out forward; one read + one write backward.
  const N = quick ? 8 : 2048;
  const nv = N * V_QWEN * 4;
  await withBufs([nv, nv, N * 4, N * 4, N * 4, N * 4, N * 4], async ([logits, dlogits, targets, temperature, logprob, lse, dlogprob]) => {
    const shape = { N, V: V_QWEN };
    const label = `N=${N} V=${V_QWEN}`;
    fill(temperature, 1, N);
    const f = await timeGpu(() => logSoftmaxGather({ logits, targets, temperature, logprob, lse }, shape), { iters });
    rows.push(row("logsoftmax gather fwd", label, f, gbps(nv, f.ms), reduced));
    const b = await timeGpu(() => logSoftmaxGatherBackward({ logits, targets, temperature, lse, dlogprob, dlogits }, shape), { iters });
    rows.push(row("logsoftmax gather bwd", label, b, gbps(2 * nv, b.ms), reduced));
    const ip = await timeGpu(() => logSoftmaxGatherBackward({ logits: dlogits, targets, temperature, lse, dlogprob, dlogits }, shape), { iters });
    rows.push(row("logsoftmax gather bwd in place", label, ip, gbps(2 * nv, ip.ms), reduced));
  });

  // AdamW over one flat parameter buffer (7 f32 streams: p, g, m, v read; p, m, v written).
  const n = quick ? 1 << 22 : QWEN_PARAMS;
  await withBufs([n * 4, n * 4, n * 4, n * 4, 4], async ([param, grad, m, v, normSq]) => {
    const label = `n=${n}${quick ? "" : " (Qwen2.5-0.5B)"}`;
    const hyper = { n, step: 10, lr: 1e-5 };
    const a = await timeGpu(() => adamw({ param, grad, m, v }, hyper), { iters });
    rows.push(row("adamw", label, a, gbps(7 * 4 * n, a.ms), reduced));
    const c = await timeGpu(() => adamw({ param, grad, m, v, normSq }, { ...hyper, maxNorm: 1 }), { iters });
    rows.push(row("adamw + clip", label, c, gbps(7 * 4 * n, c.ms), reduced));
    const g = await timeGpu(() => gradNormSquares({ grads: [grad], out: normSq }), { iters });
    rows.push(row("grad norm²", label, g, gbps(4 * n, g.ms), reduced));
  });

  // Sampling a batch of Qwen vocab rows with top-k and top-p (3 radix selects per row).
  const B = 16;
  await withBufs([B * V_QWEN * 4, B * 4, B * 4, B * 4], async ([logits, uniforms, out, logprob]) => {
    const x = new Float32Array(B * V_QWEN);
    for (let i = 0; i < x.length; i++) x[i] = 4 * Math.sin(i * 12.9898) * Math.cos(i * 78.233); // spread logits
    upload(logits, x);
    upload(uniforms, Float32Array.from({ length: B }, (_, i) => (i + 0.5) / B));
    const shape = { B, V: V_QWEN, temperature: 0.7, topK: 50, topP: 0.9 };
    const s = await timeGpu(() => sample({ logits, uniforms, out, logprob }, shape), { iters });
    rows.push(row("sample top-k 50, top-p 0.9", `B=${B} V=${V_QWEN}`, s, (B / s.ms) * 1e3, undefined, "tokens/s"));
  });
  return rows;
};

const gbps = (bytes: number, ms: number) => bytes / ms / 1e6;

function row(
  name: string,
  shape: string,
  t: { ms: number; source: "timestamp" | "wall" },
  rate: number,
  note?: string,
  unit: BenchRow["unit"] = "GB/s",
): BenchRow {
  return { name, shape, ms: t.ms, rate, unit, timing: t.source, note };
}

/** Acquires buffers of the given byte sizes for the body, and releases them after. */
async function withBufs<T>(sizes: number[], body: (bufs: Buf[]) => Promise<T>): Promise<T> {
  const bufs = sizes.map((s) => acquire(s));
  try {
    return await body(bufs);
  } finally {
    bufs.forEach(release);
  }
}

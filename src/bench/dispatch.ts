// The fixed cost of one dispatch, which bounds small-batch decoding: on the CPU, recording it (the
// decode loop's pattern, the same small kernel over the same buffers again and again, recorded back
// to back and timed on the wall clock up to the submit); on the device, running it (the same tiny
// kernel, by GPU timestamps where the adapter has them, else wall clock to queue completion).
import { acquire, release } from "../gpu/buffer.ts";
import { flush, recorderCounters, sync } from "../gpu/recorder.ts";
import { timeGpu } from "../gpu/timing.ts";
import { add } from "../kernels/elementwise.ts";
import type { Bench } from "./types.ts";

export const benchDispatch: Bench = async ({ quick }) => {
  const n = 16 * 128;
  const [a, b, c] = [acquire(n * 4), acquire(n * 4), acquire(n * 4)];
  const per = 1000;
  const rounds = quick ? 3 : 10;
  add(c, a, b, n);
  await sync();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const before = recorderCounters().dispatches;
    const t0 = performance.now();
    for (let i = 0; i < per; i++) add(c, a, b, n);
    const ms = performance.now() - t0;
    if (recorderCounters().dispatches - before !== per) throw new Error("bench dispatch: expected one dispatch per add");
    flush();
    await sync();
    best = Math.min(best, ms);
  }
  const perIter = 100;
  const gpuTime = await timeGpu(() => {
    for (let i = 0; i < perIter; i++) add(c, a, b, n);
  }, quick ? { warmup: 1, iters: 2 } : { warmup: 1, iters: 5 });
  for (const x of [a, b, c]) release(x);
  return [
    {
      name: "dispatch CPU cost",
      shape: `${per} × add n=${n}, same buffers`,
      ms: best / per,
      rate: (best / per) * 1000,
      unit: "µs/dispatch",
      timing: "wall",
      note: `best of ${rounds}; recording only, no GPU time`,
    },
    {
      name: "dispatch device cost",
      shape: `${perIter} × add n=${n}, one pass`,
      ms: gpuTime.ms / perIter,
      rate: (gpuTime.ms / perIter) * 1000,
      unit: "µs/dispatch",
      timing: gpuTime.source,
      note: `${((3 * n * 4) / (gpuTime.ms / perIter) / 1e6).toFixed(2)} GB/s for the 24 KiB each moves`,
    },
  ];
};

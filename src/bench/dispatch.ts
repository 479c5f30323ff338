// CPU cost of recording one dispatch, the per-dispatch overhead that bounds small-batch decoding: the
// decode loop's pattern, the same small kernel over the same buffers again and again (only the
// uniform parameters move), recorded back to back and timed on the wall clock up to the submit.
import { acquire, release } from "../gpu/buffer.ts";
import { flush, recorderCounters, sync } from "../gpu/recorder.ts";
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
  ];
};

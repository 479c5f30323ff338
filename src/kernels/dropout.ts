// Launcher for kernels/dropout.wgsl: seeded inverted dropout, out = x · mask / (1 − p), where the mask
// is a pure function of (seed, element index). The backward of dropout is the same call on the
// gradient with the same seed.
import { bindingWindows, type Buf } from "../gpu/buffer.ts";
import { kernel } from "../gpu/kernel.ts";
import { dispatch } from "../gpu/recorder.ts";
import { checkDims, checkDistinct, checkSize, groups, params, view } from "./launch.ts";

export interface DropoutOptions {
  /** Probability of zeroing an element, in [0, 1). */
  p: number;
  /** 32-bit seed of the mask. */
  seed: number;
}

/** The integer the kernel compares each element's hash against: round(p·2³²), at most 2³² − 1. */
export const dropoutThreshold = (p: number) => Math.min(2 ** 32 - 1, Math.round(p * 2 ** 32));

/** out[i] = x[i] / (1 − p) where hash(seed, i) ≥ threshold, else 0, over n values (out ≠ x). */
export function dropout(out: Buf, x: Buf, n: number, { p, seed }: DropoutOptions): void {
  checkDims("dropout", { n });
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`dropout: seed must be a 32-bit unsigned integer, got ${seed}`);
  checkSize("dropout", "out", out, n);
  checkSize("dropout", "x", x, n);
  checkDistinct("dropout", { out }, { x });
  const pipeline = kernel("dropout");
  for (const w of bindingWindows(n, 4)) {
    dispatch(pipeline, [view(out, w.row0, w.rows), view(x, w.row0, w.rows)], groups(w.rows), params(w.rows, w.row0, seed, dropoutThreshold(p), { f: 1 / (1 - p) }));
  }
}

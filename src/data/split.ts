// Dataset splits. `train` is optimized on, `val` chooses checkpoints and hyperparameters, `test` is
// only reported. Where a corpus ships no validation file, `val` is held out of its training file by a
// fixed seed (`holdOut`), so every run and every training seed sees the same validation problems.
import { Rng, shuffleInPlace } from "./rng.ts";

export const SPLITS = ["train", "val", "test"] as const;
export type Split = (typeof SPLITS)[number];

/** `split` checked to be one of SPLITS; `where` names the argument in the error. */
export function asSplit(split: string, where: string): Split {
  if (!(SPLITS as readonly string[]).includes(split)) {
    throw new Error(`${where}: split must be one of ${SPLITS.join(", ")}, got "${split}"`);
  }
  return split as Split;
}

/**
 * `count` items chosen by a seeded draw as `held`, the rest as `kept`; both keep the original order.
 * `count`: an integer in [0, items.length].
 */
export function holdOut<T>(items: readonly T[], count: number, seed: number): { kept: T[]; held: T[] } {
  if (!Number.isInteger(count) || count < 0 || count > items.length) {
    throw new Error(`holdOut: count must be an integer in [0, ${items.length}], got ${count}`);
  }
  const order = shuffleInPlace(Array.from(items, (_, i) => i), new Rng(seed), count);
  const isHeld = new Uint8Array(items.length);
  for (let i = 0; i < count; i++) isHeld[order[i]] = 1;
  return {
    kept: items.filter((_, i) => !isHeld[i]),
    held: items.filter((_, i) => isHeld[i]),
  };
}

/** A dataset that has no file for the split asked for (e.g. `jsonl:PATH` without `{split}` asked for test). */
export class MissingSplitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingSplitError";
  }
}

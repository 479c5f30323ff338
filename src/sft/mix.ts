// A seeded, endless stream of training sequences drawn from two pools: each draw takes pool A with
// probability `mixA`, else pool B, and each pool is read in a fresh seeded permutation per pass, so
// every example of a pool is seen once before any is seen twice. The same seed gives the same stream.
import { Rng, shuffled } from "../data/rng.ts";

interface Cursor<T> {
  items: readonly T[];
  /** This pass's permutation of `items`. */
  order: T[];
  next: number;
  pass: number;
}

export class MixedStream<T> {
  private readonly rng: Rng;
  private readonly pools: [Cursor<T>, Cursor<T>];

  constructor(
    a: readonly T[],
    b: readonly T[],
    private readonly mixA: number,
    private readonly seed: number,
  ) {
    if (!(mixA >= 0 && mixA <= 1)) throw new Error(`MixedStream: mixA must be in [0, 1], got ${mixA}`);
    if ((mixA > 0 && a.length === 0) || (mixA < 1 && b.length === 0)) throw new Error("MixedStream: a pool that is drawn from is empty");
    this.rng = Rng.stream(seed, "pool-choice");
    this.pools = [
      { items: a, order: [], next: 0, pass: -1 },
      { items: b, order: [], next: 0, pass: -1 },
    ];
  }

  next(): T {
    const which = this.rng.next() < this.mixA ? 0 : 1;
    const c = this.pools[which];
    if (c.next >= c.order.length) {
      c.pass++;
      c.order = shuffled(c.items, Rng.stream(this.seed, `pool-${which}-order`, c.pass));
      c.next = 0;
    }
    return c.order[c.next++];
  }
}

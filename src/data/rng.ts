// Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna), its 128-bit state filled from the
// seed by splitmix32. Everything that must be reproducible from a seed (data order, held-out splits,
// sampling, initialisation, test inputs) draws from an `Rng`, never from Math.random.
//
// Streams derived from one seed are keyed, not computed: `Rng.stream(seed, "rollout", step)` hashes
// (seed, purpose, index) with splitmix64, so two purposes or two indices never share a stream, as
// arithmetic on the seed (seed·K + step) can.

/** A deterministic stream of pseudo-random numbers; the same seed always gives the same stream. */
export class Rng {
  private readonly s = new Uint32Array(4);

  /** `seed`: any integer in [-2^53, 2^53]; it is reduced modulo 2^32. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`Rng: seed must be a safe integer, got ${seed}`);
    }
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      this.s[i] = z ^ (z >>> 15);
    }
  }

  /** The stream named `purpose` (and `index`, e.g. an update or an epoch) of run seed `seed`. */
  static stream(seed: number, purpose: string, index = 0): Rng {
    if (!Number.isSafeInteger(index) || index < 0) throw new Error(`Rng.stream: index must be a non-negative integer, got ${index}`);
    const rng = new Rng(seed); // validates the seed; its state is replaced below
    let h = splitmix64(BigInt.asUintN(64, BigInt(seed)));
    h = splitmix64(h ^ fnv1a64(purpose));
    h = splitmix64(h ^ BigInt(index));
    for (let i = 0; i < 4; i += 2) {
      h = splitmix64(h);
      rng.s[i] = Number(h & 0xffffffffn);
      rng.s[i + 1] = Number(h >> 32n);
    }
    if (rng.s.every((w) => w === 0)) rng.s[0] = 1; // xoshiro's one forbidden state
    return rng;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** A uniform integer in [0, n), without modulo bias. `n`: an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) {
      throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 2 ** 32 - (2 ** 32 % n);
    let r = this.nextUint32();
    while (r >= limit) r = this.nextUint32();
    return r % n;
  }
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

const MASK64 = (1n << 64n) - 1n;

function splitmix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK64;
  return h;
}

/**
 * Fisher–Yates from the front, in place: after it the first `count` entries are a uniform random
 * sample of `items` in random order (all of it, a uniform permutation, when `count` is the length).
 */
export function shuffleInPlace<T>(items: T[], rng: Rng, count = items.length): T[] {
  const n = items.length;
  for (let i = 0; i < Math.min(count, n - 1); i++) {
    const j = i + rng.int(n - i);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** A copy of `items` in a seeded uniform random order; `items` is left untouched. */
export function shuffled<T>(items: readonly T[], seed: number | Rng): T[] {
  return shuffleInPlace(items.slice(), typeof seed === "number" ? new Rng(seed) : seed);
}

// Shared test utilities: seeded random inputs, GPU round trips, and error metrics against float64.
import { Rng } from "../src/data/rng.ts";
import { initGpu } from "../src/gpu/device.ts";
import { acquire, type Buf } from "../src/gpu/buffer.ts";
import { downloadF32, upload } from "../src/gpu/recorder.ts";

export const setupGpu = () => initGpu();

/** Uniform [0, 1) draws from the project's PRNG, so every test input is reproducible from its seed. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** n normal(0, scale) values in float64 (Box–Muller), rounded to f32 so the reference sees what the GPU sees. */
export function randn(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.fround(scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()));
  }
  return out;
}

export function randu(n: number, seed: number, lo = 0, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * r()));
}

export function toGpu(data: ArrayLike<number>): Buf {
  const f = Float32Array.from(data);
  const b = acquire(f.byteLength);
  upload(b, f);
  return b;
}

export function toGpuI32(data: ArrayLike<number>): Buf {
  const f = Int32Array.from(data);
  const b = acquire(f.byteLength);
  upload(b, f);
  return b;
}

export const fromGpu = (b: Buf, count?: number) => downloadF32(b, count);

/** max |got − want| / (max |want| + tiny): the relative error of a whole tensor, as llm.c reports it. */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`relError: length ${got.length} != ${want.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : d;
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / (den + 1e-30);
}

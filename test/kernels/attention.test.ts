import { expect, test } from "bun:test";
import { acquire } from "../../src/gpu/buffer.ts";
import {
  attentionDecode,
  type FlashEntry,
  type FlashTiles,
  flashAttentionBackward,
  flashAttentionForward,
} from "../../src/kernels/attention.ts";
import { attentionBackwardRef, attentionRef, type RefShape } from "../reference/attention.ts";
import { fromGpu, randn, relError, setupGpu, toGpu, toGpuI32 } from "../helpers.ts";

// Tolerances, relative to the largest reference value of the tensor (helpers.relError):
const FWD_TOL = 1e-5; // o, lse: f32 dot products of length D and online-softmax sums of ≤ T terms
const BWD_TOL = 1e-4; // dq, dk, dv: sums over T of products of recomputed probabilities
const FD_TOL = 1e-6; // f64 reference backward vs central differences (h = 1e-5)

// First compilation of each pipeline dominates this file's time on lavapipe (LLVM), so the cases share
// few (entry, D, tiling) combinations.
const TIMEOUT = 600_000;

interface Case extends RefShape {
  validStart: number[];
}

// Odd T, D ∈ {6, 8, 16, 64} (6: not a multiple of 4), GQA ratios 1/2/4, left padding (incl. padding
// past a whole tile and a row that is all padding but its last query), B > 1, a non-default scale.
const CASES: Case[] = [
  { B: 1, T: 1, Hq: 1, Hkv: 1, D: 8, validStart: [0] }, // dq = dk = 0 exactly (one key: dO·v = delta)
  { B: 2, T: 7, Hq: 2, Hkv: 1, D: 6, validStart: [0, 3] },
  { B: 2, T: 33, Hq: 4, Hkv: 1, D: 8, validStart: [5, 0] },
  { B: 1, T: 70, Hq: 4, Hkv: 2, D: 64, validStart: [0] },
  { B: 3, T: 130, Hq: 2, Hkv: 2, D: 16, validStart: [0, 66, 129], scale: 0.3 },
];

// The GPU tiling (64-invocation workgroups, 4×4 and 4×2 blocks), exercised here on lavapipe too.
const GPU_TILES: Record<FlashEntry, FlashTiles> = {
  forward: { BR: 32, BC: 32, RR: 4, RC: 4 },
  backward_dq: { BR: 32, BC: 16, RR: 4, RC: 2 },
  backward_dkdv: { BR: 32, BC: 16, RR: 4, RC: 2 },
};

const label = (c: Case) => `B=${c.B} T=${c.T} Hq=${c.Hq} Hkv=${c.Hkv} D=${c.D} validStart=${c.validStart}`;

function inputs(c: Case, seed: number) {
  const nq = c.B * c.T * c.Hq * c.D;
  const nk = c.B * c.T * c.Hkv * c.D;
  return { q: randn(nq, seed), k: randn(nk, seed + 1), v: randn(nk, seed + 2), dO: randn(nq, seed + 3) };
}

async function forwardGpu(c: Case, x: ReturnType<typeof inputs>, tiles?: typeof GPU_TILES) {
  const o = acquire(x.q.length * 4);
  const lse = acquire(c.B * c.Hq * c.T * 4);
  flashAttentionForward(
    { q: toGpu(x.q), k: toGpu(x.k), v: toGpu(x.v), validStart: toGpuI32(c.validStart), o, lse },
    { ...c, tiles },
  );
  return { o: await fromGpu(o, x.q.length), lse: await fromGpu(lse, c.B * c.Hq * c.T) };
}

async function backwardGpu(c: Case, x: ReturnType<typeof inputs>, o: ArrayLike<number>, lse: ArrayLike<number>, tiles?: typeof GPU_TILES) {
  const nq = x.q.length;
  const nk = x.k.length;
  const g = { dq: acquire(nq * 4), dk: acquire(nk * 4), dv: acquire(nk * 4) };
  flashAttentionBackward(
    {
      q: toGpu(x.q), k: toGpu(x.k), v: toGpu(x.v), o: toGpu(o), dO: toGpu(x.dO), lse: toGpu(lse),
      validStart: toGpuI32(c.validStart), ...g,
    },
    { ...c, tiles },
  );
  return { dq: await fromGpu(g.dq, nq), dk: await fromGpu(g.dk, nk), dv: await fromGpu(g.dv, nk) };
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

type Grads = Record<"dq" | "dk" | "dv", ArrayLike<number>>;

/** max |got − want| of each gradient over the largest reference gradient of the three (dq and dk vanish when T = 1). */
function gradErrors(got: Grads, want: Grads) {
  const scale = Math.max(maxAbs(want.dq), maxAbs(want.dk), maxAbs(want.dv));
  const err = (a: ArrayLike<number>, b: ArrayLike<number>) => (relError(a, b) * (maxAbs(b) + 1e-30)) / scale;
  return { dq: err(got.dq, want.dq), dk: err(got.dk, want.dk), dv: err(got.dv, want.dv) };
}

test("flashAttentionForward matches the f64 reference (o and lse)", async () => {
  await setupGpu();
  for (const [n, c] of CASES.entries()) {
    const x = inputs(c, 100 * n);
    const want = attentionRef(x.q, x.k, x.v, c.validStart, c);
    const got = await forwardGpu(c, x);
    const errs = { o: relError(got.o, want.o), lse: relError(got.lse, want.lse) };
    expect({ c: label(c), ...errs, ok: errs.o < FWD_TOL && errs.lse < FWD_TOL }).toMatchObject({ ok: true });
    // Pad queries: zero output, lse 0.
    for (let b = 0; b < c.B; b++) {
      for (let i = 0; i < c.validStart[b]; i++) {
        for (let h = 0; h < c.Hq; h++) {
          expect(got.lse[(b * c.Hq + h) * c.T + i]).toBe(0);
          const at = ((b * c.T + i) * c.Hq + h) * c.D;
          expect(maxAbs(got.o.subarray(at, at + c.D))).toBe(0);
        }
      }
    }
  }
}, TIMEOUT);

test("flashAttentionBackward matches the f64 reference backward", async () => {
  await setupGpu();
  for (const [n, c] of CASES.entries()) {
    const x = inputs(c, 100 * n + 7);
    const fwd = attentionRef(x.q, x.k, x.v, c.validStart, c);
    const want = attentionBackwardRef(x.q, x.k, x.v, x.dO, c.validStart, c);
    const errs = gradErrors(await backwardGpu(c, x, fwd.o, fwd.lse), want);
    expect({ c: label(c), ...errs, ok: Math.max(errs.dq, errs.dk, errs.dv) < BWD_TOL }).toMatchObject({ ok: true });
  }
}, TIMEOUT);

test("the GPU tiling (4×4 / 4×2 register blocks) matches the reference too", async () => {
  await setupGpu();
  for (const c of [CASES[2], { ...CASES[2], B: 1, T: 70, Hq: 4, Hkv: 2, validStart: [37] }]) {
    const x = inputs(c, 5);
    const want = attentionRef(x.q, x.k, x.v, c.validStart, c);
    const got = await forwardGpu(c, x, GPU_TILES);
    expect({ c: label(c), o: relError(got.o, want.o) < FWD_TOL, lse: relError(got.lse, want.lse) < FWD_TOL }).toMatchObject({ o: true, lse: true });
    const errs = gradErrors(await backwardGpu(c, x, want.o, want.lse, GPU_TILES), attentionBackwardRef(x.q, x.k, x.v, x.dO, c.validStart, c));
    expect({ c: label(c), ...errs, ok: Math.max(errs.dq, errs.dk, errs.dv) < BWD_TOL }).toMatchObject({ ok: true });
  }
}, TIMEOUT);

test("the backward (reference and GPU) matches finite differences of the f64 forward", async () => {
  await setupGpu();
  const c: Case = { B: 2, T: 5, Hq: 2, Hkv: 1, D: 8, validStart: [1, 0] };
  const x = inputs(c, 42);
  // loss = Σ O ∘ dO, so ∂loss/∂x = the backward with upstream gradient dO.
  const loss = (q: Float64Array, k: Float64Array, v: Float64Array) => {
    const { o } = attentionRef(q, k, v, c.validStart, c);
    return o.reduce((s, y, i) => s + y * x.dO[i], 0);
  };
  const fd = (which: "q" | "k" | "v") => {
    const h = 1e-5;
    return Float64Array.from(x[which], (_, i) => {
      const p = { q: Float64Array.from(x.q), k: Float64Array.from(x.k), v: Float64Array.from(x.v) };
      p[which][i] += h;
      const up = loss(p.q, p.k, p.v);
      p[which][i] -= 2 * h;
      return (up - loss(p.q, p.k, p.v)) / (2 * h);
    });
  };
  const want = { dq: fd("q"), dk: fd("k"), dv: fd("v") };
  const ref = attentionBackwardRef(x.q, x.k, x.v, x.dO, c.validStart, c);
  const refErrs = gradErrors(ref, want);
  expect({ ...refErrs, ok: Math.max(refErrs.dq, refErrs.dk, refErrs.dv) < FD_TOL }).toMatchObject({ ok: true });
  const fwd = attentionRef(x.q, x.k, x.v, c.validStart, c);
  const gpuErrs = gradErrors(await backwardGpu(c, x, fwd.o, fwd.lse), want);
  expect({ ...gpuErrs, ok: Math.max(gpuErrs.dq, gpuErrs.dk, gpuErrs.dv) < BWD_TOL }).toMatchObject({ ok: true });
}, TIMEOUT);

test("attentionDecode matches the forward's last row (reference and GPU), with splits and padding", async () => {
  await setupGpu();
  const decodeCases: (Case & { Tmax: number; chunk?: number })[] = [
    { B: 1, T: 1, Hq: 1, Hkv: 1, D: 16, validStart: [0], Tmax: 4 },
    { B: 3, T: 150, Hq: 4, Hkv: 1, D: 16, validStart: [0, 70, 149], Tmax: 160, chunk: 7 },
    { B: 2, T: 33, Hq: 4, Hkv: 2, D: 64, validStart: [2, 0], Tmax: 40 },
    { B: 2, T: 9, Hq: 2, Hkv: 2, D: 8, validStart: [0, 9], Tmax: 9 }, // second row: all pads → 0
  ];
  for (const [n, c] of decodeCases.entries()) {
    const x = inputs(c, 300 + n);
    const want = attentionRef(x.q, x.k, x.v, c.validStart, c);
    const gpu = await forwardGpu(c, x);
    const { B, T, Hq, Hkv, D, Tmax } = c;
    // Last query row [B, Hq, D]; cache [B, Tmax, Hkv, D] with garbage past T.
    const q = new Float64Array(B * Hq * D);
    const last = new Float64Array(B * Hq * D);
    const lastGpu = new Float64Array(B * Hq * D);
    for (let b = 0; b < B; b++) {
      const at = (b * T + T - 1) * Hq * D;
      q.set(x.q.subarray(at, at + Hq * D), b * Hq * D);
      last.set(want.o.subarray(at, at + Hq * D), b * Hq * D);
      lastGpu.set(gpu.o.subarray(at, at + Hq * D), b * Hq * D);
    }
    const cache = (src: Float64Array, seed: number) => {
      const out = randn(B * Tmax * Hkv * D, seed, 100);
      for (let b = 0; b < B; b++) out.set(src.subarray(b * T * Hkv * D, (b + 1) * T * Hkv * D), b * Tmax * Hkv * D);
      return out;
    };
    const o = acquire(B * Hq * D * 4);
    attentionDecode(
      { q: toGpu(q), kCache: toGpu(cache(x.k, 7)), vCache: toGpu(cache(x.v, 8)), o, validStart: toGpuI32(c.validStart) },
      { B, Hq, Hkv, D, Tmax, length: T, chunk: c.chunk },
    );
    const got = await fromGpu(o, B * Hq * D);
    if (c.validStart[B - 1] >= T) expect(maxAbs(got.subarray((B - 1) * Hq * D))).toBe(0); // all-pad row
    expect({ c: label(c), ref: relError(got, last) < FWD_TOL, gpu: relError(got, lastGpu) < FWD_TOL }).toMatchObject({ ref: true, gpu: true });
  }
}, TIMEOUT);

test("attentionDecode of some rows planned for the full batch (planRows) equals those rows of the full batch, bit for bit", async () => {
  await setupGpu();
  // B = 64 rows × Hkv = 2 give the full batch 8 splits of 25 keys; 2 rows alone would get 16-key splits.
  const [B, Hq, Hkv, D, Tmax] = [64, 2, 2, 8, 200];
  const q = randn(B * Hq * D, 41);
  const k = randn(B * Tmax * Hkv * D, 42);
  const v = randn(B * Tmax * Hkv * D, 43);
  const validStart = Array.from({ length: B }, (_, b) => (b * 37) % 150);
  const decode = async (rows: number[], planRows?: number) => {
    const pick = (x: Float64Array, width: number) => {
      const out = new Float64Array(rows.length * width);
      rows.forEach((r, i) => out.set(x.subarray(r * width, (r + 1) * width), i * width));
      return toGpu(out);
    };
    const o = acquire(rows.length * Hq * D * 4);
    attentionDecode(
      { q: pick(q, Hq * D), kCache: pick(k, Tmax * Hkv * D), vCache: pick(v, Tmax * Hkv * D), o, validStart: toGpuI32(rows.map((r) => validStart[r])) },
      { B: rows.length, Hq, Hkv, D, Tmax, length: Tmax, planRows },
    );
    return Array.from(await fromGpu(o, rows.length * Hq * D));
  };
  const all = Array.from({ length: B }, (_, b) => b);
  const full = await decode(all);
  const rows = [5, 40];
  const want = rows.flatMap((r) => full.slice(r * Hq * D, (r + 1) * Hq * D));
  expect(await decode(rows, B)).toEqual(want);
  expect(await decode(rows)).not.toEqual(want); // the split of 2 rows alone sums in another order
}, TIMEOUT);

test("launchers reject bad shapes and short buffers, naming the argument", async () => {
  await setupGpu();
  const b = acquire(4096);
  const bufs = { q: b, k: b, v: b, o: b, lse: b, validStart: b };
  expect(() => flashAttentionForward(bufs, { B: 1, T: 4, Hq: 3, Hkv: 2, D: 8 })).toThrow("Hkv = 2, expected a divisor of Hq = 3");
  expect(() => flashAttentionForward(bufs, { B: 1, T: 4, Hq: 2, Hkv: 2, D: 129 })).toThrow("D = 129, expected ≤ 128");
  expect(() => flashAttentionForward(bufs, { B: 1, T: 64, Hq: 2, Hkv: 2, D: 16 })).toThrow("q has 4096 bytes");
  expect(() => attentionDecode({ q: b, kCache: b, vCache: b, o: b, validStart: b }, { B: 1, Hq: 2, Hkv: 1, D: 8, Tmax: 4, length: 5 }))
    .toThrow("length = 5, expected ≤ Tmax = 4");
});

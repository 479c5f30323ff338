import { beforeAll, expect, test } from "bun:test";
import { acquire } from "../../src/gpu/buffer.ts";
import { ropeAttentionFactor, ropeInvFreq, ropeQkvBackward, ropeQkvForward, type RopeConfig } from "../../src/kernels/rope.ts";
import { fromGpu, randn, relError, setupGpu, toGpu, toGpuI32 } from "../helpers.ts";
import { numGrad } from "../reference/elementwise.ts";
import * as ref from "../reference/rope.ts";

beforeAll(setupGpu);

const QWEN: RopeConfig = { rope_theta: 1_000_000, head_dim: 64, rope_scaling: null };
const LLAMA32: RopeConfig = {
  rope_theta: 500_000,
  head_dim: 64,
  rope_scaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
};

// Phi-3-style LongRoPE at head_dim 16: boundary 64 positions, max 256 (attention factor sqrt(1 + ln 4 / ln 64)).
const LONGROPE: RopeConfig = {
  rope_theta: 10_000,
  head_dim: 16,
  max_position_embeddings: 256,
  original_max_position_embeddings: 64,
  rope_scaling: {
    type: "longrope",
    short_factor: [1, 1.15, 1.3, 1.45, 1.6, 1.75, 1.9, 2.05],
    long_factor: [1.5, 2.1, 2.7, 3.3, 3.9, 4.5, 5.1, 5.7],
  },
};

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]) / Math.abs(b[i])));

test("ropeInvFreq replays HF's f32 arithmetic: within 2.4e-7 (2–4 ulp) of the float64 formula", () => {
  for (const config of [QWEN, LLAMA32, { rope_theta: 10_000, head_dim: 8 }]) {
    const got = ropeInvFreq(config);
    expect(got).toBeInstanceOf(Float32Array);
    expect(got.length).toBe(config.head_dim / 2);
    expect(maxRel(got, ref.ropeInvFreqF64(config))).toBeLessThan(2.4e-7);
  }
  // llama3: wavelengths below 8192/4 are kept, above 8192/1 divided by the factor (exactly, in f32)
  const plain = ropeInvFreq({ ...LLAMA32, rope_scaling: null });
  const scaled = ropeInvFreq(LLAMA32);
  let kept = 0;
  let divided = 0;
  plain.forEach((f, i) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < 2048) kept += +(scaled[i] === f);
    if (wavelen > 8192) divided += +(scaled[i] === Math.fround(f / 32));
  });
  expect(kept).toBe(plain.filter((f) => (2 * Math.PI) / f < 2048).length);
  expect(divided).toBe(plain.filter((f) => (2 * Math.PI) / f > 8192).length);
  expect(kept).toBeGreaterThan(0);
  expect(divided).toBeGreaterThan(0);
  expect(kept + divided).toBeLessThan(32); // some medium frequencies were smoothed
  expect(() => ropeInvFreq({ ...QWEN, rope_scaling: { rope_type: "yarn", factor: 4 } })).toThrow('rope_scaling type "yarn" is not supported');
  expect(() => ropeInvFreq({ ...QWEN, head_dim: 7 })).toThrow("head_dim must be an even integer");
});

test("ropeInvFreq longrope: short factors up to original_max_position_embeddings, long ones beyond; 'su' is the same", () => {
  for (const seqLen of [undefined, 1, 64, 65, 256]) {
    const got = ropeInvFreq(LONGROPE, seqLen);
    expect(maxRel(got, ref.ropeInvFreqF64(LONGROPE, seqLen))).toBeLessThan(2.4e-7);
  }
  const plain = ropeInvFreq({ rope_theta: 10_000, head_dim: 16 });
  const short = ropeInvFreq(LONGROPE, 64);
  const long = ropeInvFreq(LONGROPE, 65);
  expect(Array.from(short, (x, i) => x === plain[i])).toEqual([true, false, false, false, false, false, false, false]); // factor 1 keeps it
  expect(long.every((x, i) => x < short[i])).toBe(true);
  expect(Array.from(ropeInvFreq({ ...LONGROPE, rope_scaling: { ...LONGROPE.rope_scaling, type: "su" } }, 65))).toEqual(Array.from(long));
  expect(() => ropeInvFreq({ ...LONGROPE, rope_scaling: { type: "longrope", short_factor: [1, 2], long_factor: [1, 2] } })).toThrow(
    "ropeInvFreq: longrope rope_scaling.short_factor must be 8 numbers > 0 (head_dim / 2), got [1,2]",
  );
});

test("ropeAttentionFactor: attention_factor when given, else sqrt(1 + ln(max / original) / ln(original)), 1 without longrope", () => {
  expect(ropeAttentionFactor(LONGROPE)).toBeCloseTo(Math.sqrt(1 + Math.log(4) / Math.log(64)), 15);
  expect(ropeAttentionFactor({ ...LONGROPE, rope_scaling: { ...LONGROPE.rope_scaling, attention_factor: 1.25 } })).toBe(1.25);
  expect(ropeAttentionFactor({ ...LONGROPE, max_position_embeddings: 64 })).toBe(1); // no extension
  expect(ropeAttentionFactor(LLAMA32)).toBe(1);
  expect(ropeAttentionFactor(QWEN)).toBe(1);
});

interface Case {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  pos: number[];
  config: RopeConfig;
  /** Multiplies cos and sin (LongRoPE's attention factor); 1 when absent. */
  scale?: number;
  seqLen?: number;
}

/** Left-padded rows: row b has b pad tokens; positions count from each row's first real token. */
function leftPadded(B: number, T: number, Hq: number, Hkv: number, D: number, config: RopeConfig): Case {
  const pos = Array.from({ length: B * T }, (_, i) => Math.max(0, (i % T) - (Math.floor(i / T) % T)));
  return { B, T, Hq, Hkv, D, pos, config };
}

const CASES: Case[] = [
  leftPadded(1, 1, 1, 1, 2, { rope_theta: 10_000, head_dim: 2 }),
  leftPadded(2, 3, 3, 1, 8, { rope_theta: 10_000, head_dim: 8 }),
  leftPadded(3, 17, 14, 2, 64, QWEN),
  leftPadded(2, 65, 4, 2, 64, LLAMA32),
  // decode: T = 1, each row at its own (large) position, up to Llama-3.2's 131,072 context
  { B: 4, T: 1, Hq: 4, Hkv: 2, D: 64, pos: [0, 4097, 100_003, 131_071], config: LLAMA32 },
  { B: 3, T: 1, Hq: 2, Hkv: 1, D: 64, pos: [7, 32_768, 131_071], config: QWEN },
  // LongRoPE: long factors and cos/sin scaled by the attention factor
  { ...leftPadded(2, 9, 3, 1, 16, LONGROPE), pos: Array.from({ length: 18 }, (_, i) => 60 + i), seqLen: 78, scale: ropeAttentionFactor(LONGROPE) },
];

/** Rows [q | k | v] of a fused projection [N, (Hq + 2·Hkv)·D] split into q, k, v (float64). */
function splitQkv(qkv: ArrayLike<number>, N: number, Hq: number, Hkv: number, D: number) {
  const W = (Hq + 2 * Hkv) * D;
  const cols = (from: number, n: number) => Float64Array.from({ length: N * n }, (_, e) => qkv[Math.floor(e / n) * W + from + (e % n)]);
  return { q: cols(0, Hq * D), k: cols(Hq * D, Hkv * D), v: cols((Hq + Hkv) * D, Hkv * D) };
}

test("from the fused q/k/v projection, as HF's apply_rotary_pos_emb: forward to dense q, k, v and to a KV-cache slot; backward (its transpose) into dqkv", async () => {
  for (const { B, T, Hq, Hkv, D, pos, config, scale = 1, seqLen } of CASES) {
    const N = B * T;
    const HD = Hkv * D;
    const inv = ropeInvFreq(config, seqLen);
    const { cos, sin } = ref.rotaryCosSin(inv, pos, D, Math.fround(scale));
    const qkv = randn(N * (Hq + 2 * Hkv) * D, 3 * N + Hq);
    const parts = splitQkv(qkv, N, Hq, Hkv, D);
    const wantQ = ref.applyRotaryPosEmb(parts.q, cos, sin, N, Hq, D);
    const wantK = ref.applyRotaryPosEmb(parts.k, cos, sin, N, HD / D, D);
    const [gqkv, gpos, ginv] = [toGpu(qkv), toGpuI32(pos), toGpu(inv)];
    const shape = { B, T, Hq, Hkv, D };
    const out = { q: acquire(N * Hq * D * 4), k: acquire(N * HD * 4), v: acquire(N * HD * 4) };
    ropeQkvForward(out, gqkv, gpos, ginv, shape, scale);
    expect(relError(await fromGpu(out.q, N * Hq * D), wantQ)).toBeLessThan(3e-7);
    expect(relError(await fromGpu(out.k, N * HD), wantK)).toBeLessThan(3e-7);
    expect(Array.from(await fromGpu(out.v, N * HD))).toEqual(Array.from(parts.v));

    // Decode (T = 1): k and v go to slot s of caches [B, Tmax, Hkv·D]; the other slots are untouched.
    if (T === 1) {
      const [Tmax, s] = [5, 3];
      const fill = randn(B * Tmax * HD, 7);
      const cache = { k: toGpu(fill), v: toGpu(fill) };
      ropeQkvForward({ q: out.q, ...cache }, gqkv, gpos, ginv, shape, scale, { stride: Tmax * HD, offset: s * HD });
      const wantCache = (rows: ArrayLike<number>) => {
        const c = Float64Array.from(fill);
        for (let b = 0; b < B; b++) for (let j = 0; j < HD; j++) c[(b * Tmax + s) * HD + j] = rows[b * HD + j];
        return c;
      };
      expect(relError(await fromGpu(cache.k, B * Tmax * HD), wantCache(wantK))).toBeLessThan(3e-7);
      expect(Array.from(await fromGpu(cache.v, B * Tmax * HD))).toEqual(Array.from(wantCache(parts.v)));
    }

    // Backward: dqkv rows [rotate(dq, −θ) | rotate(dk, −θ) | dv].
    const grads = { dq: randn(N * Hq * D, 11), dk: randn(N * HD, 12), dv: randn(N * HD, 13) };
    const dqkv = acquire(qkv.length * 4);
    ropeQkvBackward(dqkv, { dq: toGpu(grads.dq), dk: toGpu(grads.dk), dv: toGpu(grads.dv) }, gpos, ginv, shape, scale);
    const got = splitQkv(await fromGpu(dqkv, qkv.length), N, Hq, Hkv, D);
    expect(relError(got.q, ref.applyRotaryPosEmbBackward(grads.dq, cos, sin, N, Hq, D))).toBeLessThan(3e-7);
    expect(relError(got.k, ref.applyRotaryPosEmbBackward(grads.dk, cos, sin, N, Hkv, D))).toBeLessThan(3e-7);
    expect(Array.from(got.v)).toEqual(Array.from(grads.dv));
  }
});

test("the float64 backward matches finite differences", () => {
  const [BT, H, D] = [3, 2, 6];
  const inv = ropeInvFreq({ rope_theta: 10_000, head_dim: D });
  const { cos, sin } = ref.rotaryCosSin(inv, [0, 5, 1234], D);
  const x = randn(BT * H * D, 1);
  const dy = randn(BT * H * D, 2);
  const want = ref.applyRotaryPosEmbBackward(dy, cos, sin, BT, H, D);
  expect(relError(want, numGrad((v) => ref.applyRotaryPosEmb(v, cos, sin, BT, H, D), x, dy))).toBeLessThan(1e-8);
});

test("arguments are validated", () => {
  const b = acquire(256);
  const shape = { B: 1, T: 2, Hq: 2, Hkv: 1, D: 8 };
  const out = { q: acquire(128), k: acquire(64), v: acquire(64) };
  expect(() => ropeQkvForward({ ...out, k: out.q }, b, acquire(8), acquire(16), shape)).toThrow("ropeQkvForward: q must not be the same buffer as k");
  expect(() => ropeQkvForward({ ...out, q: acquire(64) }, b, acquire(8), acquire(16), shape)).toThrow("ropeQkvForward: q has 64 bytes, expected at least 128");
  expect(() => ropeQkvForward(out, b, acquire(8), acquire(16), { ...shape, D: 7 })).toThrow("D must be even");
  expect(() => ropeQkvBackward(b, { dq: out.q, dk: out.k, dv: out.v }, acquire(4), acquire(16), shape)).toThrow("ropeQkvBackward: pos has 4 bytes, expected at least 8");
  expect(() => ropeQkvForward(out, acquire(128), acquire(8), acquire(16), shape)).toThrow("ropeQkvForward: qkv has 128 bytes, expected at least 256");
  expect(() => ropeQkvForward(out, b, acquire(8), acquire(16), shape, 1, { stride: 16, offset: 8 })).toThrow("ropeQkvForward: k has 64 bytes, expected at least 128");
  expect(() => ropeQkvForward(out, b, acquire(8), acquire(16), shape, 1, { stride: 4, offset: 0 })).toThrow("ropeQkvForward: stride must be an integer ≥ 8, got 4");
  expect(() => ropeQkvBackward(b, { dq: b, dk: out.k, dv: out.v }, acquire(8), acquire(16), shape)).toThrow("ropeQkvBackward: dqkv must not be the same buffer as dq");
  expect(() => ropeQkvForward(out, b, acquire(8), acquire(16), shape, 0)).toThrow("ropeQkvForward: scale must be a finite number > 0, got 0");
});

// Launchers for kernels/flash_attention.wgsl (causal GQA attention, forward and backward) and
// kernels/attention_decode.wgsl (one new query per sequence against a KV cache, split-K).
//
// Shapes: Q, O, dQ, dO [B, T, Hq, D]; K, V, dK, dV [B, T, Hkv, D]; lse [B, Hq, T] (f32, natural log);
// validStart [B] (i32): query i of sequence b attends to keys validStart[b] ≤ j ≤ i; pad queries
// (i < validStart[b]) get O = 0, lse = 0. KV cache [B, Tmax, Hkv, D].
import { acquire, release, type Buf } from "../gpu/buffer.ts";
import { gpu, isCpuAdapter } from "../gpu/device.ts";
import { kernel } from "../gpu/kernel.ts";
import { dispatch, grid } from "../gpu/recorder.ts";

export interface AttentionShape {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  /** Head dim, 1..128. */
  D: number;
  /** Softmax scale; default 1/√D. */
  scale?: number;
  /** Override the adapter's default tiling (tests and benchmarks). */
  tiles?: Partial<Record<Entry, FlashTiles>>;
}

/** The entry points of kernels/flash_attention.wgsl. */
export type FlashEntry = "forward" | "backward_dq" | "backward_dkdv";
type Entry = FlashEntry;

/**
 * Register/workgroup tiling of the flash kernels (see kernels/flash_attention.wgsl): a workgroup owns
 * BR rows and streams BC columns; each of its (BR/RR)·(BC/RC) invocations owns an RR×RC score block.
 */
export interface FlashTiles {
  BR: number;
  BC: number;
  RR: number;
  RC: number;
}

// Preferred tilings; the first whose workgroup memory fits wins (the later ones serve D up to 128).
// CPU Vulkan (lavapipe) turns every workgroup-memory load inside a loop into a per-lane scalar loop,
// so 8×8 register blocks pay off even with only 8–16 invocations per workgroup (measured at T = 512,
// D = 64: forward 1.4× and backward 1.25× the speed of 4×4 blocks). GPUs get 64-invocation workgroups
// with 4×4 or 4×2 blocks (not tuned: no GPU was available).
const CPU_TILES: Record<Entry, FlashTiles[]> = {
  forward: [t(64, 16, 8, 8), t(32, 16, 8, 8), t(16, 16, 4, 4), t(16, 8, 4, 4)],
  backward_dq: [t(32, 16, 8, 8), t(16, 16, 4, 4), t(16, 8, 4, 4), t(8, 8, 4, 4)],
  backward_dkdv: [t(32, 16, 8, 8), t(16, 16, 4, 4), t(16, 8, 4, 4), t(8, 8, 4, 4)],
};
const GPU_TILES: Record<Entry, FlashTiles[]> = {
  forward: [t(32, 32, 4, 4), t(16, 32, 4, 4), t(16, 16, 4, 4), t(16, 8, 4, 4)],
  backward_dq: [t(32, 16, 4, 2), t(16, 16, 4, 4), t(16, 8, 4, 4), t(8, 8, 4, 4)],
  backward_dkdv: [t(32, 16, 4, 2), t(16, 16, 4, 4), t(16, 8, 4, 4), t(8, 8, 4, 4)],
};
function t(BR: number, BC: number, RR: number, RC: number): FlashTiles {
  return { BR, BC, RR, RC };
}

/** Workgroup memory of one entry point with tiling `x` at head dim D, in bytes (as the WGSL declares it). */
export function flashSharedBytes(entry: Entry, D: number, x: FlashTiles): number {
  const tile = 16 * Math.ceil(D / 4); // one vec4 row of D
  const TC = x.BC / x.RC;
  if (entry === "forward") return tile * (x.BR + 2 * x.BC) + 4 * x.BR * x.BC + 4 * x.BR * TC;
  if (entry === "backward_dq") return tile * 2 * (x.BR + x.BC) + 4 * x.BR * x.BC;
  return tile * 2 * (x.BR + x.BC) + 8 * x.BR * x.BC + 8 * x.BC;
}

/** The tiling `entry` uses at head dim D on this adapter. */
export function flashTiles(entry: Entry, D: number): FlashTiles {
  const limit = gpu().limits.maxComputeWorkgroupStorageSize;
  const list = (isCpuAdapter() ? CPU_TILES : GPU_TILES)[entry];
  const x = list.find((c) => flashSharedBytes(entry, D, c) <= limit);
  if (!x) throw new Error(`flash attention ${entry}: no tiling fits D = ${D} in ${limit} bytes of workgroup storage`);
  return x;
}

function check(name: string, what: string, ok: boolean, got: unknown, want: string): void {
  if (!ok) throw new Error(`${name}: ${what} = ${got}, expected ${want}`);
}

function checkShape(name: string, s: AttentionShape): void {
  for (const key of ["B", "T", "Hq", "Hkv", "D"] as const) {
    check(name, key, Number.isInteger(s[key]) && s[key] >= 1, s[key], "a positive integer");
  }
  check(name, "D", s.D <= 128, s.D, "≤ 128");
  check(name, "Hkv", s.Hq % s.Hkv === 0, s.Hkv, `a divisor of Hq = ${s.Hq}`);
}

function checkBuf(name: string, arg: string, buf: Buf, elems: number): void {
  if (buf.size < elems * 4) throw new Error(`${name}: ${arg} has ${buf.size} bytes, expected ≥ ${elems * 4} (${elems} elements)`);
  const max = gpu().limits.maxStorageBufferBindingSize;
  if (elems * 4 > max) {
    throw new Error(`${name}: ${arg} is ${elems * 4} bytes, over maxStorageBufferBindingSize ${max}; split the batch`);
  }
}

function params(s: AttentionShape): Uint32Array {
  const p = new Uint32Array([s.B, s.T, s.Hq, s.Hkv, 0, 0, 0, 0]);
  new Float32Array(p.buffer)[4] = s.scale ?? 1 / Math.sqrt(s.D);
  return p;
}

function flash(entry: Entry, D: number, tiles?: FlashTiles): { pipeline: GPUComputePipeline; BR: number } {
  const x = tiles ?? flashTiles(entry, D);
  const defines = { D: String(D), BR: String(x.BR), BC: String(x.BC), RR: String(x.RR), RC: String(x.RC) };
  return { pipeline: kernel("flash_attention", { entry, defines }), BR: x.BR };
}

/** Causal GQA flash attention forward: o = softmax(scale·q kᵀ + mask) v, and the row logsumexp. */
export function flashAttentionForward(
  b: { q: Buf; k: Buf; v: Buf; o: Buf; lse: Buf; validStart: Buf },
  s: AttentionShape,
): void {
  const name = "flashAttentionForward";
  checkShape(name, s);
  const { B, T, Hq, Hkv, D } = s;
  checkBuf(name, "q", b.q, B * T * Hq * D);
  checkBuf(name, "k", b.k, B * T * Hkv * D);
  checkBuf(name, "v", b.v, B * T * Hkv * D);
  checkBuf(name, "o", b.o, B * T * Hq * D);
  checkBuf(name, "lse", b.lse, B * Hq * T);
  checkBuf(name, "validStart", b.validStart, B);
  const f = flash("forward", D, s.tiles?.forward);
  dispatch(f.pipeline, [b.q, b.k, b.v, b.validStart, b.o, b.lse], grid(B * Hq * Math.ceil(T / f.BR)), params(s));
}

/**
 * Backward of `flashAttentionForward` from its saved o and lse: dq [B, T, Hq, D], and dk, dv
 * [B, T, Hkv, D] summed over the query heads of each group. Two passes: dQ per query block (which
 * also writes delta = rowsum(dO∘O) to a scratch buffer), then dK/dV per key block. Deterministic.
 */
export function flashAttentionBackward(
  b: { q: Buf; k: Buf; v: Buf; o: Buf; dO: Buf; lse: Buf; validStart: Buf; dq: Buf; dk: Buf; dv: Buf },
  s: AttentionShape,
): void {
  const name = "flashAttentionBackward";
  checkShape(name, s);
  const { B, T, Hq, Hkv, D } = s;
  for (const arg of ["q", "o", "dO", "dq"] as const) checkBuf(name, arg, b[arg], B * T * Hq * D);
  for (const arg of ["k", "v", "dk", "dv"] as const) checkBuf(name, arg, b[arg], B * T * Hkv * D);
  checkBuf(name, "lse", b.lse, B * Hq * T);
  checkBuf(name, "validStart", b.validStart, B);
  const p = params(s);
  // Scratch for delta [B, Hq, T]: releasing it right after recording is safe because every later
  // use of the pooled buffer is recorded (and so executes) after these dispatches.
  const delta = acquire(B * Hq * T * 4);
  const common = [b.q, b.k, b.v, b.validStart, b.dO, b.lse];
  const fq = flash("backward_dq", D, s.tiles?.backward_dq);
  const fk = flash("backward_dkdv", D, s.tiles?.backward_dkdv);
  dispatch(fq.pipeline, [...common, b.o, delta, b.dq], grid(B * Hq * Math.ceil(T / fq.BR)), p);
  dispatch(fk.pipeline, [...common, delta, b.dk, b.dv], grid(B * Hkv * Math.ceil(T / fk.BR)), p);
  release(delta);
}

export interface DecodeShape {
  B: number;
  Hq: number;
  Hkv: number;
  /** Head dim, 1..128. */
  D: number;
  /** Cache slots per sequence. */
  Tmax: number;
  /** Filled slots, the new token's included: the query attends to validStart[b] ≤ j < length. */
  length: number;
  /** Softmax scale; default 1/√D. */
  scale?: number;
  /** Keys per split; default: enough splits for ~DECODE_SPLITS partial states over planRows rows. */
  chunk?: number;
  /**
   * Rows the default split is chosen for (default B): a batch that drops finished rows keeps the
   * split of the full batch, and so each row's result.
   */
  planRows?: number;
}

/** Partial states (B·Hkv·splits invocations) the split-K decode aims for, to fill the device. */
const DECODE_SPLITS = 1024;
/** Fewest keys per split: shorter chunks cost more in the combine than they gain. */
const DECODE_MIN_CHUNK = 16;

/**
 * One new query per sequence against a KV cache (flash-decoding): q, o [B, Hq, D]; kCache, vCache
 * [B, Tmax, Hkv, D]; validStart [B] i32. The cache length is split into chunks, each handled by one
 * invocation for all query heads of a kv head, then the partial states are combined in split order:
 * deterministic.
 */
export function attentionDecode(
  b: { q: Buf; kCache: Buf; vCache: Buf; o: Buf; validStart: Buf },
  s: DecodeShape,
): void {
  const name = "attentionDecode";
  const { B, Hq, Hkv, D, Tmax, length } = s;
  for (const key of ["B", "Hq", "Hkv", "D", "Tmax", "length"] as const) {
    check(name, key, Number.isInteger(s[key]) && s[key] >= 1, s[key], "a positive integer");
  }
  check(name, "D", D <= 128, D, "≤ 128");
  check(name, "Hkv", Hq % Hkv === 0, Hkv, `a divisor of Hq = ${Hq}`);
  check(name, "length", length <= Tmax, length, `≤ Tmax = ${Tmax}`);
  checkBuf(name, "q", b.q, B * Hq * D);
  checkBuf(name, "o", b.o, B * Hq * D);
  checkBuf(name, "kCache", b.kCache, B * Tmax * Hkv * D);
  checkBuf(name, "vCache", b.vCache, B * Tmax * Hkv * D);
  checkBuf(name, "validStart", b.validStart, B);
  const chunk = s.chunk ?? Math.max(DECODE_MIN_CHUNK, Math.ceil(length / Math.ceil(DECODE_SPLITS / ((s.planRows ?? B) * Hkv))));
  check(name, "chunk", Number.isInteger(chunk) && chunk >= 1, chunk, "a positive integer");
  const S = Math.ceil(length / chunk);
  const p = new Uint32Array([B, Hkv, Tmax, length, chunk, S, 0, 0]);
  new Float32Array(p.buffer)[6] = s.scale ?? 1 / Math.sqrt(D);
  const defines = { D: String(D), G: String(Hq / Hkv) };
  // Scratch [B, Hq, S, D + 2]; released after recording: its next user is recorded (and runs) after.
  const part = acquire(B * Hq * S * (D + 2) * 4);
  const partial = kernel("attention_decode", { entry: "decode_partial", defines });
  dispatch(partial, [b.q, b.kCache, b.vCache, b.validStart, part], [Math.ceil(S / 64), B * Hkv], p);
  dispatch(kernel("attention_decode", { entry: "decode_combine", defines }), [part, b.o], grid(B * Hq), p);
  release(part);
}

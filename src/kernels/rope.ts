// Launchers for kernels/rope.wgsl (rotary position embedding, HF rotate-half convention): in place on
// Q and K, or out of the fused q/k/v projection (rotated q, k and v to their own tensors or to a
// KV-cache slot, and the backward into the fused gradient); and `ropeInvFreq`, the inverse frequencies
// exactly as Hugging Face computes them.
import { type Buf } from "../gpu/buffer.ts";
import { kernel } from "../gpu/kernel.ts";
import { dispatch } from "../gpu/recorder.ts";
import { checkBindable, checkDims, checkDistinct, checkSize, groups, params, view } from "./launch.ts";

/** The RoPE fields of a Hugging Face config.json (head_dim derived as hidden_size / heads when absent). */
export interface RopeConfig {
  rope_theta: number;
  head_dim: number;
  /** null or rope_type "default": plain RoPE; "llama3": Llama-3.1/3.2 frequency scaling. */
  rope_scaling?: {
    rope_type?: string;
    type?: string;
    factor?: number;
    low_freq_factor?: number;
    high_freq_factor?: number;
    original_max_position_embeddings?: number;
  } | null;
}

/**
 * inv_freq [head_dim / 2] as f32, replaying HF's float32 tensor arithmetic op by op
 * (`_compute_default_rope_parameters`, `_compute_llama3_parameters`; torch evaluates `s / t` for a
 * Python scalar s as t.reciprocal() · s). Matches HF on the CPU up to powf's last-bit rounding.
 */
export function ropeInvFreq(config: RopeConfig): Float32Array {
  const f = Math.fround;
  const { rope_theta: base, head_dim: dim, rope_scaling: scaling } = config;
  if (!(base > 0)) throw new Error(`ropeInvFreq: rope_theta must be > 0, got ${base}`);
  if (!Number.isInteger(dim) || dim < 2 || dim % 2) throw new Error(`ropeInvFreq: head_dim must be an even integer ≥ 2, got ${dim}`);
  // inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim))
  const inv = Float32Array.from({ length: dim / 2 }, (_, k) => f(1 / f(Math.pow(f(base), f((2 * k) / dim)))));
  const type = scaling?.rope_type ?? scaling?.type ?? "default";
  if (type === "default") return inv;
  if (type !== "llama3") throw new Error(`ropeInvFreq: rope_scaling type "${type}" is not supported (default, llama3)`);
  const { factor, low_freq_factor: lo, high_freq_factor: hi, original_max_position_embeddings: old } = scaling!;
  for (const [k, v] of Object.entries({ factor, low_freq_factor: lo, high_freq_factor: hi, original_max_position_embeddings: old })) {
    if (typeof v !== "number" || !(v > 0)) throw new Error(`ropeInvFreq: llama3 rope_scaling.${k} must be a number > 0, got ${v}`);
  }
  const [F, L, H, O] = [factor!, lo!, hi!, old!];
  // Python floats (double) until they meet the f32 tensor, where torch casts them to f32
  const lowWavelen = f(O / L);
  const highWavelen = f(O / H);
  return inv.map((x) => {
    const wavelen = f(f(1 / x) * f(2 * Math.PI));
    const scaled = wavelen > lowWavelen ? f(x / f(F)) : x;
    const smooth = f(f(f(f(1 / wavelen) * f(O)) - f(L)) / f(H - L));
    const smoothed = f(f(f(f(1 - smooth) * scaled) / f(F)) + f(smooth * scaled));
    const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    return medium ? smoothed : scaled;
  });
}

export interface RopeShape {
  B: number;
  T: number;
  /** Query heads, key/value heads, head dim (even). */
  Hq: number;
  Hkv: number;
  D: number;
}

function rope(fn: string, q: Buf, k: Buf, pos: Buf, invFreq: Buf, shape: RopeShape, sign: number) {
  const { B, T, Hq, Hkv, D } = shape;
  checkDims(fn, { B, T, Hq, Hkv, D });
  if (D % 2) throw new Error(`${fn}: D must be even, got ${D}`);
  const N = B * T;
  checkSize(fn, "q", q, N * Hq * D);
  checkSize(fn, "k", k, N * Hkv * D);
  checkSize(fn, "pos", pos, N);
  checkSize(fn, "invFreq", invFreq, D / 2);
  checkBindable(fn, "q", N * Hq * D);
  checkDistinct(fn, { q, k }, { q, k, pos, invFreq });
  const n = N * (D / 2);
  const bindings = [view(q, 0, N * Hq * D), view(k, 0, N * Hkv * D), view(pos, 0, N), view(invFreq, 0, D / 2)];
  dispatch(kernel("rope", {}), bindings, groups(n), params(n, D / 2, Hq, Hkv, { f: sign }, 0, 0));
}

/**
 * Rotates q [B, T, Hq, D] and k [B, T, Hkv, D] in place by θ = f32(pos[b·T + t]) · inv_freq[i]:
 * pos i32 [B·T] (per token, so left padding and decode with T = 1 work), invFreq f32 [D/2]
 * (`ropeInvFreq`, uploaded once).
 */
export function ropeForward(q: Buf, k: Buf, pos: Buf, invFreq: Buf, shape: RopeShape): void {
  rope("ropeForward", q, k, pos, invFreq, shape, 1);
}

/** The backward of ropeForward, in place on dq and dk: rotation by −θ. */
export function ropeBackward(dq: Buf, dk: Buf, pos: Buf, invFreq: Buf, shape: RopeShape): void {
  rope("ropeBackward", dq, dk, pos, invFreq, shape, -1);
}

/** Where ropeQkvForward writes k and v: element tok·stride + offset starts token tok's Hkv·D values. */
export interface KVPlacement {
  /** Elements between tokens (dense: Hkv·D; a cache [B, Tmax, Hkv·D] at T = 1: Tmax·Hkv·D). */
  stride: number;
  /** Element of token 0 (a cache slot s: s·Hkv·D). */
  offset: number;
}

function checkQkv(fn: string, qkv: Buf, pos: Buf, invFreq: Buf, shape: RopeShape) {
  const { B, T, Hq, Hkv, D } = shape;
  checkDims(fn, { B, T, Hq, Hkv, D });
  if (D % 2) throw new Error(`${fn}: D must be even, got ${D}`);
  const N = B * T;
  checkSize(fn, "qkv", qkv, N * (Hq + 2 * Hkv) * D);
  checkSize(fn, "pos", pos, N);
  checkSize(fn, "invFreq", invFreq, D / 2);
  checkBindable(fn, "qkv", N * (Hq + 2 * Hkv) * D);
}

/**
 * From the fused projection qkv [B·T, (Hq + 2·Hkv)·D] (rows [q | k | v]): q [B·T, Hq·D] rotated, and
 * k rotated and v copied to k, v at `kv` (default dense [B·T, Hkv·D]; a KV-cache slot in decode).
 */
export function ropeQkvForward(
  out: { q: Buf; k: Buf; v: Buf },
  qkv: Buf,
  pos: Buf,
  invFreq: Buf,
  shape: RopeShape,
  kv?: KVPlacement,
): void {
  const fn = "ropeQkvForward";
  checkQkv(fn, qkv, pos, invFreq, shape);
  const { B, T, Hq, Hkv, D } = shape;
  const N = B * T;
  const HD = Hkv * D;
  const { stride, offset } = kv ?? { stride: HD, offset: 0 };
  checkDims(fn, { stride, offset }, { stride: HD, offset: 0 });
  const kvCount = (N - 1) * stride + offset + HD;
  checkSize(fn, "q", out.q, N * Hq * D);
  checkSize(fn, "k", out.k, kvCount);
  checkSize(fn, "v", out.v, kvCount);
  checkBindable(fn, "k", kvCount);
  checkDistinct(fn, out, { qkv, pos, invFreq, ...out });
  const n = N * (D / 2);
  const bindings = [view(qkv, 0, N * (Hq + 2 * Hkv) * D), view(out.q, 0, N * Hq * D), view(out.k, 0, kvCount), view(out.v, 0, kvCount), view(pos, 0, N), view(invFreq, 0, D / 2)];
  dispatch(kernel("rope", { entry: "qkv_forward" }), bindings, groups(n), params(n, D / 2, Hq, Hkv, { f: 1 }, stride, offset));
}

/** The backward of ropeQkvForward (dense placement): dqkv [B·T, (Hq + 2·Hkv)·D] from dq, dk (by −θ) and dv. */
export function ropeQkvBackward(dqkv: Buf, grads: { dq: Buf; dk: Buf; dv: Buf }, pos: Buf, invFreq: Buf, shape: RopeShape): void {
  const fn = "ropeQkvBackward";
  checkQkv(fn, dqkv, pos, invFreq, shape);
  const { B, T, Hq, Hkv, D } = shape;
  const N = B * T;
  checkSize(fn, "dq", grads.dq, N * Hq * D);
  checkSize(fn, "dk", grads.dk, N * Hkv * D);
  checkSize(fn, "dv", grads.dv, N * Hkv * D);
  checkDistinct(fn, { dqkv }, { ...grads, pos, invFreq });
  const n = N * (D / 2);
  const bindings = [view(dqkv, 0, N * (Hq + 2 * Hkv) * D), view(grads.dq, 0, N * Hq * D), view(grads.dk, 0, N * Hkv * D), view(grads.dv, 0, N * Hkv * D), view(pos, 0, N), view(invFreq, 0, D / 2)];
  dispatch(kernel("rope", { entry: "qkv_backward" }), bindings, groups(n), params(n, D / 2, Hq, Hkv, { f: -1 }, Hkv * D, 0));
}

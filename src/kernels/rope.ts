// Launchers for kernels/rope.wgsl (rotary position embedding, HF rotate-half convention) out of the
// fused q/k/v projection: rotated q, k and v to their own tensors or to a KV-cache slot, and the
// backward into the fused gradient; and `ropeInvFreq`, the inverse frequencies exactly as Hugging
// Face computes them.
import { type Buf } from "../gpu/buffer.ts";
import { kernel } from "../gpu/kernel.ts";
import { dispatch } from "../gpu/recorder.ts";
import { checkBindable, checkDims, checkDistinct, checkSize, groups, params, view } from "./launch.ts";

/** The RoPE fields of a Hugging Face config.json (head_dim derived as hidden_size / heads when absent). */
export interface RopeConfig {
  rope_theta: number;
  head_dim: number;
  max_position_embeddings?: number;
  /** Phi-3's top-level field: the pretraining context, where LongRoPE switches from short to long factors. */
  original_max_position_embeddings?: number;
  /**
   * null or rope_type "default": plain RoPE; "llama3": Llama-3.1/3.2 frequency scaling; "longrope"
   * (older name "su"): Phi-3's per-frequency short/long factors and attention factor.
   */
  rope_scaling?: {
    rope_type?: string;
    type?: string;
    factor?: number;
    low_freq_factor?: number;
    high_freq_factor?: number;
    original_max_position_embeddings?: number;
    short_factor?: number[];
    long_factor?: number[];
    attention_factor?: number;
  } | null;
}

const ropeType = (config: RopeConfig) => {
  const t = config.rope_scaling?.rope_type ?? config.rope_scaling?.type ?? "default";
  return t === "su" ? "longrope" : t;
};

/** LongRoPE's boundary: sequences of more positions use the long factors. */
function longRopeOriginalMax(config: RopeConfig): number {
  const o = config.original_max_position_embeddings ?? config.max_position_embeddings;
  if (!Number.isInteger(o) || !(o! > 0)) {
    throw new Error(`ropeInvFreq: longrope needs original_max_position_embeddings (or max_position_embeddings), an integer > 0; got ${o}`);
  }
  return o!;
}

/**
 * inv_freq [head_dim / 2] as f32, replaying HF's float32 tensor arithmetic op by op
 * (`_compute_default_rope_parameters`, `_compute_llama3_parameters`, `_compute_longrope_parameters`;
 * torch evaluates `s / t` for a Python scalar s as t.reciprocal() · s). Matches HF on the CPU up to
 * powf's last-bit rounding. `seqLen` matters for longrope only: the long factors when it exceeds
 * `longRopeOriginalMax`, else the short ones (HF's `seq_len` argument of the rope init functions).
 */
export function ropeInvFreq(config: RopeConfig, seqLen?: number): Float32Array {
  const f = Math.fround;
  const { rope_theta: base, head_dim: dim, rope_scaling: scaling } = config;
  if (!(base > 0)) throw new Error(`ropeInvFreq: rope_theta must be > 0, got ${base}`);
  if (!Number.isInteger(dim) || dim < 2 || dim % 2) throw new Error(`ropeInvFreq: head_dim must be an even integer ≥ 2, got ${dim}`);
  const exponent = (k: number) => f((2 * k) / dim); // arange(0, dim, 2).float() / dim
  const type = ropeType(config);
  if (type === "longrope") {
    const long = seqLen !== undefined && seqLen > longRopeOriginalMax(config);
    const key = long ? "long_factor" : "short_factor";
    const ext = scaling?.[key];
    if (!Array.isArray(ext) || ext.length !== dim / 2 || !ext.every((x) => typeof x === "number" && x > 0)) {
      throw new Error(`ropeInvFreq: longrope rope_scaling.${key} must be ${dim / 2} numbers > 0 (head_dim / 2), got ${JSON.stringify(ext)}`);
    }
    // inv_freq = 1.0 / (ext_factors * base ** inv_freq_shape)
    return Float32Array.from({ length: dim / 2 }, (_, k) => f(1 / f(f(ext[k]) * f(Math.pow(f(base), exponent(k))))));
  }
  // inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim))
  const inv = Float32Array.from({ length: dim / 2 }, (_, k) => f(1 / f(Math.pow(f(base), exponent(k)))));
  if (type === "default") return inv;
  if (type !== "llama3") throw new Error(`ropeInvFreq: rope_scaling type "${type}" is not supported (default, llama3, longrope)`);
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

/**
 * The factor HF multiplies cos and sin by (`attention_scaling`): 1 except for longrope, where it is
 * rope_scaling.attention_factor when given, else sqrt(1 + ln(s) / ln(original_max_position_embeddings))
 * with s = max_position_embeddings / original_max_position_embeddings (Phi-3's top-level field;
 * rope_scaling.factor without it), 1 when s ≤ 1.
 */
export function ropeAttentionFactor(config: RopeConfig): number {
  if (ropeType(config) !== "longrope") return 1;
  const s = config.rope_scaling!;
  if (s.attention_factor !== undefined) {
    if (!(s.attention_factor > 0)) throw new Error(`ropeAttentionFactor: rope_scaling.attention_factor must be > 0, got ${s.attention_factor}`);
    return s.attention_factor;
  }
  const original = longRopeOriginalMax(config);
  const factor = config.original_max_position_embeddings !== undefined ? config.max_position_embeddings! / original : s.factor;
  if (typeof factor !== "number" || Number.isNaN(factor)) {
    throw new Error(`ropeAttentionFactor: longrope needs max_position_embeddings / original_max_position_embeddings or rope_scaling.factor, got ${factor}`);
  }
  return factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
}

export interface RopeShape {
  B: number;
  T: number;
  /** Query heads, key/value heads, head dim (even). */
  Hq: number;
  Hkv: number;
  D: number;
}

/** Where ropeQkvForward writes k and v: element tok·stride + offset starts token tok's Hkv·D values. */
export interface KVPlacement {
  /** Elements between tokens (dense: Hkv·D; a cache [B, Tmax, Hkv·D] at T = 1: Tmax·Hkv·D). */
  stride: number;
  /** Element of token 0 (a cache slot s: s·Hkv·D). */
  offset: number;
}

function checkQkv(fn: string, qkv: Buf, pos: Buf, invFreq: Buf, shape: RopeShape, scale: number) {
  const { B, T, Hq, Hkv, D } = shape;
  checkDims(fn, { B, T, Hq, Hkv, D });
  if (D % 2) throw new Error(`${fn}: D must be even, got ${D}`);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`${fn}: scale must be a finite number > 0, got ${scale}`);
  const N = B * T;
  checkSize(fn, "qkv", qkv, N * (Hq + 2 * Hkv) * D);
  checkSize(fn, "pos", pos, N);
  checkSize(fn, "invFreq", invFreq, D / 2);
  checkBindable(fn, "qkv", N * (Hq + 2 * Hkv) * D);
}

/**
 * From the fused projection qkv [B·T, (Hq + 2·Hkv)·D] (rows [q | k | v]): q [B·T, Hq·D] rotated, and
 * k rotated and v copied to k, v at `kv` (default dense [B·T, Hkv·D]; a KV-cache slot in decode).
 * θ = f32(pos[b·T + t]) · inv_freq[i] with pos i32 [B·T] (per token, so left padding and decode with
 * T = 1 work) and invFreq f32 [D/2] (`ropeInvFreq`, uploaded once); q and k are multiplied by `scale`
 * (HF scales cos and sin by it: `ropeAttentionFactor`).
 */
export function ropeQkvForward(
  out: { q: Buf; k: Buf; v: Buf },
  qkv: Buf,
  pos: Buf,
  invFreq: Buf,
  shape: RopeShape,
  scale = 1,
  kv?: KVPlacement,
): void {
  const fn = "ropeQkvForward";
  checkQkv(fn, qkv, pos, invFreq, shape, scale);
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
  dispatch(kernel("rope", { entry: "qkv_forward" }), bindings, groups(n), params(n, D / 2, Hq, Hkv, { f: 1 }, { f: scale }, stride, offset));
}

/** The backward of ropeQkvForward (dense placement): dqkv [B·T, (Hq + 2·Hkv)·D] from dq, dk (`scale` times −θ) and dv. */
export function ropeQkvBackward(dqkv: Buf, grads: { dq: Buf; dk: Buf; dv: Buf }, pos: Buf, invFreq: Buf, shape: RopeShape, scale = 1): void {
  const fn = "ropeQkvBackward";
  checkQkv(fn, dqkv, pos, invFreq, shape, scale);
  const { B, T, Hq, Hkv, D } = shape;
  const N = B * T;
  checkSize(fn, "dq", grads.dq, N * Hq * D);
  checkSize(fn, "dk", grads.dk, N * Hkv * D);
  checkSize(fn, "dv", grads.dv, N * Hkv * D);
  checkDistinct(fn, { dqkv }, { ...grads, pos, invFreq });
  const n = N * (D / 2);
  const bindings = [view(dqkv, 0, N * (Hq + 2 * Hkv) * D), view(grads.dq, 0, N * Hq * D), view(grads.dk, 0, N * Hkv * D), view(grads.dv, 0, N * Hkv * D), view(pos, 0, N), view(invFreq, 0, D / 2)];
  dispatch(kernel("rope", { entry: "qkv_backward" }), bindings, groups(n), params(n, D / 2, Hq, Hkv, { f: -1 }, { f: scale }, Hkv * D, 0));
}

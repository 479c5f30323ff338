// float64 transcription of Hugging Face's rotary embedding (transformers modeling_rope_utils.py and
// modeling_llama.py: LlamaRotaryEmbedding.forward, rotate_half, apply_rotary_pos_emb), for tensors laid
// out [B, T, H, D] (HF's unsqueeze_dim = 2 case).
import type { RopeConfig } from "../../src/kernels/rope.ts";

/**
 * _compute_default_rope_parameters / _compute_llama3_parameters / _compute_longrope_parameters, in
 * float64 throughout; `seqLen` picks longrope's long factors when above original_max_position_embeddings.
 */
export function ropeInvFreqF64(config: RopeConfig, seqLen?: number): Float64Array {
  const { rope_theta: base, head_dim: dim, rope_scaling: s } = config;
  const type = s?.rope_type ?? s?.type;
  if (type === "longrope" || type === "su") {
    const original = config.original_max_position_embeddings ?? config.max_position_embeddings!;
    const ext = seqLen !== undefined && seqLen > original ? s!.long_factor! : s!.short_factor!;
    return Float64Array.from({ length: dim / 2 }, (_, k) => 1 / (ext[k] * base ** ((2 * k) / dim)));
  }
  const inv = Float64Array.from({ length: dim / 2 }, (_, k) => 1 / base ** ((2 * k) / dim));
  if ((s?.rope_type ?? s?.type ?? "default") !== "llama3") return inv;
  const factor = s!.factor!;
  const lowFreqFactor = s!.low_freq_factor!;
  const highFreqFactor = s!.high_freq_factor!;
  const oldContextLen = s!.original_max_position_embeddings!;
  const lowFreqWavelen = oldContextLen / lowFreqFactor;
  const highFreqWavelen = oldContextLen / highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    const invFreqLlama = wavelen > lowFreqWavelen ? f / factor : f;
    const smoothFactor = (oldContextLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    const smoothed = ((1 - smoothFactor) * invFreqLlama) / factor + smoothFactor * invFreqLlama;
    const isMediumFreq = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    return isMediumFreq ? smoothed : invFreqLlama;
  });
}

/**
 * LlamaRotaryEmbedding.forward: freqs = inv_freq ⊗ position_ids (one f32 product each, as torch's
 * f32 matmul with an inner dimension of 1), emb = cat(freqs, freqs); cos and sin [BT, D] of emb,
 * times `attentionScaling` (LongRoPE's attention factor).
 */
export function rotaryCosSin(invFreq: ArrayLike<number>, positionIds: ArrayLike<number>, D: number, attentionScaling = 1) {
  const BT = positionIds.length;
  const cos = new Float64Array(BT * D);
  const sin = new Float64Array(BT * D);
  for (let t = 0; t < BT; t++) {
    for (let i = 0; i < D / 2; i++) {
      const freq = Math.fround(Math.fround(positionIds[t]) * invFreq[i]);
      for (const j of [i, i + D / 2]) {
        cos[t * D + j] = Math.cos(freq) * attentionScaling;
        sin[t * D + j] = Math.sin(freq) * attentionScaling;
      }
    }
  }
  return { cos, sin };
}

/** rotate_half(x) = cat(−x[..., D/2:], x[..., :D/2]) for one head vector at x[o .. o + D). */
function rotateHalf(x: ArrayLike<number>, o: number, D: number): Float64Array {
  const h = D / 2;
  return Float64Array.from({ length: D }, (_, j) => (j < h ? -x[o + j + h] : x[o + j - h]));
}

/** apply_rotary_pos_emb for one of q / k, x [BT, H, D]: x·cos + rotate_half(x)·sin (cos, sin [BT, D]). */
export function applyRotaryPosEmb(x: ArrayLike<number>, cos: ArrayLike<number>, sin: ArrayLike<number>, BT: number, H: number, D: number): Float64Array {
  const out = new Float64Array(BT * H * D);
  for (let t = 0; t < BT; t++) {
    for (let h = 0; h < H; h++) {
      const o = (t * H + h) * D;
      const r = rotateHalf(x, o, D);
      for (let j = 0; j < D; j++) out[o + j] = x[o + j] * cos[t * D + j] + r[j] * sin[t * D + j];
    }
  }
  return out;
}

/** The backward of applyRotaryPosEmb: the transpose of the rotation, i.e. the rotation by −θ. */
export function applyRotaryPosEmbBackward(dy: ArrayLike<number>, cos: ArrayLike<number>, sin: ArrayLike<number>, BT: number, H: number, D: number): Float64Array {
  return applyRotaryPosEmb(dy, cos, Float64Array.from(sin, (s) => -s), BT, H, D);
}

// One decoder layer, written once. The layer is a sequence of steps over the residual stream x; how
// each step runs is up to a `LayerOps`: the autograd ops (training, scoring and prefill: fresh
// tensors on the tape, src/model/forward-ops.ts) or the no-grad decode step (one token per row, into
// buffers preallocated with the KV cache, src/model/decode-ops.ts). The steps are the fused kernels'
// units: each RMSNorm with the projection it feeds, one q/k/v projection, RoPE with the split of q/k/v
// (and, decoding, the KV-cache write), gate/up with the SwiGLU, projections that add into x.
import type { Tensor } from "../autograd/tensor.ts";
import type { LoraAdapters, LoraTargetModule, ProjectionAdapter } from "./lora.ts";

/** One layer's parameters (weights [out, in] as Hugging Face stores them; weights.ts parameterSpecs). */
export interface LayerWeights {
  inputNorm: Tensor;
  /** [q_proj; k_proj; v_proj] [(Hq + 2·Hkv)·D, C], and their biases. */
  qkv: Tensor;
  qkvBias?: Tensor;
  o: Tensor;
  oBias?: Tensor;
  postNorm: Tensor;
  /** [gate_proj; up_proj] [2I, C]. */
  gateUp: Tensor;
  down: Tensor;
  /** LoRA adapters of the adapted projections (lora.ts); none without LoRA. */
  lora: Partial<Record<LoraTargetModule, ProjectionAdapter>>;
}

/** RoPE's tables for a pass: inverse frequencies [D/2] and the factor cos and sin are scaled by. */
export interface Rope {
  invFreq: Tensor;
  scale: number;
}

/** The steps of a layer, over activations [N, ·] (N = B·T rows, or B rows when decoding). */
export interface LayerOps {
  /**
   * [q | k | v] = RMSNorm(x; inputNorm)·Wqkvᵀ + bqkv [N, (Hq + 2·Hkv)·D], plus the LoRA updates of the
   * adapted ones among q/k/v in their columns.
   */
  qkv(x: Tensor, w: LayerWeights): Tensor;
  /** RoPE on the q and k of `qkv`, then causal GQA attention over layer `layer`'s keys and values → [N, Hq·D]. */
  attention(layer: number, qkv: Tensor): Tensor;
  /** x + a·Wᵀ (+ b) (+ its LoRA update): a projection back into the residual stream. */
  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor, lora?: ProjectionAdapter): Tensor;
  /** silu(h·Wgateᵀ) ∘ (h·Wupᵀ) [N, I] with h = RMSNorm(x; postNorm), gate and up with their LoRA updates. */
  gatedUp(x: Tensor, w: LayerWeights): Tensor;
}

/**
 * x ← x + o_proj(attention(rope(q, k), v)) with [q | k | v] = qkv_proj(rmsnorm(x));
 * x ← x + down(swiglu(gate_up(rmsnorm(x)))).
 */
export function decoderLayer(ops: LayerOps, layer: number, w: LayerWeights, x: Tensor): Tensor {
  x = ops.addProjection(x, ops.attention(layer, ops.qkv(x, w)), w.o, w.oBias, w.lora.o_proj);
  return ops.addProjection(x, ops.gatedUp(x, w), w.down, undefined, w.lora.down_proj);
}

/** Layer i's weights from a model's parameters (weights.ts parameterSpecs names), with its adapters if any. */
export function layerWeights(
  i: number,
  p: (name: string) => Tensor,
  optional: (name: string) => Tensor | undefined,
  adapters?: LoraAdapters,
): LayerWeights {
  const l = `model.layers.${i}.`;
  return {
    lora: adapters?.ofLayer(i) ?? {},
    inputNorm: p(`${l}input_layernorm.weight`),
    qkv: p(`${l}self_attn.qkv_proj.weight`),
    qkvBias: optional(`${l}self_attn.qkv_proj.bias`),
    o: p(`${l}self_attn.o_proj.weight`),
    oBias: optional(`${l}self_attn.o_proj.bias`),
    postNorm: p(`${l}post_attention_layernorm.weight`),
    gateUp: p(`${l}mlp.gate_up_proj.weight`),
    down: p(`${l}mlp.down_proj.weight`),
  };
}

// One decoder layer, written once. The layer is a sequence of steps over the residual stream x; how
// each step runs is up to a `LayerOps`: the autograd ops (training, scoring and prefill: fresh
// tensors on the tape, src/model/forward-ops.ts) or the no-grad decode step (one token per row, into
// buffers preallocated with the KV cache, src/model/decode-ops.ts). The steps are grouped as a fused
// implementation would run them (one q/k/v projection, gate/up with the SwiGLU, projections that add
// into x), so fusing a step changes one method of each `LayerOps`, never the layer.
import type { Tensor } from "../autograd/tensor.ts";

/** One layer's parameters (weights [out, in] as Hugging Face stores them). */
export interface LayerWeights {
  inputNorm: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  qBias?: Tensor;
  kBias?: Tensor;
  vBias?: Tensor;
  o: Tensor;
  oBias?: Tensor;
  postNorm: Tensor;
  gate: Tensor;
  up: Tensor;
  down: Tensor;
}

/** The steps of a layer, over activations [N, ·] (N = B·T rows, or B rows when decoding). */
export interface LayerOps {
  /** RMSNorm of x [N, C] with weight w [C]. */
  norm(x: Tensor, w: Tensor): Tensor;
  /** q = h·Wqᵀ + bq [N, Hq·D], k, v = h·Wk/vᵀ + bk/v [N, Hkv·D]. */
  qkv(h: Tensor, w: LayerWeights): { q: Tensor; k: Tensor; v: Tensor };
  /** RoPE on q and k, then causal GQA attention of q over layer `layer`'s keys and values → [N, Hq·D]. */
  attention(layer: number, q: Tensor, k: Tensor, v: Tensor): Tensor;
  /** x + a·Wᵀ (+ b): a projection back into the residual stream. */
  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor): Tensor;
  /** silu(h·Wgateᵀ) ∘ (h·Wupᵀ) [N, I]. */
  gatedUp(h: Tensor, w: LayerWeights): Tensor;
}

/**
 * x ← x + o_proj(attention(rope(q, k), v)) with q, k, v = proj(rmsnorm(x));
 * x ← x + down(swiglu(gate(h), up(h))) with h = rmsnorm(x).
 */
export function decoderLayer(ops: LayerOps, layer: number, w: LayerWeights, x: Tensor): Tensor {
  const { q, k, v } = ops.qkv(ops.norm(x, w.inputNorm), w);
  x = ops.addProjection(x, ops.attention(layer, q, k, v), w.o, w.oBias);
  return ops.addProjection(x, ops.gatedUp(ops.norm(x, w.postNorm), w), w.down);
}

/** Layer i's weights from a model's parameters under their Hugging Face names. */
export function layerWeights(i: number, p: (name: string) => Tensor, optional: (name: string) => Tensor | undefined): LayerWeights {
  const l = `model.layers.${i}.`;
  return {
    inputNorm: p(`${l}input_layernorm.weight`),
    q: p(`${l}self_attn.q_proj.weight`),
    k: p(`${l}self_attn.k_proj.weight`),
    v: p(`${l}self_attn.v_proj.weight`),
    qBias: optional(`${l}self_attn.q_proj.bias`),
    kBias: optional(`${l}self_attn.k_proj.bias`),
    vBias: optional(`${l}self_attn.v_proj.bias`),
    o: p(`${l}self_attn.o_proj.weight`),
    oBias: optional(`${l}self_attn.o_proj.bias`),
    postNorm: p(`${l}post_attention_layernorm.weight`),
    gate: p(`${l}mlp.gate_proj.weight`),
    up: p(`${l}mlp.up_proj.weight`),
    down: p(`${l}mlp.down_proj.weight`),
  };
}

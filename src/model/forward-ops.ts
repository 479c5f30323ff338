// The layer's steps as autograd ops over a whole token batch [B·T, ·] (training, scoring, prefill):
// each step returns fresh tensors and, when grad is enabled, records its backward on the tape. With a
// KV cache, attention also stores each layer's rotated keys and values in it (prefill). An adapted
// projection is a LoRA op over its frozen weight; its dropout acts only in training passes (those given a
// dropout seed), also inside a checkpointed layer's no-grad forward, so that its recompute matches.
import { add } from "../autograd/ops/add.ts";
import { ropeAttention } from "../autograd/ops/attention.ts";
import { linear } from "../autograd/ops/linear.ts";
import { loraLinear } from "../autograd/ops/lora.ts";
import { rmsnorm } from "../autograd/ops/rmsnorm.ts";
import { swiglu } from "../autograd/ops/swiglu.ts";
import type { Tensor } from "../autograd/tensor.ts";
import type { TokenBatch } from "./batch.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import type { LayerOps, LayerWeights, Rope } from "./layer.ts";
import { dropoutSeed, type ProjectionAdapter } from "./lora.ts";

export class ForwardOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly batch: TokenBatch,
    private readonly rope: Rope,
    private readonly cache?: KVCache,
    /** Seed of this pass's LoRA dropout masks; undefined: no dropout (inference, scoring). */
    private readonly passSeed?: number,
  ) {}

  /** x·Wᵀ (+ b), plus the LoRA update where the projection is adapted. */
  private project(x: Tensor, w: Tensor, b?: Tensor, lora?: ProjectionAdapter): Tensor {
    if (!lora) return linear(x, w, b);
    const dropout = this.passSeed === undefined ? undefined : { p: lora.dropout, seed: dropoutSeed(this.passSeed, lora.spec) };
    return loraLinear(x, w, b, [{ A: lora.A, B: lora.B, scale: lora.scale, dropout }]);
  }

  norm(x: Tensor, w: Tensor): Tensor {
    return rmsnorm(x, w, this.config.rmsNormEps);
  }

  qkv(h: Tensor, w: LayerWeights): { q: Tensor; k: Tensor; v: Tensor } {
    const { lora } = w;
    return { q: this.project(h, w.q, w.qBias, lora.q_proj), k: this.project(h, w.k, w.kBias, lora.k_proj), v: this.project(h, w.v, w.vBias, lora.v_proj) };
  }

  attention(layer: number, q: Tensor, k: Tensor, v: Tensor): Tensor {
    const { config: c, batch } = this;
    const dims = { B: batch.B, T: batch.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    const a = ropeAttention(q, k, v, batch.positions, this.rope.invFreq, batch.validStart, dims, this.rope.scale);
    this.cache?.store(layer, k, v); // k was rotated in place by ropeAttention
    return a;
  }

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor, lora?: ProjectionAdapter): Tensor {
    return add(x, this.project(a, w, b, lora));
  }

  gatedUp(h: Tensor, w: LayerWeights): Tensor {
    return swiglu(this.project(h, w.gate, undefined, w.lora.gate_proj), this.project(h, w.up, undefined, w.lora.up_proj));
  }
}

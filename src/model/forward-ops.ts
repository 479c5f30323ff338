// The layer's steps as autograd ops over a whole token batch [B·T, ·] (training, scoring, prefill):
// each step returns fresh tensors and, when grad is enabled, records its backward on the tape. With a
// KV cache, attention also stores each layer's rotated keys and values in it (prefill).
import { ropeAttention } from "../autograd/ops/attention.ts";
import { linearResidual } from "../autograd/ops/linear.ts";
import { rmsnormLinear } from "../autograd/ops/norm-linear.ts";
import { swigluLinear } from "../autograd/ops/swiglu-linear.ts";
import type { Tensor } from "../autograd/tensor.ts";
import type { TokenBatch } from "./batch.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import type { LayerOps, LayerWeights, Rope } from "./layer.ts";

export class ForwardOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly batch: TokenBatch,
    private readonly rope: Rope,
    private readonly cache?: KVCache,
  ) {}

  qkv(x: Tensor, w: LayerWeights): Tensor {
    return rmsnormLinear(x, w.inputNorm, w.qkv, w.qkvBias, this.config.rmsNormEps);
  }

  attention(layer: number, qkv: Tensor): Tensor {
    const { config: c, batch } = this;
    const dims = { B: batch.B, T: batch.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    const { out, k, v } = ropeAttention(qkv, batch.positions, this.rope.invFreq, batch.validStart, dims, this.rope.scale);
    this.cache?.store(layer, k, v);
    return out;
  }

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor): Tensor {
    return linearResidual(x, a, w, b);
  }

  gatedUp(x: Tensor, w: LayerWeights): Tensor {
    return swigluLinear(x, w.postNorm, w.gateUp, this.config.rmsNormEps);
  }
}

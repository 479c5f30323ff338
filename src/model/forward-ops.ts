// The layer's steps as autograd ops over a whole token batch [B·T, ·] (training, scoring, prefill):
// each step returns fresh tensors and, when grad is enabled, records its backward on the tape. With a
// KV cache, attention also stores each layer's rotated keys and values in it (prefill).
import { add } from "../autograd/ops/add.ts";
import { ropeAttention } from "../autograd/ops/attention.ts";
import { linear } from "../autograd/ops/linear.ts";
import { rmsnorm } from "../autograd/ops/rmsnorm.ts";
import { swiglu } from "../autograd/ops/swiglu.ts";
import type { Tensor } from "../autograd/tensor.ts";
import type { TokenBatch } from "./batch.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import type { LayerOps, LayerWeights } from "./layer.ts";

export class ForwardOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly batch: TokenBatch,
    private readonly invFreq: Tensor,
    private readonly cache?: KVCache,
  ) {}

  norm(x: Tensor, w: Tensor): Tensor {
    return rmsnorm(x, w, this.config.rmsNormEps);
  }

  qkv(h: Tensor, w: LayerWeights): { q: Tensor; k: Tensor; v: Tensor } {
    return { q: linear(h, w.q, w.qBias), k: linear(h, w.k, w.kBias), v: linear(h, w.v, w.vBias) };
  }

  attention(layer: number, q: Tensor, k: Tensor, v: Tensor): Tensor {
    const { config: c, batch } = this;
    const dims = { B: batch.B, T: batch.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    const a = ropeAttention(q, k, v, batch.positions, this.invFreq, batch.validStart, dims);
    this.cache?.store(layer, k, v); // k was rotated in place by ropeAttention
    return a;
  }

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor): Tensor {
    return add(x, linear(a, w, b));
  }

  gatedUp(h: Tensor, w: LayerWeights): Tensor {
    return swiglu(linear(h, w.gate), linear(h, w.up));
  }
}

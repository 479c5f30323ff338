// The layer's steps as autograd ops over a whole token batch [B·T, ·] (training, scoring, prefill):
// each step returns fresh tensors and, when grad is enabled, records its backward on the tape. With a
// KV cache, attention also stores each layer's rotated keys and values in it (prefill). A projection
// without adapters runs as its fused op (RMSNorm prologue, SwiGLU epilogue, residual operand); an
// adapted one is a LoRA op over its frozen weight (q/k/v and gate/up: one op over the fused weight,
// each adapter in its part's columns), after a separate RMSNorm and before a separate SwiGLU. Its
// dropout acts only in training passes (those given a dropout seed), also in a checkpointed layer's
// first forward, so that its recompute matches.
import { ropeAttention } from "../autograd/ops/attention.ts";
import { linearResidual } from "../autograd/ops/linear.ts";
import { type LoraAdapter, loraLinear } from "../autograd/ops/lora.ts";
import { rmsnormLinear } from "../autograd/ops/norm-linear.ts";
import { rmsnorm } from "../autograd/ops/rmsnorm.ts";
import { swiglu } from "../autograd/ops/swiglu.ts";
import { swigluLinear } from "../autograd/ops/swiglu-linear.ts";
import type { Tensor } from "../autograd/tensor.ts";
import type { TokenBatch } from "./batch.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import type { LayerOps, LayerWeights, Rope } from "./layer.ts";
import { dropoutSeed, type PartAdapter, partAdapters, type ProjectionAdapter } from "./lora.ts";

export class ForwardOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly batch: TokenBatch,
    private readonly rope: Rope,
    private readonly cache?: KVCache,
    /** Seed of this pass's LoRA dropout masks; undefined: no dropout (inference, scoring). */
    private readonly passSeed?: number,
  ) {}

  /** loraLinear's adapter for `part`, with this pass's dropout (none without a pass seed). */
  private adapter({ adapter: a, col0 }: PartAdapter): LoraAdapter {
    const dropout = this.passSeed === undefined ? undefined : { p: a.dropout, seed: dropoutSeed(this.passSeed, a.spec) };
    return { A: a.A, B: a.B, scale: a.scale, col0, dropout };
  }

  qkv(x: Tensor, w: LayerWeights): Tensor {
    const eps = this.config.rmsNormEps;
    const adapters = partAdapters(this.config, w.lora, "qkv_proj");
    if (adapters.length === 0) return rmsnormLinear(x, w.inputNorm, w.qkv, w.qkvBias, eps);
    return loraLinear(rmsnorm(x, w.inputNorm, eps), w.qkv, w.qkvBias, adapters.map((a) => this.adapter(a)));
  }

  attention(layer: number, qkv: Tensor): Tensor {
    const { config: c, batch } = this;
    const dims = { B: batch.B, T: batch.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    const { out, k, v } = ropeAttention(qkv, batch.positions, this.rope.invFreq, batch.validStart, dims, this.rope.scale);
    this.cache?.store(layer, k, v);
    return out;
  }

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor, lora?: ProjectionAdapter): Tensor {
    if (!lora) return linearResidual(x, a, w, b);
    return loraLinear(a, w, b, [this.adapter({ adapter: lora, col0: 0 })], x);
  }

  gatedUp(x: Tensor, w: LayerWeights): Tensor {
    const eps = this.config.rmsNormEps;
    const adapters = partAdapters(this.config, w.lora, "gate_up_proj");
    if (adapters.length === 0) return swigluLinear(x, w.postNorm, w.gateUp, eps);
    return swiglu(loraLinear(rmsnorm(x, w.postNorm, eps), w.gateUp, undefined, adapters.map((a) => this.adapter(a))));
  }
}

// The layer's steps as autograd ops over a whole token batch [B·T, ·] (training, scoring, prefill):
// each step returns fresh tensors and, when grad is enabled, records its backward on the tape. With a
// KV cache, attention also stores each layer's rotated keys and values in it (prefill). An adapted
// projection is a LoRA op over its frozen weight (over the fused q/k/v or gate/up weight, each part's
// adapter at its columns); its dropout acts only in training passes (those given a dropout seed), also
// inside a checkpointed layer's no-grad forward, so that its recompute matches.
import { add } from "../autograd/ops/add.ts";
import { ropeAttention } from "../autograd/ops/attention.ts";
import { linear, linearResidual } from "../autograd/ops/linear.ts";
import { type LoraAdapter, loraLinear } from "../autograd/ops/lora.ts";
import { rmsnormLinear } from "../autograd/ops/norm-linear.ts";
import { rmsnorm } from "../autograd/ops/rmsnorm.ts";
import { swigluLinear } from "../autograd/ops/swiglu-linear.ts";
import type { Tensor } from "../autograd/tensor.ts";
import type { TokenBatch } from "./batch.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import { type LayerOps, type LayerWeights, partAdapters, type Rope } from "./layer.ts";
import { dropoutSeed, type LoraTargetModule, type ProjectionAdapter } from "./lora.ts";

export class ForwardOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly batch: TokenBatch,
    private readonly rope: Rope,
    private readonly cache?: KVCache,
    /** Seed of this pass's LoRA dropout masks; undefined: no dropout (inference, scoring). */
    private readonly passSeed?: number,
    /**
     * A training pass: every step runs as when recorded, also inside a checkpointed layer's no-grad
     * forward, so that its recompute matches bit for bit (no fused RMSNorm prologue or SwiGLU epilogue).
     */
    private readonly training = false,
  ) {}

  /** The LoRA ops' adapters of a projection's parts (`parts` in its row order, with their row counts). */
  private adapters(lora: LayerWeights["lora"], parts: readonly [LoraTargetModule, number][]): LoraAdapter[] {
    return partAdapters(lora, parts).map(({ adapter: a, col0 }) => ({
      A: a.A,
      B: a.B,
      scale: a.scale,
      col0,
      dropout: this.passSeed === undefined ? undefined : { p: a.dropout, seed: dropoutSeed(this.passSeed, a.spec) },
    }));
  }

  qkv(x: Tensor, w: LayerWeights): Tensor {
    const { numHeads: Hq, numKvHeads: Hkv, headDim: D, rmsNormEps: eps } = this.config;
    const adapters = this.adapters(w.lora, [["q_proj", Hq * D], ["k_proj", Hkv * D], ["v_proj", Hkv * D]]);
    if (adapters.length === 0 && !this.training) return rmsnormLinear(x, w.inputNorm, w.qkv, w.qkvBias, eps);
    const h = rmsnorm(x, w.inputNorm, eps);
    return adapters.length ? loraLinear(h, w.qkv, w.qkvBias, adapters) : linear(h, w.qkv, w.qkvBias);
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
    return add(x, loraLinear(a, w, b, this.adapters({ [lora.spec.parts[0].proj]: lora }, [[lora.spec.parts[0].proj, w.shape[0]]])));
  }

  gatedUp(x: Tensor, w: LayerWeights): Tensor {
    const I = this.config.intermediateSize;
    const adapters = this.adapters(w.lora, [["gate_proj", I], ["up_proj", I]]);
    return swigluLinear(x, w.postNorm, w.gateUp, this.config.rmsNormEps, adapters, !this.training);
  }
}

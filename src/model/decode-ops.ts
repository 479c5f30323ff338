// The layer's steps for one decode step: one new token per row [B, ·], no grad, every output written
// to the KV cache's preallocated scratch (src/model/kv-cache.ts) and the residual stream updated in
// place. Seven dispatches per layer: the q/k/v projection with its RMSNorm; RoPE of the new q and k at
// each row's own position with k and v written to cache slot `length`; attention over the row's slots
// validStart ≤ j ≤ length (split-K partials and their combination); o_proj added into x; gate/up with
// its RMSNorm and the SwiGLU; down_proj added into x. (Nine on CPU adapters for large models, where
// the RMSNorms run as their own dispatches: `normProloguePays`.)
import type { Tensor } from "../autograd/tensor.ts";
import { attentionDecode } from "../kernels/attention.ts";
import { matmul, normProloguePays } from "../kernels/matmul.ts";
import { rmsnormForward } from "../kernels/rmsnorm.ts";
import { ropeQkvForward } from "../kernels/rope.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import type { LayerOps, LayerWeights, Rope } from "./layer.ts";

export class DecodeOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly cache: KVCache,
    private readonly rope: Rope,
  ) {}

  qkv(x: Tensor, w: LayerWeights): Tensor {
    const { qkv } = this.cache.scratch;
    this.normMatmul(qkv, x, w.inputNorm, w.qkv, w.qkvBias);
    return qkv;
  }

  attention(layer: number, qkv: Tensor): Tensor {
    const { config: c, cache } = this;
    const { B, Tmax, length } = cache;
    const heads = { Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    const { q, a } = cache.scratch;
    const HD = c.numKvHeads * c.headDim;
    const slot = { stride: Tmax * HD, offset: length * HD };
    const kv = { q: q.buf, k: cache.keys[layer].buf, v: cache.values[layer].buf };
    ropeQkvForward(kv, qkv.buf, cache.positions.buf, this.rope.invFreq.buf, { B, T: 1, ...heads }, this.rope.scale, slot);
    attentionDecode(
      { q: q.buf, kCache: cache.keys[layer].buf, vCache: cache.values[layer].buf, o: a.buf, validStart: cache.validStart.buf },
      { B, Tmax, length: length + 1, ...heads },
    );
    return a;
  }

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor): Tensor {
    matmul({ a: a.buf, b: w.buf, c: x.buf, bias: b?.buf }, { M: x.shape[0], N: w.shape[0], K: w.shape[1], transB: true, accumulate: true });
    return x;
  }

  gatedUp(x: Tensor, w: LayerWeights): Tensor {
    const { m } = this.cache.scratch;
    this.normMatmul(m, x, w.postNorm, w.gateUp, undefined, true);
    return m;
  }

  /**
   * out = RMSNorm(x; g)·Wᵀ (+ b), or with `swiglu` the gated product of W's [gate; up] rows: one
   * matmul with the RMSNorm as its prologue where that pays (normProloguePays), else the RMSNorm into
   * the scratch h first.
   */
  private normMatmul(out: Tensor, x: Tensor, g: Tensor, w: Tensor, b: Tensor | undefined, swiglu = false): void {
    const eps = this.config.rmsNormEps;
    const shape = { M: x.shape[0], N: w.shape[0] / (swiglu ? 2 : 1), K: w.shape[1], transB: true, swiglu, normEps: eps };
    if (normProloguePays(shape)) {
      matmul({ a: x.buf, b: w.buf, c: out.buf, bias: b?.buf, normWeight: g.buf }, shape);
      return;
    }
    const { h, rstd } = this.cache.scratch;
    rmsnormForward(h.buf, rstd.buf, x.buf, g.buf, { N: shape.M, C: shape.K, eps });
    matmul({ a: h.buf, b: w.buf, c: out.buf, bias: b?.buf }, shape);
  }
}

/** out [N, Out] = x [N, In] · Wᵀ. */
export function linearInto(out: Tensor, x: Tensor, w: Tensor): void {
  matmul({ a: x.buf, b: w.buf, c: out.buf }, { M: x.shape[0], N: w.shape[0], K: w.shape[1], transB: true });
}

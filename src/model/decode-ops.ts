// The layer's steps for one decode step: one new token per row [B, ·], no grad, every output written
// to the KV cache's preallocated scratch (src/model/kv-cache.ts) and the residual stream updated in
// place. Seven dispatches per layer: the q/k/v projection with its RMSNorm; RoPE of the new q and k at
// each row's own position with k and v written to cache slot `length`; attention over the row's slots
// validStart ≤ j ≤ length (split-K partials and their combination); o_proj added into x; gate/up with
// its RMSNorm and the SwiGLU; down_proj added into x. (Nine on CPU adapters for large models, where
// the RMSNorms run as their own dispatches: `normProloguePays`.) Weights are read in their storage
// dtype. An adapted projection adds s·(h·Aᵀ)·Bᵀ into its output columns, u = h·Aᵀ in the cache's
// [B, r] LoRA scratch (with the same RMSNorm prologue as the projection's): two dispatches per adapter
// (one less for each further part of a Phi-3 module, whose parts share A); adapted gate/up is
// projected into the cache's [B, 2I] scratch and the SwiGLU is a dispatch of its own.
import { storageType, type Tensor } from "../autograd/tensor.ts";
import { attentionDecode } from "../kernels/attention.ts";
import { matmul, normProloguePays } from "../kernels/matmul.ts";
import { rmsnormForward } from "../kernels/rmsnorm.ts";
import { ropeQkvForward } from "../kernels/rope.ts";
import { swigluForward } from "../kernels/swiglu.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import type { LayerOps, LayerWeights, Rope } from "./layer.ts";
import { type PartAdapter, partAdapters, type ProjectionAdapter } from "./lora.ts";

export class DecodeOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly cache: KVCache,
    private readonly rope: Rope,
  ) {}

  qkv(x: Tensor, w: LayerWeights): Tensor {
    const { qkv } = this.cache.scratch;
    this.normMatmul(qkv, x, w.inputNorm, w.qkv, w.qkvBias, partAdapters(this.config, w.lora, "qkv_proj"));
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
      { B, Tmax, length: length + 1, ...heads, planRows: cache.planRows },
    );
    return a;
  }

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor, lora?: ProjectionAdapter): Tensor {
    const shape = { M: x.shape[0], N: w.shape[0], K: w.shape[1], transB: true, accumulate: true, bType: storageType(w) };
    matmul({ a: a.buf, b: w.buf, c: x.buf, bias: b?.buf }, shape);
    if (lora) this.addAdapters(x, a, [{ adapter: lora, col0: 0 }]);
    return x;
  }

  gatedUp(x: Tensor, w: LayerWeights): Tensor {
    const { m, gateUp } = this.cache.scratch;
    const adapters = partAdapters(this.config, w.lora, "gate_up_proj");
    if (adapters.length === 0) {
      this.normMatmul(m, x, w.postNorm, w.gateUp, undefined, [], true);
      return m;
    }
    if (!gateUp) throw new Error("DecodeOps: the KV cache has no [B, 2I] gate/up scratch (make it with a loraRank)");
    this.normMatmul(gateUp, x, w.postNorm, w.gateUp, undefined, adapters);
    swigluForward(m.buf, { fused: gateUp.buf }, { N: this.cache.B, I: this.config.intermediateSize });
    return m;
  }

  /**
   * out = RMSNorm(x; g)·Wᵀ (+ b) plus the adapters' updates, or with `swiglu` the gated product of W's
   * [gate; up] rows: one matmul with the RMSNorm as its prologue where that pays (normProloguePays),
   * else the RMSNorm into the scratch h first.
   */
  private normMatmul(out: Tensor, x: Tensor, g: Tensor, w: Tensor, b: Tensor | undefined, adapters: PartAdapter[], swiglu = false): void {
    const eps = this.config.rmsNormEps;
    const shape = { M: x.shape[0], N: w.shape[0] / (swiglu ? 2 : 1), K: w.shape[1], transB: true, swiglu, normEps: eps, bType: storageType(w) };
    // Decided for the batch the cache is planned for, so that dropping rows changes no row's arithmetic.
    if (normProloguePays({ ...shape, M: this.cache.planRows })) {
      matmul({ a: x.buf, b: w.buf, c: out.buf, bias: b?.buf, normWeight: g.buf }, shape);
      this.addAdapters(out, x, adapters, g);
      return;
    }
    const { h, rstd } = this.cache.scratch;
    rmsnormForward(h.buf, rstd.buf, x.buf, g.buf, { N: shape.M, C: shape.K, eps });
    matmul({ a: h.buf, b: w.buf, c: out.buf, bias: b?.buf }, shape);
    this.addAdapters(out, h, adapters);
  }

  /**
   * out[:, col0 : col0 + rows] += s·(n·Aᵀ)·Bᵀ for each adapter, n = x, or RMSNorm(x; norm) when given
   * (the matmul's prologue); u = n·Aᵀ is computed once for consecutive adapters sharing A.
   */
  private addAdapters(out: Tensor, x: Tensor, adapters: readonly PartAdapter[], norm?: Tensor): void {
    const u = this.cache.scratch.lora;
    const [N, K] = x.shape;
    let lastA: Tensor | undefined;
    for (const { adapter: { A, B, scale }, col0 } of adapters) {
      const r = A.shape[0];
      if (!u || u.shape[1] !== r) throw new Error(`DecodeOps: the KV cache has no [B, ${r}] LoRA scratch (make it with loraRank ${r})`);
      if (A !== lastA) {
        matmul({ a: x.buf, b: A.buf, c: u.buf, normWeight: norm?.buf }, { M: N, N: r, K, transB: true, normEps: this.config.rmsNormEps });
      }
      lastA = A;
      const cols = out.shape[1];
      matmul({ a: u.buf, b: B.buf, c: out.buf }, { M: N, N: B.shape[0], K: r, transB: true, alpha: scale, accumulate: true, ldc: cols, offsetC: col0 });
    }
  }
}

/** out [N, Out] = x [N, In] · Wᵀ, W read in its storage dtype. */
export function linearInto(out: Tensor, x: Tensor, w: Tensor): void {
  matmul({ a: x.buf, b: w.buf, c: out.buf }, { M: x.shape[0], N: w.shape[0], K: w.shape[1], transB: true, bType: storageType(w) });
}

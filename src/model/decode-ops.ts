// The layer's steps for one decode step: one new token per row [B, ·], no grad, every output written
// to the KV cache's preallocated scratch (src/model/kv-cache.ts) and the residual stream updated in
// place. Seven dispatches per layer: the q/k/v projection with its RMSNorm; RoPE of the new q and k at
// each row's own position with k and v written to cache slot `length`; attention over the row's slots
// validStart ≤ j ≤ length (split-K partials and their combination); o_proj added into x; gate/up with
// its RMSNorm and the SwiGLU; down_proj added into x. (On CPU adapters the RMSNorms of large models
// run as their own dispatches: `normProloguePays`.) Weights are read in their storage dtype; an adapted
// projection adds s·(h·Aᵀ)·Bᵀ at its columns through the cache's [B, r] LoRA scratch (its RMSNorm then
// runs first, and gate/up's SwiGLU after the adapters).
import { storageType, type Tensor } from "../autograd/tensor.ts";
import { attentionDecode } from "../kernels/attention.ts";
import { matmul, type MatmulShape, normProloguePays } from "../kernels/matmul.ts";
import { rmsnormForward } from "../kernels/rmsnorm.ts";
import { ropeQkvForward } from "../kernels/rope.ts";
import { swigluForward } from "../kernels/swiglu.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import { type LayerOps, type LayerWeights, partAdapters, type Rope } from "./layer.ts";
import type { LoraTargetModule, ProjectionAdapter } from "./lora.ts";

export class DecodeOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly cache: KVCache,
    private readonly rope: Rope,
  ) {}

  qkv(x: Tensor, w: LayerWeights): Tensor {
    const { numHeads: Hq, numKvHeads: Hkv, headDim: D } = this.config;
    const { qkv } = this.cache.scratch;
    const adapted = partAdapters(w.lora, [["q_proj", Hq * D], ["k_proj", Hkv * D], ["v_proj", Hkv * D]]);
    const h = this.normMatmul(qkv, x, w.inputNorm, w.qkv, w.qkvBias, false, adapted.length > 0);
    for (const { adapter, col0 } of adapted) this.addLora(qkv, h, adapter, col0);
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

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor, lora?: ProjectionAdapter): Tensor {
    matmul({ a: a.buf, b: w.buf, c: x.buf, bias: b?.buf }, { M: x.shape[0], N: w.shape[0], K: w.shape[1], transB: true, accumulate: true, bType: storageType(w) });
    if (lora) this.addLora(x, a, lora, 0);
    return x;
  }

  gatedUp(x: Tensor, w: LayerWeights): Tensor {
    const I = this.config.intermediateSize;
    const { m, gateUp } = this.cache.scratch;
    const adapted = partAdapters(w.lora, [["gate_proj", I], ["up_proj", I]] as [LoraTargetModule, number][]);
    if (adapted.length === 0) {
      this.normMatmul(m, x, w.postNorm, w.gateUp, undefined, true, false);
      return m;
    }
    if (!gateUp) throw new Error("DecodeOps: the KV cache has no gate/up scratch (make it with a loraRank)");
    const h = this.normMatmul(gateUp, x, w.postNorm, w.gateUp, undefined, false, true);
    for (const { adapter, col0 } of adapted) this.addLora(gateUp, h, adapter, col0);
    swigluForward(m.buf, { fused: gateUp.buf }, { N: this.cache.B, I });
    return m;
  }

  /**
   * out = RMSNorm(x; g)·Wᵀ (+ b), or with `swiglu` the gated product of W's [gate; up] rows: one
   * matmul with the RMSNorm as its prologue where that pays (normProloguePays) and `needNormed` is
   * false, else the RMSNorm into the scratch h first. Returns the normalised input when it was written.
   */
  private normMatmul(out: Tensor, x: Tensor, g: Tensor, w: Tensor, b: Tensor | undefined, swiglu: boolean, needNormed: boolean): Tensor {
    const eps = this.config.rmsNormEps;
    const shape: MatmulShape = { M: x.shape[0], N: w.shape[0] / (swiglu ? 2 : 1), K: w.shape[1], transB: true, swiglu, normEps: eps, bType: storageType(w) };
    if (!needNormed && normProloguePays(shape)) {
      matmul({ a: x.buf, b: w.buf, c: out.buf, bias: b?.buf, normWeight: g.buf }, shape);
      return x;
    }
    const { h, rstd } = this.cache.scratch;
    rmsnormForward(h.buf, rstd.buf, x.buf, g.buf, { N: shape.M, C: shape.K, eps });
    matmul({ a: h.buf, b: w.buf, c: out.buf, bias: b?.buf }, shape);
    return h;
  }

  /** out[:, col0 …] += s·(x·Aᵀ)·Bᵀ, with x·Aᵀ in the cache's LoRA scratch. */
  private addLora(out: Tensor, x: Tensor, lora: ProjectionAdapter, col0: number): void {
    const u = this.cache.scratch.lora;
    const r = lora.A.shape[0];
    if (!u || u.shape[1] !== r) throw new Error(`DecodeOps: the KV cache has no [B, ${r}] LoRA scratch (make it with loraRank ${r})`);
    const [N, K] = x.shape;
    matmul({ a: x.buf, b: lora.A.buf, c: u.buf }, { M: N, N: r, K, transB: true });
    const ld = out.shape[1];
    matmul({ a: u.buf, b: lora.B.buf, c: out.buf }, { M: N, N: lora.B.shape[0], K: r, transB: true, alpha: lora.scale, accumulate: true, ldc: ld, offsetC: col0 });
  }
}

/** out [N, Out] = x [N, In] · Wᵀ (+ b), W read in its storage dtype. */
export function linearInto(out: Tensor, x: Tensor, w: Tensor, b?: Tensor): void {
  matmul({ a: x.buf, b: w.buf, c: out.buf, bias: b?.buf }, { M: x.shape[0], N: w.shape[0], K: w.shape[1], transB: true, bType: storageType(w) });
}

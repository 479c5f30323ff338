// The layer's steps for one decode step: one new token per row [B, ·], no grad, every output written
// to the KV cache's preallocated scratch (src/model/kv-cache.ts) and the residual stream updated in
// place. Attention rotates the new q and k at each row's own position, appends k and v to the cache at
// slot `length` and attends over the row's slots validStart ≤ j ≤ length. Weights are read in their
// storage dtype; an adapted projection adds s·(x·Aᵀ)·Bᵀ through the cache's [B, r] LoRA scratch.
import { storageType, type Tensor } from "../autograd/tensor.ts";
import { attentionDecode } from "../kernels/attention.ts";
import { add } from "../kernels/elementwise.ts";
import { matmul } from "../kernels/matmul.ts";
import { rmsnormForward } from "../kernels/rmsnorm.ts";
import { ropeForward } from "../kernels/rope.ts";
import { swigluForward } from "../kernels/swiglu.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import type { LayerOps, LayerWeights, Rope } from "./layer.ts";
import type { ProjectionAdapter } from "./lora.ts";

export class DecodeOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly cache: KVCache,
    private readonly rope: Rope,
  ) {}

  norm(x: Tensor, w: Tensor): Tensor {
    const { h, rstd } = this.cache.scratch;
    rmsnormForward(h.buf, rstd.buf, x.buf, w.buf, { N: this.cache.B, C: this.config.hiddenSize, eps: this.config.rmsNormEps });
    return h;
  }

  qkv(h: Tensor, w: LayerWeights): { q: Tensor; k: Tensor; v: Tensor } {
    const { q, k, v } = this.cache.scratch;
    const { lora } = w;
    this.project(q, h, w.q, w.qBias, lora.q_proj);
    this.project(k, h, w.k, w.kBias, lora.k_proj);
    this.project(v, h, w.v, w.vBias, lora.v_proj);
    return { q, k, v };
  }

  attention(layer: number, q: Tensor, k: Tensor, v: Tensor): Tensor {
    const { config: c, cache } = this;
    const { B, Tmax, length } = cache;
    const heads = { Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    ropeForward(q.buf, k.buf, cache.positions.buf, this.rope.invFreq.buf, { B, T: 1, ...heads }, this.rope.scale);
    cache.append(layer, k, v);
    const o = cache.scratch.a;
    attentionDecode(
      { q: q.buf, kCache: cache.keys[layer].buf, vCache: cache.values[layer].buf, o: o.buf, validStart: cache.validStart.buf },
      { B, Tmax, length: length + 1, ...heads },
    );
    return o;
  }

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor, lora?: ProjectionAdapter): Tensor {
    const { y } = this.cache.scratch;
    this.project(y, a, w, b, lora);
    add(x.buf, x.buf, y.buf, x.size);
    return x;
  }

  /** out = x·Wᵀ (+ b) (+ s·(x·Aᵀ)·Bᵀ with u = x·Aᵀ in the cache's LoRA scratch). */
  private project(out: Tensor, x: Tensor, w: Tensor, b?: Tensor, lora?: ProjectionAdapter): void {
    linearInto(out, x, w, b);
    if (!lora) return;
    const u = this.cache.scratch.lora;
    const r = lora.A.shape[0];
    if (!u || u.shape[1] !== r) throw new Error(`DecodeOps: the KV cache has no [B, ${r}] LoRA scratch (make it with loraRank ${r})`);
    const [N, K] = x.shape;
    matmul({ a: x.buf, b: lora.A.buf, c: u.buf }, { M: N, N: r, K, transB: true });
    matmul({ a: u.buf, b: lora.B.buf, c: out.buf }, { M: N, N: out.shape[1], K: r, transB: true, alpha: lora.scale, accumulate: true });
  }

  gatedUp(h: Tensor, w: LayerWeights): Tensor {
    const { gate, up, m } = this.cache.scratch;
    this.project(gate, h, w.gate, undefined, w.lora.gate_proj);
    this.project(up, h, w.up, undefined, w.lora.up_proj);
    swigluForward(m.buf, { gate: gate.buf, up: up.buf }, { N: this.cache.B, I: this.config.intermediateSize });
    return m;
  }
}

/** out [N, Out] = x [N, In] · Wᵀ (+ b), W read in its storage dtype. */
export function linearInto(out: Tensor, x: Tensor, w: Tensor, b?: Tensor): void {
  matmul({ a: x.buf, b: w.buf, c: out.buf, bias: b?.buf }, { M: x.shape[0], N: w.shape[0], K: w.shape[1], transB: true, bType: storageType(w) });
}

// The layer's steps for one decode step: one new token per row [B, ·], no grad, every output written
// to the KV cache's preallocated scratch (src/model/kv-cache.ts) and the residual stream updated in
// place. Attention rotates the new q and k at each row's own position, appends k and v to the cache at
// slot `length` and attends over the row's slots validStart ≤ j ≤ length.
import type { Tensor } from "../autograd/tensor.ts";
import { attentionDecode } from "../kernels/attention.ts";
import { add } from "../kernels/elementwise.ts";
import { matmul } from "../kernels/matmul.ts";
import { rmsnormForward } from "../kernels/rmsnorm.ts";
import { ropeForward } from "../kernels/rope.ts";
import { swigluForward } from "../kernels/swiglu.ts";
import type { ModelConfig } from "./config.ts";
import type { KVCache } from "./kv-cache.ts";
import type { LayerOps, LayerWeights } from "./layer.ts";

export class DecodeOps implements LayerOps {
  constructor(
    private readonly config: ModelConfig,
    private readonly cache: KVCache,
    private readonly invFreq: Tensor,
  ) {}

  norm(x: Tensor, w: Tensor): Tensor {
    const { h, rstd } = this.cache.scratch;
    rmsnormForward(h.buf, rstd.buf, x.buf, w.buf, { N: this.cache.B, C: this.config.hiddenSize, eps: this.config.rmsNormEps });
    return h;
  }

  qkv(h: Tensor, w: LayerWeights): { q: Tensor; k: Tensor; v: Tensor } {
    const { q, k, v } = this.cache.scratch;
    linearInto(q, h, w.q, w.qBias);
    linearInto(k, h, w.k, w.kBias);
    linearInto(v, h, w.v, w.vBias);
    return { q, k, v };
  }

  attention(layer: number, q: Tensor, k: Tensor, v: Tensor): Tensor {
    const { config: c, cache } = this;
    const { B, Tmax, length } = cache;
    const heads = { Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    ropeForward(q.buf, k.buf, cache.positions.buf, this.invFreq.buf, { B, T: 1, ...heads });
    cache.append(layer, k, v);
    const o = cache.scratch.a;
    attentionDecode(
      { q: q.buf, kCache: cache.keys[layer].buf, vCache: cache.values[layer].buf, o: o.buf, validStart: cache.validStart.buf },
      { B, Tmax, length: length + 1, ...heads },
    );
    return o;
  }

  addProjection(x: Tensor, a: Tensor, w: Tensor, b?: Tensor): Tensor {
    const { y } = this.cache.scratch;
    linearInto(y, a, w, b);
    add(x.buf, x.buf, y.buf, x.size);
    return x;
  }

  gatedUp(h: Tensor, w: LayerWeights): Tensor {
    const { gate, up, m } = this.cache.scratch;
    linearInto(gate, h, w.gate);
    linearInto(up, h, w.up);
    swigluForward(m.buf, { gate: gate.buf, up: up.buf }, { N: this.cache.B, I: this.config.intermediateSize });
    return m;
  }
}

/** out [N, Out] = x [N, In] · Wᵀ (+ b). */
export function linearInto(out: Tensor, x: Tensor, w: Tensor, b?: Tensor): void {
  matmul({ a: x.buf, b: w.buf, c: out.buf, bias: b?.buf }, { M: x.shape[0], N: w.shape[0], K: w.shape[1], transB: true });
}

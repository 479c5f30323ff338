// The decoder-only transformer shared by Llama, Mistral, Qwen2 and Phi-3 (see config.ts), as autograd
// ops over GPU tensors. Parameters carry their Hugging Face names (weights.ts `parameterSpecs`).
//
//   x = embed(ids)                                     [B·T, C]
//   per layer:  x = x + o_proj(ropeAttention(q, k, v))  with q, k, v = proj(rmsnorm(x))
//               x = x + down(swiglu(gate(h), up(h)))    with h = rmsnorm(x)
//   h = rmsnorm(x); logprob[t] = log softmax(h[t]·Wᵀ)[target[t]]   (W = lm_head or tied embedding)
import { add } from "../autograd/ops/add.ts";
import { ropeAttention } from "../autograd/ops/attention.ts";
import { tokenLogprobs } from "../autograd/ops/classifier.ts";
import { embedding } from "../autograd/ops/embedding.ts";
import { linear } from "../autograd/ops/linear.ts";
import { rmsnorm } from "../autograd/ops/rmsnorm.ts";
import { swiglu } from "../autograd/ops/swiglu.ts";
import { scope } from "../autograd/scope.ts";
import { isGradEnabled } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { ropeAttentionFactor, ropeInvFreq } from "../kernels/rope.ts";
import type { TokenBatch } from "./batch.ts";
import { checkSequenceLength, type ModelConfig, ropeConfig } from "./config.ts";
import { parameterSpecs } from "./weights.ts";

export type KVHook = (layer: number, k: Tensor, v: Tensor) => void;

export class Transformer {
  /** [D/2] inverse RoPE frequencies (scaling applied; LongRoPE's short factors), uploaded once. */
  readonly invFreq: Tensor;
  /** LongRoPE only: [D/2] inverse frequencies with the long factors. */
  readonly longInvFreq: Tensor | undefined;
  /** What RoPE multiplies cos and sin by: LongRoPE's attention factor, else 1. */
  readonly ropeScale: number;

  constructor(
    readonly config: ModelConfig,
    readonly params: Map<string, Tensor>,
  ) {
    for (const spec of parameterSpecs(config)) {
      const p = params.get(spec.name);
      if (!p) throw new Error(`Transformer: missing parameter ${spec.name}`);
      if (p.shape.join() !== spec.shape.join()) throw new Error(`Transformer: ${spec.name} is [${p.shape}], expected [${spec.shape}]`);
    }
    const rope = ropeConfig(config);
    const table = (seqLen?: number) => Tensor.fromArray(ropeInvFreq(rope, seqLen), [config.headDim / 2]).keep();
    this.invFreq = table();
    const s = config.ropeScaling;
    this.longInvFreq = s?.type === "longrope" ? table(s.originalMaxPositionEmbeddings + 1) : undefined;
    this.ropeScale = ropeAttentionFactor(rope);
  }

  /**
   * RoPE's inverse frequencies and cos/sin scale for a pass whose rows span `length` positions
   * (max position + 1): LongRoPE uses the long factors for the whole pass when `length` exceeds
   * original_max_position_embeddings, as transformers does.
   */
  rope(length: number): { invFreq: Tensor; scale: number } {
    const s = this.config.ropeScaling;
    const long = s?.type === "longrope" && length > s.originalMaxPositionEmbeddings;
    return { invFreq: long ? this.longInvFreq! : this.invFreq, scale: this.ropeScale };
  }

  /** Parameters in `parameterSpecs` order (the optimizer's and the checkpoint's order). */
  parameters(): Tensor[] {
    return parameterSpecs(this.config).map((s) => this.params.get(s.name)!);
  }

  p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`Transformer: no parameter ${name}`);
    return t;
  }

  optional(name: string): Tensor | undefined {
    return this.params.get(name);
  }

  /** The classifier weight [V, C]: lm_head, or the embedding when tied. */
  get unembedding(): Tensor {
    return this.config.tieWordEmbeddings ? this.p("model.embed_tokens.weight") : this.p("lm_head.weight");
  }

  /**
   * Final hidden states [B·T, C] (after the last RMSNorm). `onKV` sees each layer's rotated keys and
   * values [B·T, Hkv·D] (generation copies them into its KV cache).
   */
  hidden(batch: TokenBatch, onKV?: KVHook): Tensor {
    const c = this.config;
    checkSequenceLength(c, batch.T);
    let x = embedding(batch.ids, this.p("model.embed_tokens.weight"));
    for (let i = 0; i < c.numLayers; i++) {
      // Under noGrad, each layer's intermediates are freed as soon as the layer is done.
      x = isGradEnabled() ? this.layer(i, x, batch, onKV) : scope(() => this.layer(i, x, batch, onKV));
    }
    return rmsnorm(x, this.p("model.norm.weight"), c.rmsNormEps);
  }

  /** log π(target[t] | tokens ≤ t) for every position [B·T] (at batch.temperature[t]); 0 where the target is −1. */
  logprobs(batch: TokenBatch): Tensor {
    return tokenLogprobs(this.hidden(batch), this.unembedding, batch.targets, { temperature: batch.temperature });
  }

  private layer(i: number, x: Tensor, batch: TokenBatch, onKV?: KVHook): Tensor {
    const c = this.config;
    const l = `model.layers.${i}.`;
    const h = rmsnorm(x, this.p(`${l}input_layernorm.weight`), c.rmsNormEps);
    const q = linear(h, this.p(`${l}self_attn.q_proj.weight`), this.optional(`${l}self_attn.q_proj.bias`));
    const k = linear(h, this.p(`${l}self_attn.k_proj.weight`), this.optional(`${l}self_attn.k_proj.bias`));
    const v = linear(h, this.p(`${l}self_attn.v_proj.weight`), this.optional(`${l}self_attn.v_proj.bias`));
    const dims = { B: batch.B, T: batch.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    const rope = this.rope(batch.ropeLength);
    const a = ropeAttention(q, k, v, batch.positions, rope.invFreq, batch.validStart, dims, rope.scale);
    onKV?.(i, k, v);
    x = add(x, linear(a, this.p(`${l}self_attn.o_proj.weight`), this.optional(`${l}self_attn.o_proj.bias`)));
    const h2 = rmsnorm(x, this.p(`${l}post_attention_layernorm.weight`), c.rmsNormEps);
    const m = swiglu(linear(h2, this.p(`${l}mlp.gate_proj.weight`)), linear(h2, this.p(`${l}mlp.up_proj.weight`)));
    return add(x, linear(m, this.p(`${l}mlp.down_proj.weight`)));
  }
}

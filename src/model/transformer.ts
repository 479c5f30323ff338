// The decoder-only transformer shared by Llama, Mistral, Qwen2 and Phi-3 (see config.ts), as autograd
// ops over GPU tensors. Parameters carry their Hugging Face names (weights.ts `parameterSpecs`).
//
//   x = embed(ids)                                     [B·T, C]
//   per layer:  x = x + o_proj(ropeAttention(q, k, v))  with q, k, v = proj(rmsnorm(x))
//               x = x + down(swiglu(gate(h), up(h)))    with h = rmsnorm(x)
//   h = rmsnorm(x); logprob[t] = log softmax(h[t]·Wᵀ)[target[t]]   (W = lm_head or tied embedding)
// With LoRA adapters (lora.ts), every adapted projection is x·Wᵀ + s·(x·Aᵀ)·Bᵀ over a frozen W;
// `withoutAdapters()` is the same model with them off (the KL reference π₀, no second copy of a weight).
import { add } from "../autograd/ops/add.ts";
import { ropeAttention } from "../autograd/ops/attention.ts";
import { tokenLogprobs } from "../autograd/ops/classifier.ts";
import { embedding } from "../autograd/ops/embedding.ts";
import { linear } from "../autograd/ops/linear.ts";
import { loraLinear } from "../autograd/ops/lora.ts";
import { rmsnorm } from "../autograd/ops/rmsnorm.ts";
import { swiglu } from "../autograd/ops/swiglu.ts";
import { scope } from "../autograd/scope.ts";
import { isGradEnabled } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import { ropeInvFreq } from "../kernels/rope.ts";
import type { TokenBatch } from "./batch.ts";
import { checkSequenceLength, type ModelConfig } from "./config.ts";
import { dropoutSeed, type LoraAdapters } from "./lora.ts";
import { parameterSpecs } from "./weights.ts";

export type KVHook = (layer: number, k: Tensor, v: Tensor) => void;

export class Transformer {
  /** [D/2] inverse RoPE frequencies (Llama-3 scaling applied), uploaded once. */
  readonly invFreq: Tensor;
  /**
   * Seed of the LoRA dropout masks of the next forward passes that record gradients (the trainer
   * sets one per micro-batch); passes without gradients never drop.
   */
  dropoutSeed = 0;

  constructor(
    readonly config: ModelConfig,
    readonly params: Map<string, Tensor>,
    /** LoRA adapters over frozen base weights; undefined for full fine-tuning or inference. */
    readonly adapters?: LoraAdapters,
  ) {
    for (const spec of parameterSpecs(config)) {
      const p = params.get(spec.name);
      if (!p) throw new Error(`Transformer: missing parameter ${spec.name}`);
      if (p.shape.join() !== spec.shape.join()) throw new Error(`Transformer: ${spec.name} is [${p.shape}], expected [${spec.shape}]`);
    }
    this.invFreq = Tensor.fromArray(
      ropeInvFreq({
        rope_theta: config.ropeTheta,
        head_dim: config.headDim,
        rope_scaling: config.ropeScaling && {
          rope_type: "llama3",
          factor: config.ropeScaling.factor,
          low_freq_factor: config.ropeScaling.lowFreqFactor,
          high_freq_factor: config.ropeScaling.highFreqFactor,
          original_max_position_embeddings: config.ropeScaling.originalMaxPositionEmbeddings,
        },
      }),
      [config.headDim / 2],
    ).keep();
  }

  /** Parameters in `parameterSpecs` order (the optimizer's and the checkpoint's order). */
  parameters(): Tensor[] {
    return parameterSpecs(this.config).map((s) => this.params.get(s.name)!);
  }

  /** What training updates: the adapters' A and B with LoRA, else every parameter. */
  trainableParameters(): Tensor[] {
    return this.adapters ? this.adapters.parameters() : this.parameters();
  }

  /** The same weights without the adapters (shares every tensor; copies nothing). */
  withoutAdapters(): Transformer {
    return new Transformer(this.config, this.params);
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

  /** log π(target[t] | tokens ≤ t) for every position [B·T]; 0 where the target is −1. */
  logprobs(batch: TokenBatch): Tensor {
    return tokenLogprobs(this.hidden(batch), this.unembedding, batch.targets);
  }

  /** The projection `module` (e.g. model.layers.0.mlp.up_proj) of x: linear, or LoRA where adapted. */
  private project(x: Tensor, module: string): Tensor {
    const w = this.p(`${module}.weight`);
    const b = this.optional(`${module}.bias`);
    const ad = this.adapters?.of(module);
    if (!ad) return linear(x, w, b);
    const p = isGradEnabled() ? this.adapters!.lora.dropout : 0;
    return loraLinear(x, w, b, { A: ad.A, B: ad.B, scale: this.adapters!.scale }, { p, seed: dropoutSeed(this.dropoutSeed, ad.spec) });
  }

  private layer(i: number, x: Tensor, batch: TokenBatch, onKV?: KVHook): Tensor {
    const c = this.config;
    const l = `model.layers.${i}.`;
    const h = rmsnorm(x, this.p(`${l}input_layernorm.weight`), c.rmsNormEps);
    const q = this.project(h, `${l}self_attn.q_proj`);
    const k = this.project(h, `${l}self_attn.k_proj`);
    const v = this.project(h, `${l}self_attn.v_proj`);
    const dims = { B: batch.B, T: batch.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim };
    const a = ropeAttention(q, k, v, batch.positions, this.invFreq, batch.validStart, dims);
    onKV?.(i, k, v);
    x = add(x, this.project(a, `${l}self_attn.o_proj`));
    const h2 = rmsnorm(x, this.p(`${l}post_attention_layernorm.weight`), c.rmsNormEps);
    const m = swiglu(this.project(h2, `${l}mlp.gate_proj`), this.project(h2, `${l}mlp.up_proj`));
    return add(x, this.project(m, `${l}mlp.down_proj`));
  }
}

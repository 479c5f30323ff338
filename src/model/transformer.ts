// The decoder-only transformer shared by Llama, Mistral, Qwen2 and Phi-3 (see config.ts) over GPU
// tensors. Parameters carry their Hugging Face names (weights.ts `parameterSpecs`).
//
//   x = embed(ids)                                     [N, C]
//   per layer: x = decoderLayer(x)                      (layer.ts, the one definition of a layer)
//   h = rmsnorm(x); logprob[t] = log softmax(h[t]·Wᵀ)[target[t]]   (W = lm_head or tied embedding)
//
// Three ways to run it: `logprobs` (and `hidden`) over a token batch with the autograd ops (training and scoring,
// forward-ops.ts); `prefill`, the same under noGrad that also fills a KV cache; `decodeStep`, one
// token per row against the cache, into its preallocated buffers (decode-ops.ts). Prefill and decode
// step return next-token logits [B, V].
//
// With LoRA adapters (lora.ts), every adapted projection is x·Wᵀ + s·(x·Aᵀ)·Bᵀ over a frozen W;
// `withoutAdapters()` is the same model with them off (the KL reference π₀: no second copy of a weight).
import { embedding } from "../autograd/ops/embedding.ts";
import { tokenLogprobs } from "../autograd/ops/classifier.ts";
import { rmsnorm } from "../autograd/ops/rmsnorm.ts";
import { scope } from "../autograd/scope.ts";
import { checkpoint, isGradEnabled, noGrad } from "../autograd/tape.ts";
import { storageType, Tensor } from "../autograd/tensor.ts";
import { stridedCopy } from "../kernels/copy.ts";
import { embeddingForward } from "../kernels/embedding.ts";
import { rmsnormForward } from "../kernels/rmsnorm.ts";
import { ropeAttentionFactor, ropeInvFreq } from "../kernels/rope.ts";
import type { TokenBatch } from "./batch.ts";
import { checkSequenceLength, type ModelConfig, ropeConfig } from "./config.ts";
import { DecodeOps, linearInto } from "./decode-ops.ts";
import { ForwardOps } from "./forward-ops.ts";
import type { KVCache } from "./kv-cache.ts";
import { decoderLayer, type LayerWeights, layerWeights, type Rope } from "./layer.ts";
import type { LoraAdapters } from "./lora.ts";
import { parameterSpecs } from "./weights.ts";

export class Transformer {
  /** [D/2] inverse RoPE frequencies (scaling applied; LongRoPE's short factors), uploaded once. */
  readonly invFreq: Tensor;
  /** LongRoPE only: [D/2] inverse frequencies with the long factors. */
  readonly longInvFreq: Tensor | undefined;
  /** What RoPE multiplies cos and sin by: LongRoPE's attention factor, else 1. */
  readonly ropeScale: number;
  /** Each layer's parameters, resolved once. */
  private readonly layers: LayerWeights[];
  private disposed = false;
  /**
   * Seed of the LoRA dropout masks of the following forward passes that record gradients (the
   * trainer sets one per micro-batch); passes without gradients never drop.
   */
  dropoutSeed = 0;
  /**
   * Activation checkpointing (--gradient-checkpointing): passes that record gradients keep only each
   * layer's input and recompute the layer in the backward.
   */
  gradientCheckpointing = false;

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
    const rope = ropeConfig(config);
    const table = (seqLen?: number) => Tensor.fromArray(ropeInvFreq(rope, seqLen), [config.headDim / 2]).keep();
    this.invFreq = table();
    const s = config.ropeScaling;
    this.longInvFreq = s?.type === "longrope" ? table(s.originalMaxPositionEmbeddings + 1) : undefined;
    this.ropeScale = ropeAttentionFactor(rope);
    this.layers = Array.from({ length: config.numLayers }, (_, i) =>
      layerWeights(i, (n) => this.p(n), (n) => this.optional(n), adapters),
    );
  }

  /**
   * RoPE's inverse frequencies and cos/sin scale for a pass whose rows span `length` positions
   * (max position + 1): LongRoPE uses the long factors for the whole pass when `length` exceeds
   * original_max_position_embeddings, as transformers does.
   */
  rope(length: number): Rope {
    const s = this.config.ropeScaling;
    const long = s?.type === "longrope" && length > s.originalMaxPositionEmbeddings;
    return { invFreq: long ? this.longInvFreq! : this.invFreq, scale: this.ropeScale };
  }

  /** Parameters in `parameterSpecs` order (the optimizer's and the checkpoint's order). */
  parameters(): Tensor[] {
    return parameterSpecs(this.config).map((s) => this.params.get(s.name)!);
  }

  /** What training updates: the adapters' A and B with LoRA, else every parameter. */
  trainableParameters(): Tensor[] {
    return this.adapters ? this.adapters.parameters() : this.parameters();
  }

  /** The same weights without the adapters: shares every tensor, copies nothing (dispose only the owner). */
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

  /** Final hidden states [B·T, C] (after the last RMSNorm). */
  hidden(batch: TokenBatch): Tensor {
    return this.forward(batch);
  }

  /** log π(target[t] | tokens ≤ t) for every position [B·T] (at batch.temperature[t]); 0 where the target is −1. */
  logprobs(batch: TokenBatch): Tensor {
    return tokenLogprobs(this.forward(batch), this.unembedding, batch.targets, { temperature: batch.temperature });
  }

  /**
   * Runs the prompts `batch` (left-padded, [P, T]) under noGrad into `cache` (B = P·repeats rows:
   * prompt p fills rows p·repeats … p·repeats + repeats − 1) and returns the next-token logits
   * [B, V] (the cache's buffer, overwritten by the next step).
   */
  prefill(batch: TokenBatch, cache: KVCache, repeats = 1): Tensor {
    this.checkLive("prefill");
    cache.begin(batch.validStartHost, batch.T, repeats);
    const { B: P, T } = batch;
    const C = this.config.hiddenSize;
    const { x, logits } = cache.scratch;
    scope(() => {
      // RoPE's tables are those of the longest row the cache can hold, for prefill and every step.
      const h = noGrad(() => this.forward({ ...batch, ropeLength: cache.ropeLength }, cache));
      // Each prompt's last hidden state goes to every row it fills.
      for (let j = 0; j < repeats; j++) {
        stridedCopy(h.buf, x.buf, { rows: P, cols: C, srcOffset: (T - 1) * C, srcStride: T * C, dstOffset: j * C, dstStride: repeats * C });
      }
    });
    linearInto(logits, x, this.unembedding);
    return logits;
  }

  /**
   * One token per row (`tokens` i32 [B], at slot `cache.length`) through every layer against the
   * cache; returns the next-token logits [B, V] (the cache's buffer). Every output goes to the
   * cache's preallocated buffers (attention's split-K partials come from the buffer pool).
   */
  decodeStep(tokens: Tensor, cache: KVCache): Tensor {
    this.checkLive("decodeStep");
    const { B } = cache;
    if (tokens.dtype !== "i32" || tokens.size !== B) throw new Error(`decodeStep: tokens must be i32 [${B}], got ${tokens.dtype} [${tokens.shape}]`);
    const { hiddenSize: C, vocabSize: V } = this.config;
    const { x, logits } = cache.scratch;
    cache.beginStep();
    const table = this.p("model.embed_tokens.weight");
    embeddingForward(x.buf, tokens.buf, table.buf, { N: B, V, C }, storageType(table));
    const ops = new DecodeOps(this.config, cache, this.rope(cache.ropeLength));
    for (let i = 0; i < this.config.numLayers; i++) decoderLayer(ops, i, this.layers[i], x);
    // The vocabulary projection is the widest matmul: its RMSNorm runs once, not in the prologue of
    // every one of its workgroups (measured slower on lavapipe for Qwen2.5-0.5B's 151,936 rows).
    const { h, rstd } = cache.scratch;
    rmsnormForward(h.buf, rstd.buf, x.buf, this.p("model.norm.weight").buf, { N: B, C, eps: this.config.rmsNormEps });
    linearInto(logits, h, this.unembedding);
    cache.endStep();
    return logits;
  }

  /** Releases the parameters (and their gradients) and every buffer the model keeps. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.params.values()) {
      p.grad?.release();
      p.grad = undefined;
      p.release();
    }
    this.adapters?.release();
    this.invFreq.release();
    this.longInvFreq?.release();
  }

  /** `hidden`; with a cache, also fills it (prefill). */
  private forward(batch: TokenBatch, cache?: KVCache): Tensor {
    this.checkLive("forward");
    const c = this.config;
    checkSequenceLength(c, batch.T);
    const ops = new ForwardOps(c, batch, this.rope(batch.ropeLength), cache, isGradEnabled() ? this.dropoutSeed : undefined);
    let x = embedding(batch.ids, this.p("model.embed_tokens.weight"));
    for (let i = 0; i < c.numLayers; i++) {
      const w = this.layers[i];
      const layer = (input: Tensor) => decoderLayer(ops, i, w, input);
      // Under noGrad, each layer's intermediates are freed as soon as the layer is done.
      if (!isGradEnabled()) x = scope(() => layer(x));
      else if (this.gradientCheckpointing) x = checkpoint(x, trainableTensors(w), layer);
      else x = layer(x);
    }
    return rmsnorm(x, this.p("model.norm.weight"), c.rmsNormEps);
  }

  private checkLive(what: string): void {
    if (this.disposed) throw new Error(`Transformer: ${what} after dispose()`);
  }
}

/** The tensors of a layer that need gradients: its weights (full fine-tuning) or its adapters. */
function trainableTensors(w: LayerWeights): Tensor[] {
  const { lora, ...weights } = w;
  const adapters = Object.values(lora).flatMap((a) => (a ? [a.A, a.B] : []));
  // A fused module's parts share their A: each tensor once.
  return [...new Set([...Object.values(weights), ...adapters])].filter((t): t is Tensor => t instanceof Tensor && t.requiresGrad);
}

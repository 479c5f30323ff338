// Batched generation with a preallocated KV cache.
//
//   prefill: one no-grad forward over the left-padded prompts [B, Tp]; each layer's rotated keys and
//            values go to the cache [B, Tmax, Hkv·D] (Tmax = Tp + maxNewTokens); the last position's
//            hidden state gives the first logits.
//   decode:  per new token, every layer runs on [B, C] rows: q/k/v projections, RoPE at each row's
//            own position, the new k/v written at cache slot Tp + s, attention of the one query over
//            slots [validStart[b], Tp + s], MLP; then logits [B, V] and the sampling kernel.
// Everything stays on the GPU; sampled ids and their log-probs go to [B, maxNewTokens] buffers read
// back every CHECK_EVERY steps (to stop once every row has stopped) and at the end. Uniforms for
// sampling come from the caller's seeded Rng, so a seed fixes the output. Temperature 0 is greedy.
// After a row's first stop token the rest of the row is pad (log-prob 0).
import { storageType } from "../autograd/ops/lora.ts";
import { scopeAsync } from "../autograd/scope.ts";
import { noGrad } from "../autograd/tape.ts";
import { Tensor } from "../autograd/tensor.ts";
import type { Rng } from "../data/rng.ts";
import { download, upload } from "../gpu/recorder.ts";
import { attentionDecode } from "../kernels/attention.ts";
import { stridedCopy } from "../kernels/copy.ts";
import { add } from "../kernels/elementwise.ts";
import { embeddingForward } from "../kernels/embedding.ts";
import { matmul } from "../kernels/matmul.ts";
import { rmsnormForward } from "../kernels/rmsnorm.ts";
import { ropeForward } from "../kernels/rope.ts";
import { sample } from "../kernels/sample.ts";
import { swigluForward } from "../kernels/swiglu.ts";
import { tokenBatch } from "../model/batch.ts";
import { checkSequenceLength } from "../model/config.ts";
import type { Transformer } from "../model/transformer.ts";

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topK?: number;
  topP?: number;
  rng: Rng;
  /** A row stops at the first of these ids (kept in the output; later positions become pad). */
  stopTokenIds: readonly number[];
  pad: number;
}

export interface Generation {
  /** [B, maxNewTokens] sampled ids, pad after a row's stop token. */
  tokens: Int32Array;
  /** [B, maxNewTokens] log π(token) under the temperature-1 distribution (0 on pads). */
  logprobs: Float32Array;
  /** Tokens per row up to and including its stop token. */
  lengths: Int32Array;
}

const CHECK_EVERY = 16;

/** prompts: [B, Tp] left-padded ids (every row has at least one real token). */
export async function generate(model: Transformer, prompts: Int32Array, B: number, Tp: number, o: GenerateOptions): Promise<Generation> {
  const c = model.config;
  const { maxNewTokens: L } = o;
  if (!Number.isInteger(L) || L < 1) throw new Error(`generate: maxNewTokens must be a positive integer, got ${L}`);
  if (prompts.length !== B * Tp) throw new Error(`generate: ${prompts.length} prompt ids for B=${B} × T=${Tp}`);
  const Tmax = Tp + L;
  checkSequenceLength(c, Tmax);
  const C = c.hiddenSize;
  const V = c.vocabSize;
  const HD = c.numKvHeads * c.headDim;
  const QD = c.numHeads * c.headDim;

  return scopeAsync(async () => {
    const kCache = Array.from({ length: c.numLayers }, () => new Tensor([B, Tmax, HD]));
    const vCache = Array.from({ length: c.numLayers }, () => new Tensor([B, Tmax, HD]));
    const outTokens = new Tensor([B, L], "i32");
    const outLogprobs = new Tensor([B, L]);
    const token = new Tensor([B], "i32");
    const logprob = new Tensor([B]);
    const logits = new Tensor([B, V]);
    const uniforms = new Tensor([B]);
    const x = new Tensor([B, C]);

    // Prefill.
    const batch = tokenBatch(prompts, B, Tp, o.pad);
    const validStartHost = (await batch.validStart.toArray()) as Int32Array;
    await scopeAsync(async () => {
      const h = noGrad(() =>
        model.hidden(batch, (layer, k, v) => {
          for (let b = 0; b < B; b++) {
            const copy = { rows: Tp, cols: HD, srcStride: HD, dstStride: HD, srcOffset: b * Tp * HD, dstOffset: b * Tmax * HD };
            stridedCopy(k.buf, kCache[layer].buf, copy);
            stridedCopy(v.buf, vCache[layer].buf, copy);
          }
        }),
      );
      stridedCopy(h.buf, x.buf, { rows: B, cols: C, srcOffset: (Tp - 1) * C, srcStride: Tp * C, dstStride: C });
    });

    const pos = new Tensor([B], "i32");
    const scratch = {
      h: new Tensor([B, C]),
      rstd: new Tensor([B]),
      q: new Tensor([B, QD]),
      k: new Tensor([B, HD]),
      v: new Tensor([B, HD]),
      a: new Tensor([B, QD]),
      gate: new Tensor([B, c.intermediateSize]),
      up: new Tensor([B, c.intermediateSize]),
      m: new Tensor([B, c.intermediateSize]),
      y: new Tensor([B, C]),
    };
    const W = (name: string) => model.p(name).buf;
    const bias = (name: string) => model.optional(name)?.buf;
    // A projection of the decoded rows: x·Wᵀ (+ b) over W in its storage dtype, plus s·(x·Aᵀ)·Bᵀ where adapted.
    const loraU = model.adapters && new Tensor([B, model.adapters.lora.r]);
    const lin = (inp: Tensor, out: Tensor, w: string, b?: string) => {
      const [M, N, K] = [B, out.shape[1], inp.shape[1]];
      matmul({ a: inp.buf, b: W(w), c: out.buf, bias: b ? bias(b) : undefined }, { M, N, K, transB: true, bType: storageType(model.p(w)) });
      const ad = model.adapters?.of(w.slice(0, -".weight".length));
      if (!ad || !loraU) return;
      matmul({ a: inp.buf, b: ad.A.buf, c: loraU.buf }, { M, N: ad.A.shape[0], K, transB: true });
      matmul({ a: loraU.buf, b: ad.B.buf, c: out.buf }, { M, N, K: ad.A.shape[0], transB: true, alpha: model.adapters!.scale, accumulate: true });
    };
    const unembedding = model.unembedding;
    const unembed = unembedding.buf;
    const embedTable = model.p("model.embed_tokens.weight");

    const sampleNext = (s: number, hidden: Tensor) => {
      matmul({ a: hidden.buf, b: unembed, c: logits.buf }, { M: B, N: V, K: C, transB: true, bType: storageType(unembedding) });
      upload(uniforms.buf, Float32Array.from({ length: B }, () => o.rng.next()));
      sample({ logits: logits.buf, uniforms: uniforms.buf, out: token.buf, logprob: logprob.buf }, { B, V, temperature: o.temperature, topK: o.topK, topP: o.topP });
      const col = { rows: B, cols: 1, srcStride: 1, dstStride: L, dstOffset: s };
      stridedCopy(token.buf, outTokens.buf, col);
      stridedCopy(logprob.buf, outLogprobs.buf, col);
    };

    // x holds the last prompt position's final hidden state (already normed by model.hidden).
    sampleNext(0, x);
    let steps = 1;
    for (let s = 1; s < L; s++) {
      const t = Tp + s - 1; // cache slot of the token sampled at step s − 1
      upload(pos.buf, Int32Array.from({ length: B }, (_, b) => t - validStartHost[b]));
      embeddingForward(x.buf, token.buf, embedTable.buf, { N: B, V, C }, storageType(embedTable));
      for (let i = 0; i < c.numLayers; i++) {
        const l = `model.layers.${i}.`;
        rmsnormForward(scratch.h.buf, scratch.rstd.buf, x.buf, W(`${l}input_layernorm.weight`), { N: B, C, eps: c.rmsNormEps });
        lin(scratch.h, scratch.q, `${l}self_attn.q_proj.weight`, `${l}self_attn.q_proj.bias`);
        lin(scratch.h, scratch.k, `${l}self_attn.k_proj.weight`, `${l}self_attn.k_proj.bias`);
        lin(scratch.h, scratch.v, `${l}self_attn.v_proj.weight`, `${l}self_attn.v_proj.bias`);
        ropeForward(scratch.q.buf, scratch.k.buf, pos.buf, model.invFreq.buf, { B, T: 1, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim });
        const slot = { rows: B, cols: HD, srcStride: HD, dstStride: Tmax * HD, dstOffset: t * HD };
        stridedCopy(scratch.k.buf, kCache[i].buf, slot);
        stridedCopy(scratch.v.buf, vCache[i].buf, slot);
        attentionDecode(
          { q: scratch.q.buf, kCache: kCache[i].buf, vCache: vCache[i].buf, o: scratch.a.buf, validStart: batch.validStart.buf },
          { B, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, Tmax, length: t + 1 },
        );
        lin(scratch.a, scratch.y, `${l}self_attn.o_proj.weight`, `${l}self_attn.o_proj.bias`);
        add(x.buf, x.buf, scratch.y.buf, B * C);
        rmsnormForward(scratch.h.buf, scratch.rstd.buf, x.buf, W(`${l}post_attention_layernorm.weight`), { N: B, C, eps: c.rmsNormEps });
        lin(scratch.h, scratch.gate, `${l}mlp.gate_proj.weight`);
        lin(scratch.h, scratch.up, `${l}mlp.up_proj.weight`);
        swigluForward(scratch.m.buf, { gate: scratch.gate.buf, up: scratch.up.buf }, { N: B, I: c.intermediateSize });
        lin(scratch.m, scratch.y, `${l}mlp.down_proj.weight`);
        add(x.buf, x.buf, scratch.y.buf, B * C);
      }
      rmsnormForward(scratch.h.buf, scratch.rstd.buf, x.buf, W("model.norm.weight"), { N: B, C, eps: c.rmsNormEps });
      sampleNext(s, scratch.h);
      steps = s + 1;
      if (steps % CHECK_EVERY === 0 && steps < L && allStopped(await readTokens(outTokens, B, L), B, L, steps, o.stopTokenIds)) break;
    }
    return finish(await readTokens(outTokens, B, L), new Float32Array(await download(outLogprobs.buf, B * L * 4)), B, L, steps, o);
  });
}

async function readTokens(t: Tensor, B: number, L: number): Promise<Int32Array> {
  return new Int32Array(await download(t.buf, B * L * 4));
}

function allStopped(tokens: Int32Array, B: number, L: number, steps: number, stop: readonly number[]): boolean {
  for (let b = 0; b < B; b++) {
    let stopped = false;
    for (let s = 0; s < steps && !stopped; s++) stopped = stop.includes(tokens[b * L + s]);
    if (!stopped) return false;
  }
  return true;
}

/** Pads every row after its first stop token (and beyond the steps run). */
function finish(tokens: Int32Array, logprobs: Float32Array, B: number, L: number, steps: number, o: GenerateOptions): Generation {
  const lengths = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let end = steps;
    for (let s = 0; s < steps; s++) {
      if (o.stopTokenIds.includes(tokens[b * L + s])) {
        end = s + 1;
        break;
      }
    }
    lengths[b] = end;
    for (let s = end; s < L; s++) {
      tokens[b * L + s] = o.pad;
      logprobs[b * L + s] = 0;
    }
  }
  return { tokens, logprobs, lengths };
}

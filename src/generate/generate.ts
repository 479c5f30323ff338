// Batched generation: sampling and stopping around the model's KV-cache decoding.
//
//   prefill: the left-padded prompts [P, Tp] fill a KV cache of B = P·samplesPerPrompt rows and
//            Tmax = Tp + maxNewTokens slots (each prompt once, its rows sharing it) and give the
//            first logits (Transformer.prefill);
//   decode:  per new token, the sampled ids [B] go through Transformer.decodeStep for the next
//            logits [B, V], then the sampling kernel.
// Everything stays on the GPU; sampled ids and their log-probs go to [B, maxNewTokens] buffers read
// back every CHECK_EVERY steps (to end once every row has stopped: emitted a stop token, or a stop
// sequence that fixes where truncation will cut it, stopping.ts) and at the end. Uniforms for
// sampling come from the caller's seeded Rng (B per step, B · maxNewTokens in all, however early
// generation ends), so a seed fixes the output. Temperature 0 is greedy.
// After a row's first stop token the rest of the row is pad (log-prob 0). RoPE: prefill and every
// decode step use the tables for the longest sequence the call can produce (longest prompt +
// maxNewTokens, the KV cache's ropeLength), so LongRoPE's factor set is fixed for the whole
// generation (README, "Phi-3.5 and LongRoPE").
import { scopeAsync } from "../autograd/scope.ts";
import { Tensor } from "../autograd/tensor.ts";
import type { Rng } from "../data/rng.ts";
import { download, upload } from "../gpu/recorder.ts";
import { stridedCopy } from "../kernels/copy.ts";
import { sample } from "../kernels/sample.ts";
import { tokenBatch } from "../model/batch.ts";
import { KVCache } from "../model/kv-cache.ts";
import type { Transformer } from "../model/transformer.ts";
import { rowStopped } from "./stopping.ts";

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topK?: number;
  topP?: number;
  rng: Rng;
  /**
   * Rows sampled per prompt (default 1): prompt p gives rows p·K … p·K + K − 1, which share one
   * prefill; the result equals that of the prompts repeated K times consecutively.
   */
  samplesPerPrompt?: number;
  /** A row stops at the first of these ids (kept in the output; later positions become pad). */
  stopTokenIds: readonly number[];
  /**
   * Stop sequences (token ids, as `truncateResponses` takes them): a row that has emitted one has
   * stopped, so generation may end before maxNewTokens; its tokens are not padded after it.
   */
  stopSeqs?: readonly (readonly number[])[];
  pad: number;
}

export interface Generation {
  /** [B, maxNewTokens] sampled ids, pad after a row's stop token. */
  tokens: Int32Array;
  /**
   * [B, maxNewTokens] log-prob of each token under the distribution it was sampled from,
   * log softmax(logits / temperature) (temperature 1 when greedy), before top-k/top-p truncation; 0 on pads.
   */
  logprobs: Float32Array;
  /** Tokens per row up to and including its stop token (`steps` when it has none). */
  lengths: Int32Array;
  /** Tokens sampled per row before generation ended (≤ maxNewTokens; pad beyond). */
  steps: number;
}

const CHECK_EVERY = 16;

/**
 * prompts: [P, Tp] left-padded ids (every row has at least one real token); the generation has
 * B = P · samplesPerPrompt rows.
 */
export async function generate(model: Transformer, prompts: Int32Array, P: number, Tp: number, o: GenerateOptions): Promise<Generation> {
  const c = model.config;
  const { maxNewTokens: L, samplesPerPrompt: K = 1 } = o;
  if (!Number.isInteger(L) || L < 1) throw new Error(`generate: maxNewTokens must be a positive integer, got ${L}`);
  if (!Number.isInteger(K) || K < 1) throw new Error(`generate: samplesPerPrompt must be a positive integer, got ${K}`);
  if (prompts.length !== P * Tp) throw new Error(`generate: ${prompts.length} prompt ids for P=${P} prompts × T=${Tp}`);
  const B = P * K;
  const V = c.vocabSize;

  const cache = new KVCache(c, B, Tp + L, model.adapters?.lora.r);
  try {
    return await scopeAsync(async () => {
      const outTokens = new Tensor([B, L], "i32");
      const outLogprobs = new Tensor([B, L]);
      const token = new Tensor([B], "i32");
      const logprob = new Tensor([B]);
      const uniforms = new Tensor([B]);

      const sampleInto = (s: number, logits: Tensor) => {
        upload(uniforms.buf, Float32Array.from({ length: B }, () => o.rng.next()));
        sample({ logits: logits.buf, uniforms: uniforms.buf, out: token.buf, logprob: logprob.buf }, { B, V, temperature: o.temperature, topK: o.topK, topP: o.topP });
        const col = { rows: B, cols: 1, srcStride: 1, dstStride: L, dstOffset: s };
        stridedCopy(token.buf, outTokens.buf, col);
        stridedCopy(logprob.buf, outLogprobs.buf, col);
      };

      sampleInto(0, model.prefill(tokenBatch(prompts, P, Tp, o.pad), cache, K));
      let steps = 1;
      for (let s = 1; s < L; s++) {
        sampleInto(s, model.decodeStep(token, cache));
        steps = s + 1;
        if (steps % CHECK_EVERY === 0 && steps < L && allStopped(await readTokens(outTokens, B, L), B, L, steps, o)) break;
      }
      // Draw the uniforms of the steps not run, so that the caller's stream after generation does not
      // depend on when it ended.
      for (let i = steps * B; i < L * B; i++) o.rng.next();
      return finish(await readTokens(outTokens, B, L), new Float32Array(await download(outLogprobs.buf, B * L * 4)), B, L, steps, o);
    });
  } finally {
    cache.dispose();
  }
}

async function readTokens(t: Tensor, B: number, L: number): Promise<Int32Array> {
  return new Int32Array(await download(t.buf, B * L * 4));
}

function allStopped(tokens: Int32Array, B: number, L: number, steps: number, o: GenerateOptions): boolean {
  for (let b = 0; b < B; b++) {
    if (!rowStopped(tokens.subarray(b * L, (b + 1) * L), steps, o.stopTokenIds, o.stopSeqs ?? [])) return false;
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
  return { tokens, logprobs, lengths, steps };
}

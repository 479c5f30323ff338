// Batched generation: sampling and stopping around the model's KV-cache decoding.
//
//   prefill: the left-padded prompts [P, Tp] fill a KV cache of B = P·samplesPerPrompt rows and
//            Tmax = Tp + maxNewTokens slots (each prompt once, its rows sharing it) and give the
//            first logits (Transformer.prefill);
//   decode:  per new token, the sampled ids [B] go through Transformer.decodeStep for the next
//            logits [B, V], then the sampling kernel.
// Everything stays on the GPU; sampled ids and their log-probs go to [rows, maxNewTokens] buffers read
// back every CHECK_EVERY steps and at the end. At a check, the rows that have stopped (emitted a stop
// token, or a stop sequence that fixes where truncation will cut it, stopping.ts) leave the batch: the
// KV cache keeps the others (KVCache.keepRows, planned as for the full batch, so no kept row's
// tokens change), and generation ends once every row has stopped. Uniforms for sampling come from
// the caller's seeded Rng (B per step, B · maxNewTokens in all, however early rows or generation end),
// so a seed fixes the output. Temperature 0 is greedy.
// After a row's first stop token, and from the step a row left the batch, the row is pad (log-prob
// 0). RoPE: prefill and every decode step use the tables for the longest sequence the call can
// produce (longest prompt + maxNewTokens, the KV cache's ropeLength), so LongRoPE's factor set is
// fixed for the whole generation (README, "Phi-3.5 and LongRoPE").
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
  /** [B, maxNewTokens] sampled ids, pad after a row's stop token or the step it left the batch. */
  tokens: Int32Array;
  /**
   * [B, maxNewTokens] log-prob of each token under the distribution it was sampled from,
   * log softmax(logits / temperature) (temperature 1 when greedy), before top-k/top-p truncation; 0 on pads.
   */
  logprobs: Float32Array;
  /**
   * Tokens per row up to and including its stop token; without one, the tokens sampled for it (`steps`,
   * or fewer for a row that completed a stop sequence and left the batch).
   */
  lengths: Int32Array;
  /** Steps run before generation ended (≤ maxNewTokens). */
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

  let cache = new KVCache(c, B, Tp + L, model.adapters?.lora.r);
  // Host copy of every row's tokens and log-probs; `rows` are the rows still in the batch (the device
  // buffers' rows), `sampled` counts each row's tokens.
  const tokens = new Int32Array(B * L).fill(o.pad);
  const logprobs = new Float32Array(B * L);
  const sampled = new Int32Array(B);
  let rows = Array.from({ length: B }, (_, b) => b);
  try {
    return await scopeAsync(async () => {
      const buffers = (n: number) => ({
        tokens: new Tensor([n, L], "i32"),
        logprobs: new Tensor([n, L]),
        token: new Tensor([n], "i32"),
        logprob: new Tensor([n]),
        uniforms: new Tensor([n]),
      });
      let out = buffers(B);
      let steps = 0;
      let read = 0; // steps already copied to the host

      const sampleInto = (logits: Tensor) => {
        const u = Float32Array.from({ length: B }, () => o.rng.next());
        const n = rows.length;
        upload(out.uniforms.buf, n === B ? u : Float32Array.from(rows, (r) => u[r]));
        sample({ logits: logits.buf, uniforms: out.uniforms.buf, out: out.token.buf, logprob: out.logprob.buf }, { B: n, V, temperature: o.temperature, topK: o.topK, topP: o.topP });
        const col = { rows: n, cols: 1, srcStride: 1, dstStride: L, dstOffset: steps };
        stridedCopy(out.token.buf, out.tokens.buf, col);
        stridedCopy(out.logprob.buf, out.logprobs.buf, col);
        steps++;
      };
      /** Copies the steps sampled since the last read of the rows in the batch to the host. */
      const readBack = async () => {
        if (read === steps) return;
        const n = rows.length;
        const t = new Int32Array(await download(out.tokens.buf, n * L * 4));
        const lp = new Float32Array(await download(out.logprobs.buf, n * L * 4));
        rows.forEach((r, i) => {
          tokens.set(t.subarray(i * L + read, i * L + steps), r * L + read);
          logprobs.set(lp.subarray(i * L + read, i * L + steps), r * L + read);
          sampled[r] = steps;
        });
        read = steps;
      };

      sampleInto(model.prefill(tokenBatch(prompts, P, Tp, o.pad), cache, K));
      while (steps < L) {
        sampleInto(model.decodeStep(out.token, cache));
        if (steps % CHECK_EVERY !== 0 || steps === L) continue;
        await readBack();
        // Indices into the batch of the rows that go on.
        const keep = rows.flatMap((r, i) => (rowStopped(tokens.subarray(r * L, (r + 1) * L), steps, o.stopTokenIds, o.stopSeqs ?? []) ? [] : [i]));
        if (keep.length === 0) break;
        if (keep.length === rows.length) continue;
        // The rows that stopped leave the batch: the cache and the next step's input keep the others.
        cache = cache.keepRows(keep);
        rows = keep.map((i) => rows[i]);
        for (const t of Object.values(out)) t.release();
        out = buffers(rows.length);
        upload(out.token.buf, Int32Array.from(rows, (r) => tokens[r * L + steps - 1]));
      }
      await readBack();
      // Draw the uniforms of the steps not run, so that the caller's stream after generation does not
      // depend on when it ended.
      for (let i = steps * B; i < L * B; i++) o.rng.next();
      return finish(tokens, logprobs, sampled, B, L, steps, o);
    });
  } finally {
    cache.dispose();
  }
}

/** Pads every row after its first stop token; the lengths. */
function finish(tokens: Int32Array, logprobs: Float32Array, sampled: Int32Array, B: number, L: number, steps: number, o: GenerateOptions): Generation {
  const lengths = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let end = sampled[b];
    for (let s = 0; s < sampled[b]; s++) {
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

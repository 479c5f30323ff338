import { expect, test } from "bun:test";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { noGrad } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { poolStats } from "../../src/gpu/buffer.ts";
import { sync } from "../../src/gpu/recorder.ts";
import { leftPad } from "../../src/generate/prompts.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import { KVCache } from "../../src/model/kv-cache.ts";
import { relError, setupGpu } from "../helpers.ts";
import { tinyModel } from "./tiny.ts";

const PAD = 0;

/** log softmax(logits[r])[token[r]] per row, in float64. */
function pick(logits: Float32Array, V: number, tokens: number[]): number[] {
  return tokens.map((t, r) => {
    const row = logits.subarray(r * V, (r + 1) * V);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    return row[t] - lse;
  });
}

test("prefill (shared by repeated rows) + decode steps give the log-probs of one forward pass, in reused buffers", async () => {
  await setupGpu();
  const { model } = await tinyModel({ qwen: true, Hq: 4, Hkv: 2, L: 2, V: 31, seed: 13 });
  const V = model.config.vocabSize;
  const prompts = [[5, 9, 3], [7, 4]];
  const R = 2; // rows per prompt
  const { ids, len: Tp } = leftPad(prompts, PAD);
  const B = prompts.length * R;
  // Each row continues with its own tokens: rows of one prompt diverge after the prefill.
  const next = [[11, 12, 13, 14, 15], [21, 22, 23, 24, 25], [6, 8, 10, 1, 3], [2, 4, 16, 30, 29]];
  const steps = next[0].length;
  const cache = new KVCache(model.config, B, Tp + steps);
  const got: number[][] = [];
  let live = 0;
  let allocations = 0;
  await scopeAsync(async () => {
    let logits = model.prefill(tokenBatch(ids, prompts.length, Tp, PAD), cache, R);
    for (let s = 0; s < steps; s++) {
      got.push(pick((await logits.toArray()) as Float32Array, V, next.map((row) => row[s])));
      if (s + 1 === steps) break;
      await sync();
      if (s === 1) [live, allocations] = [poolStats().liveBytes, poolStats().allocations];
      if (s > 1) expect([poolStats().liveBytes, poolStats().allocations]).toEqual([live, allocations]);
      const t = Tensor.fromArray(next.map((row) => row[s]), [B], "i32");
      logits = model.decodeStep(t, cache);
      t.release();
    }
  });
  cache.dispose();
  // The same rows as one left-padded batch of prompt ⊕ continuation, scored by the autograd forward.
  const rows = Array.from({ length: B }, (_, r) => [...prompts[Math.floor(r / R)], ...next[r]]);
  const full = leftPad(rows, PAD);
  const lp = await scopeAsync(async () => (await noGrad(() => model.logprobs(tokenBatch(full.ids, B, full.len, PAD))).toArray()) as Float32Array);
  for (let s = 0; s < steps; s++) {
    // Position len − steps − 1 + s predicts continuation token s.
    const want = Array.from({ length: B }, (_, r) => lp[r * full.len + full.len - steps - 1 + s]);
    expect(relError(got[s], want)).toBeLessThan(1e-5);
  }
});

test("a KV cache refuses a prefill that does not fill its rows and a step past its last slot", async () => {
  await setupGpu();
  const { model } = await tinyModel({ seed: 2 });
  const cache = new KVCache(model.config, 4, 3);
  await scopeAsync(async () => {
    const batch = tokenBatch(Int32Array.from([1, 2, 3, 4]), 2, 2, PAD);
    expect(() => model.prefill(batch, cache, 3)).toThrow("2 prompts × repeats 3 do not fill the cache's 4 rows");
    model.prefill(batch, cache, 2);
    const tokens = Tensor.fromArray([1, 1, 1, 1], [4], "i32");
    model.decodeStep(tokens, cache);
    expect(() => model.decodeStep(tokens, cache)).toThrow("all 3 slots are filled");
  });
  cache.dispose();
  expect(() => model.prefill(tokenBatch(Int32Array.from([1, 2]), 1, 2, PAD), cache)).toThrow("after dispose()");
});

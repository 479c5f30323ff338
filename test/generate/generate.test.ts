import { expect, test } from "bun:test";
import { join } from "node:path";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { noGrad } from "../../src/autograd/tape.ts";
import { Rng } from "../../src/data/rng.ts";
import { generate } from "../../src/generate/generate.ts";
import { truncateResponses } from "../../src/glue/tokens.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import { loadModel } from "../../src/model/load.ts";
import { leftPad } from "../../src/generate/prompts.ts";
import { setupGpu } from "../helpers.ts";
import { tinyModel } from "../model/tiny.ts";

const PAD = 0;
const STOP = 2;
const prompts = [[5, 9, 3], [7], [11, 4, 6, 8, 12], [13, 14]];

test("greedy batched generation equals one-row-at-a-time generation for every row", async () => {
  await setupGpu();
  const { model } = await tinyModel({ V: 29, C: 16, L: 2, std: 0.5, seed: 4 });
  const L = 12;
  const opts = { maxNewTokens: L, temperature: 0, rng: new Rng(0), stopTokenIds: [STOP], pad: PAD };
  const { ids, len } = leftPad(prompts, PAD);
  const batched = await generate(model, ids, prompts.length, len, opts);
  for (let b = 0; b < prompts.length; b++) {
    const single = await generate(model, Int32Array.from(prompts[b]), 1, prompts[b].length, opts);
    expect(Array.from(batched.tokens.subarray(b * L, (b + 1) * L))).toEqual(Array.from(single.tokens));
    expect(batched.lengths[b]).toBe(single.lengths[0]);
  }
});

test("generated log-probs equal a separate forward pass's log-probs of the same tokens", async () => {
  await setupGpu();
  const { model } = await tinyModel({ V: 29, C: 16, L: 2, std: 0.5, seed: 5 });
  const L = 10;
  const { ids, len } = leftPad(prompts, PAD);
  const B = prompts.length;
  const gen = await generate(model, ids, B, len, { maxNewTokens: L, temperature: 1, rng: new Rng(3), stopTokenIds: [], pad: PAD });
  // Score prompt ⊕ generation in one forward pass: position len − 1 + s predicts generated token s.
  const T = len + L;
  const seq = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    seq.set(ids.subarray(b * len, (b + 1) * len), b * T);
    seq.set(gen.tokens.subarray(b * L, (b + 1) * L), b * T + len);
  }
  const lp = await scopeAsync(async () => (await noGrad(() => model.logprobs(tokenBatch(seq, B, T, PAD))).toArray()) as Float32Array);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < L; s++) expect(gen.logprobs[b * L + s]).toBeCloseTo(lp[b * T + len - 1 + s], 4);
  }
});

test("sampling is reproducible from the seed and rows stop at a stop token, padded after it", async () => {
  await setupGpu();
  const { model } = await tinyModel({ V: 29, C: 16, L: 1, std: 1.0, seed: 6 });
  const { ids, len } = leftPad(prompts, PAD);
  const run = (seed: number) => generate(model, ids, prompts.length, len, { maxNewTokens: 20, temperature: 1, topP: 0.9, rng: new Rng(seed), stopTokenIds: [STOP, 3], pad: PAD });
  const a = await run(1);
  const b = await run(1);
  expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
  for (let r = 0; r < prompts.length; r++) {
    const row = Array.from(a.tokens.subarray(r * 20, (r + 1) * 20));
    const stop = row.findIndex((t) => t === STOP || t === 3);
    if (stop >= 0) {
      expect(a.lengths[r]).toBe(stop + 1);
      expect(row.slice(stop + 1).every((t) => t === PAD)).toBe(true);
    } else expect(a.lengths[r]).toBe(20);
  }
});

test("sharing each prompt's prefill among its samples gives the tokens and log-probs of the repeated prompts", async () => {
  await setupGpu();
  const { model } = await tinyModel({ V: 29, C: 16, L: 2, std: 0.8, seed: 7 });
  const K = 3;
  const L = 9;
  const repeated = prompts.flatMap((p) => Array<number[]>(K).fill(p));
  const opts = (seed: number) => ({ maxNewTokens: L, temperature: 1, rng: new Rng(seed), stopTokenIds: [], pad: PAD });
  const unique = leftPad(prompts, PAD);
  const rows = leftPad(repeated, PAD);
  const shared = await generate(model, unique.ids, prompts.length, unique.len, { ...opts(2), samplesPerPrompt: K });
  const each = await generate(model, rows.ids, repeated.length, rows.len, opts(2));
  expect(shared.tokens.length).toBe(repeated.length * L);
  expect(Array.from(shared.tokens)).toEqual(Array.from(each.tokens));
  expect(Array.from(shared.logprobs)).toEqual(Array.from(each.logprobs));
  // The samples of one prompt differ: each row drew its own tokens.
  const first = Array.from(shared.tokens.subarray(0, K * L));
  expect(new Set([0, 1, 2].map((j) => first.slice(j * L, (j + 1) * L).join())).size).toBeGreaterThan(1);
});

test("stop sequences end generation early without changing the truncation or the caller's random stream", async () => {
  await setupGpu();
  const { model } = await tinyModel({ V: 11, C: 16, L: 1, std: 0.8, seed: 8 });
  const { ids, len } = leftPad(prompts, PAD);
  const B = prompts.length;
  const L = 40;
  const base = { maxNewTokens: L, temperature: 1, stopTokenIds: [STOP], pad: PAD };
  const rng = new Rng(5);
  const full = await generate(model, ids, B, len, { ...base, rng });
  expect(full.steps).toBe(L); // stop tokens alone do not end it
  // A stop sequence from every row of the full generation: its 2 tokens at 3 + b.
  const stopSeqs = Array.from({ length: B }, (_, b) => Array.from(full.tokens.subarray(b * L + 3 + b, b * L + 5 + b)));
  const rngEarly = new Rng(5);
  const early = await generate(model, ids, B, len, { ...base, rng: rngEarly, stopSeqs });
  expect(early.steps).toBeLessThan(L);
  const cut = (g: typeof full) => truncateResponses(g.tokens, B, L, [STOP], stopSeqs, PAD);
  expect(cut(early)).toEqual(cut(full));
  expect(Array.from(cut(full).stopped)).toEqual(Array(B).fill(1));
  expect(rngEarly.next()).toBe(rng.next());
});

test("rows that stop leave the batch: every row's tokens and log-probs are those of the full batch", async () => {
  await setupGpu();
  const { model } = await tinyModel({ V: 11, C: 16, L: 2, std: 0.8, seed: 9 });
  const { ids, len } = leftPad(prompts, PAD);
  const K = 2;
  const B = prompts.length * K;
  const L = 40;
  const base = { maxNewTokens: L, temperature: 1, samplesPerPrompt: K, stopTokenIds: [], pad: PAD };
  const full = await generate(model, ids, prompts.length, len, { ...base, rng: new Rng(11) });
  // Stop sequences that end row 0 before the first check (step 16) and row 3 before the second (32).
  const stopSeqs = [Array.from(full.tokens.subarray(2, 5)), Array.from(full.tokens.subarray(3 * L + 20, 3 * L + 23))];
  const early = await generate(model, ids, prompts.length, len, { ...base, rng: new Rng(11), stopSeqs });
  const row = (g: typeof full, b: number) => g.tokens.subarray(b * L, (b + 1) * L);
  for (let b = 0; b < B; b++) {
    const n = early.lengths[b];
    expect(Array.from(row(early, b).subarray(0, n))).toEqual(Array.from(row(full, b).subarray(0, n)));
    expect(Array.from(early.logprobs.subarray(b * L, b * L + n))).toEqual(Array.from(full.logprobs.subarray(b * L, b * L + n)));
    expect(Array.from(row(early, b).subarray(n)).every((t) => t === PAD)).toBe(true);
  }
  // Row 0 left at the first check, row 3 at the second; some row went on past it.
  expect(early.lengths[0]).toBe(16);
  expect(early.lengths[3]).toBe(32);
  expect(early.steps).toBeGreaterThan(32);
  const cut = (g: typeof full) => truncateResponses(g.tokens, B, L, [], stopSeqs, PAD);
  expect(cut(early)).toEqual(cut(full));
});

test("LongRoPE: generation uses the factor set of prompt + max_new_tokens throughout, as scoring the result does", async () => {
  await setupGpu();
  // Phi-3 with LongRoPE, boundary original_max_position_embeddings = 64 (test/fixtures/hf-oracle)
  const model = await loadModel(join(import.meta.dir, "../fixtures/hf-oracle/phi3-longrope"));
  const rows = [Array.from({ length: 40 }, (_, i) => 3 + ((i * 7) % 90)), Array.from({ length: 33 }, (_, i) => 5 + ((i * 11) % 90))];
  const { ids, len } = leftPad(rows, PAD);
  const B = rows.length;
  for (const L of [20, 30]) {
    // 40 + 20 = 60 positions: short factors; 40 + 30 = 70: long factors, for prefill and every decode step
    const gen = await generate(model, ids, B, len, { maxNewTokens: L, temperature: 1, rng: new Rng(L), stopTokenIds: [], pad: PAD });
    const T = len + L;
    const seq = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      seq.set(ids.subarray(b * len, (b + 1) * len), b * T);
      seq.set(gen.tokens.subarray(b * L, (b + 1) * L), b * T + len);
    }
    const score = (ropeLength: number) =>
      scopeAsync(async () => (await noGrad(() => model.logprobs({ ...tokenBatch(seq, B, T, PAD), ropeLength })).toArray()) as Float32Array);
    const scored = await score(T);
    const other = await score(T > 64 ? 64 : 65); // the other factor set
    let worst = 0;
    let otherGap = 0;
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < L; s++) {
        const t = b * T + len - 1 + s;
        worst = Math.max(worst, Math.abs(gen.logprobs[b * L + s] - scored[t]));
        otherGap = Math.max(otherGap, Math.abs(gen.logprobs[b * L + s] - other[t]));
      }
    }
    expect({ L, ok: worst < 1e-4, worst }).toEqual({ L, ok: true, worst });
    expect(otherGap).toBeGreaterThan(1e-2); // the factor set matters: the test could fail
  }
});

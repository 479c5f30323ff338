// Rollout scoring on a tiny random model: rationales are scored under the distribution the sampler
// drew them from (logits / temperature), answers at temperature 1, and trimming the batch's all-pad
// columns changes no log-prob; sharing each prompt's prefill among its repeats changes no rationale.
import { beforeAll, expect, test } from "bun:test";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { noGrad } from "../../src/autograd/tape.ts";
import { Rng } from "../../src/data/rng.ts";
import { generate } from "../../src/generate/generate.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import type { Transformer } from "../../src/model/transformer.ts";
import { leftPad } from "../../src/generate/prompts.ts";
import { rolloutBatch, type RolloutOptions, scoreSequences } from "../../src/latro/rollout.ts";
import { type AssembledBatch, selectRows, sequenceLogprobs } from "../../src/latro/sequences.ts";
import { setupGpu } from "../helpers.ts";
import { tinyModel } from "../model/tiny.ts";

const PAD = 0;
const EOS = 2;
const prompts = [[5, 9, 3], [7], [11, 4, 6, 8, 12], [13, 14], [5, 9, 3], [7]];
// The longest prompt has a short answer and the longest answer a short prompt: no row is qLen + L + 4 long.
const answers = [[20, 21, EOS], [22, EOS], [26, EOS], [23, 24, 25, EOS], [20, 21, EOS], [22, EOS]].map((a) => Int32Array.from(a));
const L = 9;
let model: Transformer;

beforeAll(async () => {
  await setupGpu();
  model = (await tinyModel({ V: 37, C: 16, L: 2, std: 0.5, seed: 7 })).model;
});

const options = (temperature: number): RolloutOptions => ({
  responseLength: L,
  temperature,
  rolloutBatchSize: prompts.length,
  scoreBatchSize: 4,
  stopTokenIds: [EOS, PAD],
  stopSeqs: [[30, 31]],
  pad: PAD,
});

/** Runs a rollout and, from the same seed, the sampler alone: its log-probs of the kept rationale tokens, summed per row. */
async function rolloutAndSampler(temperature: number) {
  const { ids, len } = leftPad(prompts, PAD);
  const ro = await rolloutBatch(model, null, ids, len, answers, new Rng(11), options(temperature));
  const gen = await generate(model, ids, prompts.length, len, { maxNewTokens: L, temperature, rng: new Rng(11), stopTokenIds: [EOS, PAD], pad: PAD });
  expect(Array.from(gen.tokens)).toEqual(Array.from(ro.responses));
  const sampler = ro.batch.rationaleLen.reduce<number[]>((acc, z, i) => {
    let s = 0;
    for (let t = 0; t < z; t++) s += gen.logprobs[i * L + t];
    return [...acc, s];
  }, []);
  return { ro, sampler };
}

const close = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number) =>
  Array.from(want).forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThan(tol * Math.max(1, Math.abs(w))));

for (const temperature of [0.6, 1, 1.7]) {
  test(`at temperature ${temperature} the scored log π(z|x) equals the sampler's own log-probs of z (rel ≤ 2e-5)`, async () => {
    const { ro, sampler } = await rolloutAndSampler(temperature);
    expect(Math.max(...ro.batch.rationaleLen)).toBeGreaterThan(2); // some rationales long enough to matter
    close(ro.logpRationale, sampler, 2e-5);
    // The answer is scored at temperature 1 whatever the rollout temperature.
    const atOne = await scoreSequences(model, ro.batch, 4, 1);
    expect(Array.from(ro.logpAnswer)).toEqual(Array.from(atOne.answer));
    if (temperature !== 1) {
      // Scoring z at 1 instead would be off-policy: far from the sampler's log-probs (the test can fail).
      const gap = Math.max(...Array.from(atOne.rationale, (r, i) => Math.abs(r - sampler[i])));
      expect(gap).toBeGreaterThan(0.1);
    }
  });
}

test("at temperature 1 scoring is unchanged: bit for bit the log-probs of a pass without temperatures", async () => {
  const { ro } = await rolloutAndSampler(1);
  const scored = await scoreSequences(model, ro.batch, ro.batch.rows, 1);
  const plain = sequenceLogprobs(ro.batch, await logprobsOf(ro.batch, ro.batch.len));
  expect(Array.from(scored.rationale)).toEqual(Array.from(plain.rationale));
  expect(Array.from(scored.answer)).toEqual(Array.from(plain.answer));
});

test("trimmed batches and micro-batches give the log-probs of the untrimmed (prompt + response_length + longest y) ones (rel ≤ 1e-5)", async () => {
  const { ro } = await rolloutAndSampler(1);
  const { len: qLen } = leftPad(prompts, PAD);
  const untrimmedLen = qLen + L + Math.max(...answers.map((a) => a.length));
  expect(ro.batch.len).toBeLessThan(untrimmedLen); // something was trimmed
  const wide = await logprobsOf(ro.batch, untrimmedLen);
  const full = sequenceLogprobs(padLeft(ro.batch, untrimmedLen), wide);
  close(ro.logpRationale, full.rationale, 1e-5);
  close(ro.logpAnswer, full.answer, 1e-5);
  // A micro-batch of short rows is shorter still and scores the same.
  const idx = [1, 3, 5];
  const sub = selectRows(ro.batch, idx);
  expect(sub.len).toBeLessThan(ro.batch.len);
  const own = sequenceLogprobs(sub, await logprobsOf(sub, sub.len));
  close(own.rationale, idx.map((i) => full.rationale[i]), 1e-5);
  close(own.answer, idx.map((i) => full.answer[i]), 1e-5);
});

/** The batch with extra all-pad columns on the left, `len` wide. */
function padLeft(b: AssembledBatch, len: number): AssembledBatch {
  const tokens = new Int32Array(b.rows * len).fill(PAD);
  for (let i = 0; i < b.rows; i++) tokens.set(b.tokens.subarray(i * b.len, (i + 1) * b.len), i * len + len - b.len);
  return { ...b, tokens, len };
}

/** Per-position log-probs at temperature 1 (no temperature tensor) of the batch widened to `len`. */
async function logprobsOf(b: AssembledBatch, len: number): Promise<Float32Array> {
  const wide = padLeft(b, len);
  return scopeAsync(async () => {
    const tb = tokenBatch(wide.tokens, wide.rows, wide.len, PAD);
    return (await noGrad(() => model.logprobs(tb)).toArray()) as Float32Array;
  });
}

test("rollout samples the same rationales as generating every repeated row, whatever the chunking", async () => {
  const K = 3;
  const unique = [[5, 9, 3], [7, 4]];
  const { ids: queries, len: qLen } = leftPad(unique.flatMap((p) => Array<number[]>(K).fill(p)), PAD);
  const rows = unique.length * K;
  const repeatedAnswers = Array.from({ length: rows }, () => Int32Array.from([6, EOS]));
  for (const chunk of [6, 4]) {
    const o = { ...options(1), rolloutBatchSize: chunk, stopSeqs: [] };
    const ro = await rolloutBatch(model, null, queries, qLen, repeatedAnswers, new Rng(4), o);
    const rng = new Rng(4);
    const want = new Int32Array(rows * L);
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const n = Math.min(chunk, rows - r0);
      const gen = await generate(model, queries.subarray(r0 * qLen, (r0 + n) * qLen), n, qLen, { maxNewTokens: L, temperature: 1, rng, stopTokenIds: o.stopTokenIds, pad: PAD });
      want.set(gen.tokens, r0 * L);
    }
    expect(Array.from(ro.responses)).toEqual(Array.from(want));
  }
});

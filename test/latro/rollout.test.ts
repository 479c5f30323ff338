import { expect, test } from "bun:test";
import { Rng } from "../../src/data/rng.ts";
import { generate } from "../../src/generate/generate.ts";
import { leftPad } from "../../src/latro/prompts.ts";
import { rolloutBatch } from "../../src/latro/rollout.ts";
import { setupGpu } from "../helpers.ts";
import { tinyModel } from "../model/tiny.ts";

const PAD = 0;

test("rollout samples the same rationales as generating every repeated row, whatever the chunking", async () => {
  await setupGpu();
  const { model } = await tinyModel({ V: 29, C: 16, L: 1, std: 0.8, seed: 12 });
  const K = 3;
  const prompts = [[5, 9, 3], [7, 4]];
  const { ids: queries, len: qLen } = leftPad(prompts.flatMap((p) => Array<number[]>(K).fill(p)), PAD);
  const rows = prompts.length * K;
  const answers = Array.from({ length: rows }, () => Int32Array.from([6, 2]));
  const L = 7;
  for (const chunk of [6, 4]) {
    const o = { responseLength: L, temperature: 1, rolloutBatchSize: chunk, scoreBatchSize: 6, stopTokenIds: [2], stopSeqs: [], pad: PAD };
    const ro = await rolloutBatch(model, null, queries, qLen, answers, new Rng(4), o);
    const rng = new Rng(4);
    const want = new Int32Array(rows * L);
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const n = Math.min(chunk, rows - r0);
      const gen = await generate(model, queries.subarray(r0 * qLen, (r0 + n) * qLen), n, qLen, { maxNewTokens: L, temperature: 1, rng, stopTokenIds: [2], pad: PAD });
      want.set(gen.tokens, r0 * L);
    }
    expect(Array.from(ro.responses)).toEqual(Array.from(want));
  }
});

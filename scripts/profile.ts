// GPU time per kernel, every dispatch timed in a pass of its own (the recorder's beginProfile; needs
// timestamp-query): of generation on the built-in model (or --model DIR), P prompts × K samples each
// for N new tokens, or with --latro of one LaTRO update on the built-in model as `bun run bench
// --only latro` runs it (4 prompts × rloo_k 4, response_length 96). Prints a table; --out FILE also
// writes it as JSON.
// Usage: bun scripts/profile.ts [--model DIR] [--prompts P] [--samples K] [--steps N] | --latro [--out FILE]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Rng } from "../src/data/rng.ts";
import { initGpu } from "../src/gpu/device.ts";
import { beginProfile, endProfile, sync } from "../src/gpu/recorder.ts";
import { generate } from "../src/generate/generate.ts";
import { benchLatroConfig } from "../src/bench/latro.ts";
import { runTraining } from "../src/latro/run.ts";
import { BUILT_IN_MODEL } from "../src/model/built-in.ts";
import { loadModel } from "../src/model/load.ts";

const { values } = parseArgs({
  options: { model: { type: "string" }, prompts: { type: "string" }, samples: { type: "string" }, steps: { type: "string" }, latro: { type: "boolean" }, out: { type: "string" } },
});
await initGpu();

let run: () => Promise<unknown>;
let what: string;
if (values.latro) {
  run = () => runTraining(benchLatroConfig(1, 96));
  what = "one LaTRO update (latro-tiny, 4 prompts × rloo_k 4, response_length 96), model load included";
} else {
  const P = Number(values.prompts ?? 32);
  const K = Number(values.samples ?? 8);
  const L = Number(values.steps ?? 64);
  const model = await loadModel(values.model ?? BUILT_IN_MODEL);
  const Tp = 40;
  const V = model.config.vocabSize;
  const prompts = Int32Array.from({ length: P * Tp }, (_, i) => (i * 7919) % (V - 2));
  run = () => generate(model, prompts, P, Tp, { samplesPerPrompt: K, maxNewTokens: L, temperature: 0.7, rng: new Rng(0), stopTokenIds: [], pad: V - 1 });
  what = `generation, B = ${P * K} rows (${P} prompts × ${K}), prompt ${Tp}, ${L} new tokens`;
}
await run(); // compiles every pipeline
await sync();
const t0 = performance.now();
await run();
const wall = performance.now() - t0;
beginProfile();
await run();
const profile = [...(await endProfile()).entries()].sort((a, b) => b[1].ms - a[1].ms);
const total = profile.reduce((s, [, e]) => s + e.ms, 0);
const count = profile.reduce((s, [, e]) => s + e.count, 0);
console.log(`${what}: wall ${wall.toFixed(0)} ms unprofiled; GPU ${total.toFixed(0)} ms in ${count} dispatches (profiled)`);
for (const [label, e] of profile) {
  console.log(`${label.padEnd(40)} ${e.count.toString().padStart(7)}× ${e.ms.toFixed(1).padStart(9)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  ${((1000 * e.ms) / e.count).toFixed(0).padStart(6)} µs each`);
}
if (values.out) {
  const kernels = profile.map(([label, e]) => ({ label, count: e.count, ms: e.ms }));
  writeFileSync(values.out, JSON.stringify({ what, wallMs: wall, gpuMs: total, dispatches: count, kernels }, null, 2));
}

// Generation throughput: prefill and decode tokens/s at batch 1 and 16, for the built-in latro-tiny, the
// real stories260K model (converted from the test fixture) and a random model shaped like Qwen2.5-0.5B
// (24 layers, d = 896, 14 heads / 2 kv heads, vocab 151,936), with peak GPU memory; and the dispatches
// one decoded token records, per layer (recorder counters; latro-tiny also with LoRA on every projection).
// Wall clock (generation reads back).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../data/rng.ts";
import { generate } from "../generate/generate.ts";
import { poolStats, resetPeak } from "../gpu/buffer.ts";
import { recorderCounters, sync } from "../gpu/recorder.ts";
import { parseConfig } from "../model/config.ts";
import { initModel } from "../model/init.ts";
import { convertLlama2c } from "../model/llama2c.ts";
import { loadModel } from "../model/load.ts";
import { initLora, LORA_TARGET_MODULES } from "../model/lora.ts";
import { Transformer } from "../model/transformer.ts";
import type { Bench, BenchRow } from "./types.ts";

const FIXTURE = join(import.meta.dir, "..", "..", "test", "fixtures", "stories260k");
const BUILT_IN = join(import.meta.dir, "..", "..", "models", "latro-tiny");

function qwenShaped(layers: number) {
  return parseConfig(
    {
      architectures: ["Qwen2ForCausalLM"],
      vocab_size: 151_936,
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: layers,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      max_position_embeddings: 4096,
      tie_word_embeddings: true,
      eos_token_id: 151_643,
    },
    "Qwen2.5-0.5B-shaped",
  );
}

async function measure(name: string, model: Transformer, B: number, promptLen: number, newTokens: number, note?: string): Promise<BenchRow[]> {
  const rng = new Rng(0);
  const prompts = Int32Array.from({ length: B * promptLen }, () => 3 + rng.int(model.config.vocabSize - 3));
  const opts = { temperature: 1, rng, stopTokenIds: [], pad: 0 };
  await generate(model, prompts, B, promptLen, { ...opts, maxNewTokens: 1 }); // warm up pipelines
  await sync();
  resetPeak();
  // Best of two runs each; decode time (and dispatches) is the difference between newTokens and 1 new token.
  const best = async (n: number) => {
    let ms = Infinity;
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      await generate(model, prompts, B, promptLen, { ...opts, maxNewTokens: n });
      ms = Math.min(ms, performance.now() - t0);
    }
    return ms;
  };
  const prefillMs = await best(1);
  // NaN when the difference is lost in the prefill's variation (a loaded machine, a long prefill).
  const decodeMs = (await best(newTokens)) - prefillMs;
  const peak = `peak GPU memory ${(poolStats().peakLiveBytes / 2 ** 20).toFixed(0)} MiB`;
  const decodeNote = decodeMs > 0 ? peak : `not measured: the run with ${newTokens} new tokens was no slower than with 1; ${peak}`;
  const shape = `B=${B} prompt=${promptLen}`;
  const rows: BenchRow[] = [
    { name: `${name} prefill`, shape, ms: prefillMs, rate: (B * promptLen) / (prefillMs / 1000), unit: "tokens/s", timing: "wall", note: [note, peak].filter(Boolean).join("; ") },
    { name: `${name} decode`, shape: `${shape} new=${newTokens - 1}`, ms: decodeMs > 0 ? decodeMs / (newTokens - 1) : NaN, rate: decodeMs > 0 ? (B * (newTokens - 1)) / (decodeMs / 1000) : NaN, unit: "tokens/s", timing: "wall", note: decodeNote },
  ];
  return rows;
}

/** Dispatches one decoded token records (B = 1): in all, and per layer. */
async function decodeDispatches(name: string, model: Transformer): Promise<BenchRow> {
  const perToken = async (m: Transformer) => {
    const count = async (n: number) => {
      const d0 = recorderCounters().dispatches;
      await generate(m, Int32Array.of(3, 4, 5), 1, 3, { maxNewTokens: n, temperature: 1, rng: new Rng(0), stopTokenIds: [], pad: 0 });
      return recorderCounters().dispatches - d0;
    };
    return ((await count(5)) - (await count(1))) / 4;
  };
  const L = model.config.numLayers;
  const all = await perToken(model);
  // The same weights with one layer: the difference is the layers' share.
  const oneLayer = new Transformer({ ...model.config, numLayers: 1 }, model.params, model.adapters);
  const one = await perToken(oneLayer);
  oneLayer.invFreq.release(); // the parameters are the model's
  const perLayer = L > 1 ? (all - one) / (L - 1) : all;
  return {
    name: `${name} dispatches per decoded token`,
    shape: `${L} layers`,
    ms: 0,
    rate: all,
    unit: "dispatches/token",
    timing: "wall",
    note: `${perLayer.toFixed(1)} per layer, ${(all - L * perLayer).toFixed(1)} per token outside the layers (recorder counters)`,
  };
}

export const benchGenerate: Bench = async ({ quick }) => {
  const dir = join(mkdtempSync(join(tmpdir(), "bench-stories-")), "hf");
  await convertLlama2c(join(FIXTURE, "stories260K.bin"), join(FIXTURE, "tok512.bin"), dir);
  const stories = await loadModel(dir);
  const rows: BenchRow[] = [];
  const tiny = await loadModel(BUILT_IN);
  rows.push(await decodeDispatches("latro-tiny", tiny));
  // The same with LoRA r 8 on every projection (a frozen base): what the adapters add per layer.
  const tinyFrozen = await loadModel(BUILT_IN, { frozen: true });
  const lora = { r: 8, alpha: 16, dropout: 0, targetModules: LORA_TARGET_MODULES };
  const tinyLora = new Transformer(tinyFrozen.config, tinyFrozen.params, initLora(tinyFrozen.config, lora, 0));
  rows.push(await decodeDispatches("latro-tiny + LoRA r 8 (all projections)", tinyLora));
  tinyLora.dispose(); // tinyFrozen's parameters and the adapters
  tinyFrozen.invFreq.release();
  for (const B of [1, 16]) rows.push(...(await measure("latro-tiny", tiny, B, 64, quick ? 16 : 64)));
  for (const B of [1, 16]) rows.push(...(await measure("stories260K", stories, B, 64, quick ? 16 : 64)));
  const layers = quick ? 2 : 24;
  const qwen = initModel(qwenShaped(layers), 0);
  const note = quick ? `${layers} of 24 layers (quick)` : undefined;
  rows.push(await decodeDispatches("Qwen2.5-0.5B-shaped", qwen));
  for (const B of [1, 16]) rows.push(...(await measure("Qwen2.5-0.5B-shaped", qwen, B, 32, 8, note)));
  for (const p of [...tiny.parameters(), ...stories.parameters(), ...qwen.parameters()]) p.release();
  return rows;
};

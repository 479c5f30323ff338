// Checkpoint layouts do not change the model: one set of weights saved as Llama (separate q/k/v and
// gate/up) and as Phi-3 (fused qkv_proj and gate_up_proj) gives identical logits, and for every
// architecture save → load → logits is identical (bit for bit). Loading runs with nothing pending,
// so the fused tensors' row views go through the plain queue write (see test/gpu/upload.test.ts).
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { linear } from "../../src/autograd/ops/linear.ts";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { noGrad } from "../../src/autograd/tape.ts";
import { sync } from "../../src/gpu/recorder.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import { type ModelConfig, parseConfig } from "../../src/model/config.ts";
import { initModel } from "../../src/model/init.ts";
import { loadModel, saveModel } from "../../src/model/load.ts";
import { listTensors } from "../../src/model/safetensors.ts";
import type { Transformer } from "../../src/model/transformer.ts";
import { rng, setupGpu } from "../helpers.ts";

const PAD = 0;
const [B, T] = [3, 21];

const base = {
  vocab_size: 37,
  hidden_size: 32,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 64,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
};
const config = (arch: string, extra: Record<string, unknown> = {}): ModelConfig => parseConfig({ ...base, architectures: [arch], ...extra }, arch);

/** Left-padded rows with 0, 4 and 9 pads: 21, 17 and 12 real tokens. */
function tokens(): Int32Array {
  const r = rng(17);
  const t = new Int32Array(B * T);
  const pads = [0, 4, 9];
  for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) t[b * T + i] = i < pads[b] ? PAD : 1 + Math.floor(r() * (base.vocab_size - 1));
  return t;
}

/** Logits [B·T, V] of the batch: final hidden states times the unembedding. */
function logits(model: Transformer): Promise<Float32Array> {
  return scopeAsync(async () => {
    const h = noGrad(() => model.hidden(tokenBatch(tokens(), B, T, PAD)));
    return (await noGrad(() => linear(h, model.unembedding)).toArray()) as Float32Array;
  });
}

const tmp = (name: string) => join(mkdtempSync(join(tmpdir(), "latro-equiv-")), name);

async function reload(dir: string): Promise<Transformer> {
  await sync(); // nothing pending: every upload of the load is a plain queue write
  return loadModel(dir);
}

test("one set of weights saved as Llama (unfused) and as Phi-3 (fused) gives identical logits", async () => {
  await setupGpu();
  const llama = config("LlamaForCausalLM");
  const phi3 = config("Phi3ForCausalLM", { rms_norm_eps: 1e-5 });
  const model = initModel(llama, 3, 0.3);
  const [llamaDir, phi3Dir] = [tmp("llama"), tmp("phi3")];
  await saveModel(model, llamaDir);
  await saveModel(model, phi3Dir, undefined, phi3);
  const names = (await listTensors(phi3Dir)).map((e) => e.name);
  expect(names).toContain("model.layers.1.self_attn.qkv_proj.weight");
  expect(names).toContain("model.layers.1.mlp.gate_up_proj.weight");
  expect(names).not.toContain("model.layers.1.self_attn.k_proj.weight");
  const fromLlama = await reload(llamaDir);
  const fromPhi3 = await reload(phi3Dir);
  expect(fromPhi3.config.architecture).toBe("Phi3ForCausalLM");
  const want = await logits(model);
  expect(Array.from(await logits(fromLlama))).toEqual(Array.from(want));
  expect(Array.from(await logits(fromPhi3))).toEqual(Array.from(want));
});

test("save → load → logits is identical for every architecture", async () => {
  await setupGpu();
  const configs = [
    config("LlamaForCausalLM", {
      tie_word_embeddings: true,
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
    }),
    config("LlamaForCausalLM", { attention_bias: true }),
    config("MistralForCausalLM", { num_key_value_heads: 1 }),
    config("Qwen2ForCausalLM"),
    config("Phi3ForCausalLM"),
    // LongRoPE with the 21-token batch beyond its 16-position boundary: the long factors
    config("Phi3ForCausalLM", {
      original_max_position_embeddings: 16,
      rope_scaling: { type: "longrope", short_factor: [1, 1.2, 1.4, 1.6], long_factor: [2, 3, 5, 8] },
    }),
  ];
  for (const [i, c] of configs.entries()) {
    const model = initModel(c, 10 + i, 0.3);
    const dir = tmp(`m${i}`);
    await saveModel(model, dir);
    const back = await reload(dir);
    expect(back.config.architecture).toBe(c.architecture);
    expect(back.config.ropeScaling).toEqual(c.ropeScaling);
    expect({ i, logits: Array.from(await logits(back)) }).toEqual({ i, logits: Array.from(await logits(model)) });
  }
});

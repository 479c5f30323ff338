// Parameter naming per architecture, fused parameters split on save / stacked on load (HF names on
// disk; Phi-3 fused as it stores them), checkpoint validation.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type ModelConfig } from "../../src/model/config.ts";
import { saveHfDir } from "../../src/model/hfdir.ts";
import { bf16ToF32, f32ToBf16, listTensors, readHeader, readTensor, writeSafetensors, type TensorToWrite } from "../../src/model/safetensors.ts";
import { checkpointSpecs, type ParamSpec, parameterSpecs, partRows, readModelWeights, toCheckpointTensors, validateCheckpoint } from "../../src/model/weights.ts";
import { randn } from "../helpers.ts";

const root = mkdtempSync(join(tmpdir(), "latro-weights-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = (architecture: string, extra: Record<string, unknown> = {}): ModelConfig =>
  parseConfig(
    { architectures: [architecture], vocab_size: 11, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, ...extra },
    `${architecture} (test)`,
  );

/** Random tensors for `specs`: the model's parameters by default, or a checkpoint's tensors. */
const randomWeights = (config: ModelConfig, seed = 1, specs: ParamSpec[] = parameterSpecs(config)): TensorToWrite[] =>
  specs.map((s, i) => ({ name: s.name, shape: s.shape, dtype: "F32", data: Float32Array.from(randn(s.shape.reduce((a, b) => a * b, 1), seed + i)) }));
const nameShape = (s: ParamSpec) => [s.name, s.shape];

describe("parameter names and shapes", () => {
  test("Llama: one layer's parameters, untied lm_head", () => {
    const llama = tiny("LlamaForCausalLM");
    const specs = parameterSpecs(llama);
    expect(specs.length).toBe(1 + 2 * 6 + 2);
    expect(specs.slice(0, 8).map(nameShape)).toEqual([
      ["model.embed_tokens.weight", [11, 8]],
      ["model.layers.0.input_layernorm.weight", [8]],
      ["model.layers.0.self_attn.qkv_proj.weight", [16, 8]],
      ["model.layers.0.self_attn.o_proj.weight", [8, 8]],
      ["model.layers.0.post_attention_layernorm.weight", [8]],
      ["model.layers.0.mlp.gate_up_proj.weight", [24, 8]],
      ["model.layers.0.mlp.down_proj.weight", [8, 12]],
      ["model.layers.1.input_layernorm.weight", [8]],
    ]);
    expect(specs.slice(-2).map(nameShape)).toEqual([
      ["model.norm.weight", [8]],
      ["lm_head.weight", [11, 8]],
    ]);
    // The checkpoint holds the HF projections, the fused parameters' parts, at their rows.
    expect(partRows(specs[2])).toEqual([
      { name: "model.layers.0.self_attn.q_proj.weight", start: 0, end: 8 },
      { name: "model.layers.0.self_attn.k_proj.weight", start: 8, end: 12 },
      { name: "model.layers.0.self_attn.v_proj.weight", start: 12, end: 16 },
    ]);
    expect(checkpointSpecs(llama).slice(0, 10).map(nameShape)).toEqual([
      ["model.embed_tokens.weight", [11, 8]],
      ["model.layers.0.input_layernorm.weight", [8]],
      ["model.layers.0.self_attn.q_proj.weight", [8, 8]],
      ["model.layers.0.self_attn.k_proj.weight", [4, 8]],
      ["model.layers.0.self_attn.v_proj.weight", [4, 8]],
      ["model.layers.0.self_attn.o_proj.weight", [8, 8]],
      ["model.layers.0.post_attention_layernorm.weight", [8]],
      ["model.layers.0.mlp.gate_proj.weight", [12, 8]],
      ["model.layers.0.mlp.up_proj.weight", [12, 8]],
      ["model.layers.0.mlp.down_proj.weight", [8, 12]],
    ]);
  });

  test("Qwen2 q/k/v biases, Llama attention_bias adds o bias, tied models have no lm_head", () => {
    const qwenConfig = tiny("Qwen2ForCausalLM", { tie_word_embeddings: true });
    const qwen = parameterSpecs(qwenConfig).map((s) => s.name);
    expect(qwen).toContain("model.layers.1.self_attn.qkv_proj.bias");
    expect(checkpointSpecs(qwenConfig).map((s) => s.name)).toContain("model.layers.1.self_attn.k_proj.bias");
    expect(qwen).not.toContain("model.layers.1.self_attn.o_proj.bias");
    expect(qwen).not.toContain("lm_head.weight");
    const llama = parameterSpecs(tiny("LlamaForCausalLM", { attention_bias: true }));
    expect(llama.find((s) => s.name === "model.layers.0.self_attn.o_proj.bias")?.shape).toEqual([8]);
    expect(llama.find((s) => s.name === "model.layers.0.self_attn.qkv_proj.bias")?.parts?.map(nameShape)).toEqual([
      ["model.layers.0.self_attn.q_proj.bias", [8]],
      ["model.layers.0.self_attn.k_proj.bias", [4]],
      ["model.layers.0.self_attn.v_proj.bias", [4]],
    ]);
  });

  test("Phi-3 checkpoints hold qkv and gate/up fused, as the parameters are", () => {
    const phi = tiny("Phi3ForCausalLM");
    expect(checkpointSpecs(phi)).toEqual(parameterSpecs(phi));
    const fused = checkpointSpecs(phi).filter((s) => s.parts);
    expect(fused.map((s) => [s.name, s.shape, s.parts!.map((p) => p.name.split(".").at(-2))])).toEqual([
      ["model.layers.0.self_attn.qkv_proj.weight", [16, 8], ["q_proj", "k_proj", "v_proj"]],
      ["model.layers.0.mlp.gate_up_proj.weight", [24, 8], ["gate_proj", "up_proj"]],
      ["model.layers.1.self_attn.qkv_proj.weight", [16, 8], ["q_proj", "k_proj", "v_proj"]],
      ["model.layers.1.mlp.gate_up_proj.weight", [24, 8], ["gate_proj", "up_proj"]],
    ]);
  });
});

describe("fused parameters: split on save, stacked on load", () => {
  test("Qwen2 (q/k/v biases): the file holds the HF projections, each the rows of its fused parameter; loading stacks them back", async () => {
    const qwen = tiny("Qwen2ForCausalLM");
    const weights = randomWeights(qwen).map((t, i) => (i % 2 ? { ...t, data: (() => t.data) as () => Float32Array } : t));
    const dir = join(root, "qwen");
    await saveHfDir(dir, { config: qwen, tensors: weights });
    const header = await readHeader(join(dir, "model.safetensors"));
    expect(header.tensors.map((t) => t.name).sort()).toEqual(checkpointSpecs(qwen).map((s) => s.name).sort());
    expect(header.tensors.some((t) => t.name.includes("qkv_proj") || t.name.includes("gate_up_proj"))).toBe(false);

    const want = new Map(randomWeights(qwen).map((t) => [t.name, t.data as Float32Array]));
    const saved = new Map<string, Float32Array>();
    for (const e of await listTensors(dir)) saved.set(e.name, (await readTensor(e)).data);
    const kBias = want.get("model.layers.1.self_attn.qkv_proj.bias")!.subarray(8, 12);
    expect(saved.get("model.layers.1.self_attn.k_proj.bias")).toEqual(kBias);
    expect(saved.get("model.layers.0.mlp.up_proj.weight")).toEqual(want.get("model.layers.0.mlp.gate_up_proj.weight")!.subarray(12 * 8));

    const got = new Map<string, Float32Array>();
    for await (const t of readModelWeights(dir, qwen)) got.set(t.name, t.data);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, data] of want) expect(got.get(name)).toEqual(data);
  });

  test("Phi-3: saved and loaded fused, unchanged", async () => {
    const phi = tiny("Phi3ForCausalLM");
    const dir = join(root, "phi3");
    await saveHfDir(dir, { config: phi, tensors: randomWeights(phi) });
    const names = (await readHeader(join(dir, "model.safetensors"))).tensors.map((t) => t.name);
    expect(names).toContain("model.layers.1.mlp.gate_up_proj.weight");
    expect(names.some((n) => n.includes("q_proj") || n.includes("gate_proj"))).toBe(false);
    const want = new Map(randomWeights(phi).map((t) => [t.name, t.data as Float32Array]));
    for await (const t of readModelWeights(dir, phi)) expect(t.data).toEqual(want.get(t.name)!);
  });

  test("parts of different dtypes are stacked as F32; tensors in the checkpoint's own layout save as they are", async () => {
    const llama = tiny("LlamaForCausalLM");
    const parts = randomWeights(llama, 5, checkpointSpecs(llama)).map((t) => (t.name === "model.layers.0.self_attn.k_proj.weight" ? { ...t, dtype: "BF16" as const } : t));
    expect(toCheckpointTensors(parts, llama).map((t) => t.name)).toEqual(checkpointSpecs(llama).map((s) => s.name));
    const dir = join(root, "mixed");
    mkdirSync(dir);
    await writeSafetensors(join(dir, "model.safetensors"), parts);
    const byName = new Map(parts.map((t) => [t.name, t.data as Float32Array]));
    for await (const t of readModelWeights(dir, llama)) {
      if (t.name !== "model.layers.0.self_attn.qkv_proj.weight") continue;
      expect(t.dtype).toBe("F32");
      const bf16 = (x: Float32Array) => bf16ToF32(f32ToBf16(x));
      expect(t.data.subarray(0, 64)).toEqual(byName.get("model.layers.0.self_attn.q_proj.weight")!);
      expect(t.data.subarray(64, 96)).toEqual(bf16(byName.get("model.layers.0.self_attn.k_proj.weight")!));
    }
  });
});

describe("validation", () => {
  const llama = tiny("LlamaForCausalLM");

  test("missing, unexpected and mis-shaped tensors are all listed with file and expected shape", async () => {
    const dir = join(root, "bad");
    mkdirSync(dir);
    const weights = randomWeights(llama, 1, checkpointSpecs(llama)).filter((t) => t.name !== "model.norm.weight");
    weights[1] = { ...weights[1], shape: [4, 2] };
    weights.push({ name: "model.layers.0.self_attn.rotary_emb.inv_freq", shape: [2], dtype: "F32", data: new Float32Array(2) });
    weights.push({ name: "model.extra.weight", shape: [1], dtype: "F32", data: new Float32Array(1) });
    const file = join(dir, "model.safetensors");
    await writeSafetensors(file, weights);
    const entries = await listTensors(dir);
    expect(() => validateCheckpoint(entries, llama, dir)).toThrow(
      `checkpoint ${dir} does not match its LlamaForCausalLM config:\n` +
        `  ${file}: unexpected tensor model.extra.weight [1]\n` +
        `  ${file}: tensor model.layers.0.input_layernorm.weight has shape [4, 2], expected [8]\n` +
        `  ${dir}: missing tensor model.norm.weight [8]`,
    );
    const readAll = async () => {
      for await (const _ of readModelWeights(dir, llama));
    };
    await expect(readAll()).rejects.toThrow(/missing tensor model.norm.weight/);
  });

  test("rotary inv_freq buffers and a tied model's lm_head are ignored, as in transformers", async () => {
    const tied = tiny("LlamaForCausalLM", { tie_word_embeddings: true });
    const dir = join(root, "tied");
    mkdirSync(dir);
    await writeSafetensors(join(dir, "model.safetensors"), [
      ...randomWeights(tied, 1, checkpointSpecs(tied)),
      { name: "lm_head.weight", shape: [11, 8], dtype: "F32", data: new Float32Array(88) },
      { name: "model.layers.1.self_attn.rotary_emb.inv_freq", shape: [2], dtype: "F32", data: new Float32Array(2) },
    ]);
    const names: string[] = [];
    for await (const t of readModelWeights(dir, tied)) names.push(t.name);
    expect(names.sort()).toEqual(parameterSpecs(tied).map((s) => s.name).sort());
  });

  test("saving validates the parameters against the config", () => {
    const weights = randomWeights(llama).slice(1);
    expect(() => toCheckpointTensors(weights, llama)).toThrow(
      "saving a LlamaForCausalLM checkpoint: the parameters do not match the config:\n  model: missing tensor model.embed_tokens.weight [11, 8]",
    );
  });
});

// HF directories: what a save writes, atomic replacement, and the errors of opening a bad directory.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/model/config.ts";
import { openHfDir, saveHfDir } from "../../src/model/hfdir.ts";
import type { TensorToWrite } from "../../src/model/safetensors.ts";
import { checkpointSpecs, parameterSpecs } from "../../src/model/weights.ts";

const root = mkdtempSync(join(tmpdir(), "latro-hfdir-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = parseConfig(
  {
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    vocab_size: 16,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    tie_word_embeddings: true,
    bos_token_id: 1,
    eos_token_id: [2, 3],
    use_sliding_window: false,
    max_window_layers: 1,
    torch_dtype: "float32",
  },
  "qwen (test)",
);
const tensors = (value: number): TensorToWrite[] =>
  parameterSpecs(config).map((s) => ({ name: s.name, shape: s.shape, dtype: "BF16", data: new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(value) }));

describe("saveHfDir", () => {
  test("writes config, generation config, weights and the tokenizer files", async () => {
    const source = join(root, "source");
    mkdirSync(source);
    await Bun.write(join(source, "tokenizer.json"), "{}");
    await Bun.write(join(source, "tokenizer_config.json"), '{"eos_token": "x"}');
    await Bun.write(join(source, "model.safetensors"), "not copied");
    const dir = join(root, "out", "step-1");
    await saveHfDir(dir, { config, tensors: tensors(1), tokenizerDir: source, files: { "README.md": "# hi\n" } });
    expect(readdirSync(dir).sort()).toEqual(["README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    const cfg = await Bun.file(join(dir, "config.json")).json();
    expect(cfg).toMatchObject({ architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", torch_dtype: "bfloat16", max_window_layers: 1, tie_word_embeddings: true, eos_token_id: [2, 3] });
    expect(await Bun.file(join(dir, "generation_config.json")).json()).toEqual({ bos_token_id: 1, eos_token_id: [2, 3] });
    expect(await Bun.file(join(dir, "tokenizer_config.json")).text()).toBe('{"eos_token": "x"}');
    const opened = await openHfDir(dir);
    expect(opened.config.torchDtype).toBe("bfloat16");
    expect(opened.entries.map((e) => e.name).sort()).toEqual(checkpointSpecs(config).map((s) => s.name).sort());
  });

  test("replaces an existing directory and leaves no temporaries; a failed save changes nothing", async () => {
    const dir = join(root, "replace", "model");
    await saveHfDir(dir, { config, tensors: tensors(1) });
    await saveHfDir(dir, { config, tensors: tensors(2) });
    expect(readdirSync(join(root, "replace"))).toEqual(["model"]);
    const failing = tensors(3).map((t, i) => (i === 2 ? { ...t, data: () => Promise.reject(new Error("disk full")) } : t));
    await expect(saveHfDir(dir, { config, tensors: failing })).rejects.toThrow("disk full");
    expect(readdirSync(join(root, "replace"))).toEqual(["model"]);
    const bytes = await Bun.file(join(dir, "model.safetensors")).bytes();
    expect(bytes.at(-1)).toBe(0x40); // bf16 2.0 = 0x4000, little-endian
  });

  test("refuses a missing tokenizer source or one without tokenizer files", async () => {
    await expect(saveHfDir(join(root, "x"), { config, tensors: tensors(1), tokenizerDir: join(root, "nope") })).rejects.toThrow(/tokenizer directory .*nope does not exist/);
    const empty = join(root, "empty");
    mkdirSync(empty);
    await expect(saveHfDir(join(root, "y"), { config, tensors: tensors(1), tokenizerDir: empty })).rejects.toThrow(/contains no tokenizer files \(looked for tokenizer.json/);
  });
});

describe("openHfDir errors say what is wrong and what to do", () => {
  test("missing directory, a file, no config.json", async () => {
    await expect(openHfDir(join(root, "absent"))).rejects.toThrow(`model directory ${join(root, "absent")} does not exist`);
    await Bun.write(join(root, "file"), "x");
    await expect(openHfDir(join(root, "file"))).rejects.toThrow(/is a file; expected a Hugging Face model directory/);
    const noConfig = join(root, "noconfig");
    mkdirSync(noConfig);
    await expect(openHfDir(noConfig)).rejects.toThrow(/has no config.json; expected a Hugging Face model directory .*huggingface-cli download/);
  });

  test("no safetensors: names PyTorch pickles, or lists what is there", async () => {
    const dir = join(root, "pickles");
    mkdirSync(dir);
    await Bun.write(join(dir, "config.json"), JSON.stringify({ ...config.hf }));
    await Bun.write(join(dir, "pytorch_model.bin"), "x");
    await expect(openHfDir(dir)).rejects.toThrow(/has only PyTorch pickles \(pytorch_model.bin\); convert them to safetensors/);
    rmSync(join(dir, "pytorch_model.bin"));
    await expect(openHfDir(dir)).rejects.toThrow(/has no model.safetensors or model.safetensors.index.json; it contains: config.json/);
  });
});

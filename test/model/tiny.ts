// A tiny random Llama/Qwen2-style model on the GPU plus the same weights in float64 for the reference.
import { parseConfig, type ModelConfig } from "../../src/model/config.ts";
import { BUILT_IN_MODEL } from "../../src/model/built-in.ts";
import { initModel } from "../../src/model/init.ts";
import { saveModel } from "../../src/model/load.ts";
import type { Transformer } from "../../src/model/transformer.ts";
import type { RefConfig, RefWeights } from "../reference/transformer.ts";

export interface TinyOptions {
  V?: number;
  C?: number;
  I?: number;
  L?: number;
  Hq?: number;
  Hkv?: number;
  tied?: boolean;
  qwen?: boolean;
  seed?: number;
  std?: number;
}

export function tinyConfig(o: TinyOptions = {}): ModelConfig {
  const { V = 37, C = 16, I = 24, L = 2, Hq = 4, Hkv = 2, tied = false, qwen = false } = o;
  return parseConfig(
    {
      architectures: [qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"],
      vocab_size: V,
      hidden_size: C,
      intermediate_size: I,
      num_hidden_layers: L,
      num_attention_heads: Hq,
      num_key_value_heads: Hkv,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      max_position_embeddings: 256,
      tie_word_embeddings: tied,
      bos_token_id: 1,
      eos_token_id: 2,
    },
    "tiny config",
  );
}

export async function tinyModel(o: TinyOptions = {}): Promise<{ model: Transformer; ref: RefConfig; weights: RefWeights }> {
  const config = tinyConfig(o);
  const model = initModel(config, o.seed ?? 1, o.std ?? 0.3);
  const weights: RefWeights = new Map();
  for (const p of model.parameters()) {
    const data = Float64Array.from((await p.toArray()) as Float32Array);
    // Random biases and norm weights too, so their gradients are exercised.
    weights.set(p.name!, data);
  }
  const ref: RefConfig = {
    V: config.vocabSize,
    C: config.hiddenSize,
    I: config.intermediateSize,
    L: config.numLayers,
    Hq: config.numHeads,
    Hkv: config.numKvHeads,
    D: config.headDim,
    eps: config.rmsNormEps,
    theta: config.ropeTheta,
    tied: config.tieWordEmbeddings,
    qkvBias: config.qkvBias,
  };
  return { model, ref, weights };
}

/**
 * Writes a tiny random Llama (2 layers, hidden 32, tied) with the built-in tokenizer's vocabulary and
 * files to `dir`: a model the LaTRO commands can run end to end in seconds.
 */
export async function saveTinyLatroModel(dir: string): Promise<void> {
  const config = parseConfig(
    {
      architectures: ["LlamaForCausalLM"],
      vocab_size: 2048,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 512,
      tie_word_embeddings: true,
      eos_token_id: 2046,
    },
    "tiny",
  );
  await saveModel(initModel(config, 1), dir, BUILT_IN_MODEL);
}

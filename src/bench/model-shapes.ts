// config.json of the models the memory plan is reported for (the paper's Phi-3.5-mini and
// Llama-3.1-8B, and the sizes below them), as their Hugging Face repositories publish them, reduced
// to the fields parseConfig reads. Phi-3.5-mini's longrope scaling is left out: it changes no size,
// and parseConfig refuses it for running the model.
import { type ModelConfig, parseConfig } from "../model/config.ts";

const llama3Rope = (factor: number) => ({ factor, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, rope_type: "llama3" });

const SHAPES: Record<string, Record<string, unknown>> = {
  "Qwen2.5-0.5B": {
    architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24,
    num_attention_heads: 14, num_key_value_heads: 2, tie_word_embeddings: true, rope_theta: 1000000, max_position_embeddings: 32768, torch_dtype: "bfloat16",
  },
  "Qwen2.5-1.5B": {
    architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28,
    num_attention_heads: 12, num_key_value_heads: 2, tie_word_embeddings: true, rope_theta: 1000000, max_position_embeddings: 32768, torch_dtype: "bfloat16",
  },
  "Llama-3.2-1B": {
    architectures: ["LlamaForCausalLM"], vocab_size: 128256, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16,
    num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, tie_word_embeddings: true, rope_theta: 500000,
    rope_scaling: llama3Rope(32), max_position_embeddings: 131072, torch_dtype: "bfloat16",
  },
  "Phi-3.5-mini": {
    architectures: ["Phi3ForCausalLM"], vocab_size: 32064, hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 32,
    num_attention_heads: 32, num_key_value_heads: 32, tie_word_embeddings: false, rope_theta: 10000, max_position_embeddings: 131072,
    sliding_window: 262144, torch_dtype: "bfloat16",
  },
  "Llama-3.1-8B": {
    architectures: ["LlamaForCausalLM"], vocab_size: 128256, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32,
    num_attention_heads: 32, num_key_value_heads: 8, tie_word_embeddings: false, rope_theta: 500000,
    rope_scaling: llama3Rope(8), max_position_embeddings: 131072, torch_dtype: "bfloat16",
  },
};

export const MODEL_SHAPES = Object.keys(SHAPES);

export function modelShape(name: string): ModelConfig {
  const json = SHAPES[name];
  if (!json) throw new Error(`modelShape: unknown model ${name}; known: ${MODEL_SHAPES.join(", ")}`);
  return parseConfig(json, name);
}

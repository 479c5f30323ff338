// config.json parsing: each supported architecture from its real Hub config, defaults, refusals.
import { describe, expect, test } from "bun:test";
import { ropeAttentionFactor } from "../../src/kernels/rope.ts";
import { ARCHITECTURES, checkSequenceLength, parseConfig, ropeConfig, toHfConfig } from "../../src/model/config.ts";

// Abridged from the Hub config.json files of the named models (every field we read is kept).
const llama31 = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: "silu",
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 128256,
};
const mistral03 = {
  architectures: ["MistralForCausalLM"],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: "silu",
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: "mistral",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000.0,
  sliding_window: null,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 32768,
};
const qwen25 = {
  architectures: ["Qwen2ForCausalLM"],
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: "silu",
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  use_sliding_window: false,
  vocab_size: 151936,
};
const phi3mini4k = {
  architectures: ["Phi3ForCausalLM"],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 32000,
  hidden_act: "silu",
  hidden_size: 3072,
  intermediate_size: 8192,
  max_position_embeddings: 4096,
  model_type: "phi3",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 32,
  original_max_position_embeddings: 4096,
  pad_token_id: 32000,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  sliding_window: 2047,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 32064,
};

// microsoft/Phi-3.5-mini-instruct's config.json (transformers_version 4.46.3), every field we read,
// the 48 + 48 LongRoPE factors verbatim.
const phi35mini = {
  architectures: ["Phi3ForCausalLM"],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 32000,
  hidden_act: "silu",
  hidden_size: 3072,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  model_type: "phi3",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 32,
  original_max_position_embeddings: 4096,
  pad_token_id: 32000,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    long_factor: [
    1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601, 1.5899999141693115,
    1.600000023841858, 1.6200000047683716, 2.620000123977661, 3.2300000190734863, 3.2300000190734863,
    4.789999961853027, 7.400000095367432, 7.700000286102295, 9.09000015258789, 12.199999809265137,
    17.670000076293945, 24.46000099182129, 28.57000160217285, 30.420001983642578, 30.840002059936523,
    32.590003967285156, 32.93000411987305, 42.320003509521484, 44.96000289916992, 50.340003967285156,
    50.45000457763672, 57.55000305175781, 57.93000411987305, 58.21000289916992, 60.1400032043457,
    62.61000442504883, 62.62000274658203, 62.71000289916992, 63.1400032043457, 63.1400032043457,
    63.77000427246094, 63.93000411987305, 63.96000289916992, 63.970001220703125, 64.02999877929688,
    64.06999969482422, 64.08000183105469, 64.12000274658203, 64.41000366210938, 64.4800033569336,
    64.51000213623047, 64.52999877929688, 64.83999633789062,
    ],
    short_factor: [
    1.0, 1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842, 1.0499999523162842,
    1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0699999332427979, 1.0999999046325684,
    1.1099998950958252, 1.1599998474121094, 1.1599998474121094, 1.1699998378753662, 1.2899998426437378,
    1.339999794960022, 1.679999828338623, 1.7899998426437378, 1.8199998140335083, 1.8499997854232788,
    1.8799997568130493, 1.9099997282028198, 1.9399996995925903, 1.9899996519088745, 2.0199997425079346,
    2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
    2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
    2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0799996852874756,
    2.0899996757507324, 2.189999580383301, 2.2199995517730713, 2.5899994373321533, 2.729999542236328,
    2.749999523162842, 2.8399994373321533,
    ],
    type: "longrope",
  },
  rope_theta: 10000.0,
  sliding_window: 262144,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 32064,
};

describe("supported architectures", () => {
  test("Llama 3.1: GQA, llama3 RoPE scaling, eos list", () => {
    const c = parseConfig(llama31, "llama/config.json");
    expect(c).toMatchObject({
      architecture: "LlamaForCausalLM",
      modelType: "llama",
      numKvHeads: 8,
      headDim: 128,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
      slidingWindow: null,
      qkvBias: false,
      oBias: false,
      fusedProjections: false,
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
      padTokenId: null,
      torchDtype: "bfloat16",
    });
    const biased = parseConfig({ ...llama31, attention_bias: true }, "x");
    expect([biased.qkvBias, biased.oBias]).toEqual([true, true]);
  });

  test("Mistral: sliding_window null is full attention; a window bounds the sequence length", () => {
    expect(parseConfig(mistral03, "m").slidingWindow).toBeNull();
    const v01 = parseConfig({ ...mistral03, sliding_window: 4096 }, "m");
    checkSequenceLength(v01, 4096);
    expect(() => checkSequenceLength(v01, 4097)).toThrow("sequence length 4097 exceeds the MistralForCausalLM sliding window of 4096");
    const { sliding_window: _, ...absent } = mistral03;
    expect(parseConfig(absent, "m").slidingWindow).toBe(4096); // transformers' MistralConfig default
    expect(() => checkSequenceLength(parseConfig(mistral03, "m"), 40000)).toThrow("exceeds max_position_embeddings 32768");
  });

  test("Qwen2: q/k/v biases without o bias, tied embeddings, window off", () => {
    const c = parseConfig(qwen25, "q");
    expect(c).toMatchObject({ modelType: "qwen2", headDim: 64, numKvHeads: 2, qkvBias: true, oBias: false, tieWordEmbeddings: true, slidingWindow: null, eosTokenIds: [151645] });
    expect(() => parseConfig({ ...qwen25, use_sliding_window: true }, "q/config.json")).toThrow("q/config.json: Qwen2ForCausalLM: use_sliding_window: true is not supported");
  });

  test("Phi-3: fused projections, window 2047", () => {
    const c = parseConfig(phi3mini4k, "p");
    expect(c).toMatchObject({ modelType: "phi3", fusedProjections: true, slidingWindow: 2047, qkvBias: false, headDim: 96, padTokenId: 32000, ropeScaling: null });
    expect(() => parseConfig({ ...phi3mini4k, partial_rotary_factor: 0.75 }, "p")).toThrow("partial_rotary_factor 0.75 is not supported");
  });

  test("Phi-3.5-mini-instruct: LongRoPE with 48 short and 48 long factors, boundary 4096, attention factor from the context lengths", () => {
    const c = parseConfig(phi35mini, "phi35/config.json");
    expect(c).toMatchObject({
      architecture: "Phi3ForCausalLM",
      hiddenSize: 3072,
      intermediateSize: 8192,
      numLayers: 32,
      numHeads: 32,
      numKvHeads: 32,
      headDim: 96,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      maxPositionEmbeddings: 131072,
      slidingWindow: 262144,
      vocabSize: 32064,
      tieWordEmbeddings: false,
      fusedProjections: true,
      bosTokenId: 1,
      eosTokenIds: [32000],
      padTokenId: 32000,
      torchDtype: "bfloat16",
    });
    expect(c.ropeScaling).toEqual({
      type: "longrope",
      name: "longrope",
      shortFactor: phi35mini.rope_scaling.short_factor,
      longFactor: phi35mini.rope_scaling.long_factor,
      originalMaxPositionEmbeddings: 4096,
      attentionFactor: null,
    });
    // the RoPE fields kernels/rope.ts computes from: as config.json spells them
    const rope = ropeConfig(c);
    expect(rope).toEqual({
      rope_theta: 10000,
      head_dim: 96,
      max_position_embeddings: 131072,
      original_max_position_embeddings: 4096,
      rope_scaling: phi35mini.rope_scaling,
    });
    // sqrt(1 + ln(131072 / 4096) / ln(4096)) = sqrt(1 + 5/12)
    expect(ropeAttentionFactor(rope)).toBeCloseTo(Math.sqrt(17 / 12), 15);
    expect(ropeAttentionFactor({ ...rope, rope_scaling: { ...phi35mini.rope_scaling, attention_factor: 1.5 } })).toBe(1.5);
    // the older type name "su" is the same scaling, written back as "su"
    const su = parseConfig({ ...phi35mini, rope_scaling: { ...phi35mini.rope_scaling, type: "su" } }, "p");
    expect(su.ropeScaling).toMatchObject({ type: "longrope", name: "su" });
    expect((toHfConfig(su).rope_scaling as { type: string }).type).toBe("su");
    checkSequenceLength(c, 131072);
    expect(() => checkSequenceLength(c, 131073)).toThrow("exceeds max_position_embeddings 131072");
  });

  test("LongRoPE refusals name the field and what was expected", () => {
    const { original_max_position_embeddings: _, ...noOriginal } = phi35mini;
    expect(() => parseConfig(noOriginal, "phi35/config.json")).toThrow(
      'phi35/config.json: Phi3ForCausalLM rope_scaling type "longrope" needs the top-level field original_max_position_embeddings',
    );
    const short47 = { ...phi35mini, rope_scaling: { ...phi35mini.rope_scaling, short_factor: phi35mini.rope_scaling.short_factor.slice(1) } };
    expect(() => parseConfig(short47, "p")).toThrow("p: Phi3ForCausalLM: rope_scaling.short_factor has 47 values, expected head_dim / 2 = 48");
    expect(() => parseConfig({ ...phi35mini, rope_scaling: { type: "longrope", short_factor: [1] } }, "p")).toThrow(/p rope_scaling: field long_factor: required field is missing/);
    expect(() => parseConfig({ ...phi35mini, rope_scaling: { ...phi35mini.rope_scaling, attention_factor: 0 } }, "p")).toThrow(/p rope_scaling: field attention_factor/);
  });
});

describe("defaults", () => {
  const minimal = { architectures: ["LlamaForCausalLM"], vocab_size: 32, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 };

  test("transformers' defaults; kv heads = heads; head_dim = hidden/heads", () => {
    expect(parseConfig(minimal, "x")).toMatchObject({
      numKvHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      ropeScaling: null,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      bosTokenId: null,
      eosTokenIds: [],
      torchDtype: "float32",
    });
    expect(parseConfig({ ...minimal, architectures: ["Phi3ForCausalLM"] }, "x").rmsNormEps).toBe(1e-5);
    expect(parseConfig({ ...minimal, rope_scaling: { rope_type: "default" } }, "x").ropeScaling).toBeNull();
    expect(parseConfig({ ...minimal, dtype: "float16" }, "x").torchDtype).toBe("float16");
  });

  test("transformers 5 rope_parameters", () => {
    const c = parseConfig({ ...minimal, rope_parameters: { rope_theta: 500000, rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, "x");
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling).toMatchObject({ type: "llama3", factor: 8 });
  });
});

describe("refusals name the file, the field and what was expected", () => {
  test("unsupported architecture lists the supported ones", () => {
    expect(() => parseConfig({ ...llama31, architectures: ["GPT2LMHeadModel"] }, "gpt2/config.json")).toThrow(
      `gpt2/config.json: architecture "GPT2LMHeadModel" is not supported; supported: ${ARCHITECTURES.join(", ")}`,
    );
    expect(ARCHITECTURES).toEqual(["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Phi3ForCausalLM"]);
  });

  test("missing or mistyped fields", () => {
    const { hidden_size: _, ...noHidden } = llama31;
    expect(() => parseConfig(noHidden, "c.json")).toThrow("c.json: field hidden_size: required field is missing");
    expect(() => parseConfig({ ...llama31, num_attention_heads: "32" }, "c.json")).toThrow(/field num_attention_heads: Invalid type/);
    expect(() => parseConfig({ ...llama31, architectures: [] }, "c.json")).toThrow(/field architectures: expected exactly one architecture/);
    expect(() => parseConfig({ ...llama31, rope_scaling: { rope_type: "llama3", factor: 8 } }, "c.json")).toThrow(/c\.json rope_scaling: field low_freq_factor/);
  });

  test("unsupported RoPE scaling, activation, biases, head layout", () => {
    expect(() => parseConfig({ ...llama31, rope_scaling: { type: "yarn", factor: 4 } }, "c")).toThrow('LlamaForCausalLM rope_scaling type "yarn" is not supported; supported: null, "llama3", "longrope" (or "su")');
    expect(() => parseConfig({ ...llama31, rope_scaling: { type: "linear", factor: 2 } }, "c")).toThrow(/"linear" is not supported/);
    expect(() => parseConfig({ ...llama31, hidden_act: "gelu" }, "c")).toThrow('hidden_act "gelu" is not supported; expected "silu"');
    expect(() => parseConfig({ ...llama31, mlp_bias: true }, "c")).toThrow("mlp_bias: true is not supported");
    expect(() => parseConfig({ ...llama31, num_key_value_heads: 5 }, "c")).toThrow("num_attention_heads 32 must be a multiple of num_key_value_heads 5");
    expect(() => parseConfig({ ...llama31, hidden_size: 4095 }, "c")).toThrow("hidden_size 4095 is not divisible by num_attention_heads 32");
    expect(() => parseConfig({ ...llama31, model_type: "mistral" }, "c")).toThrow('model_type "mistral" does not match the architecture (expected "llama")');
  });
});

describe("toHfConfig", () => {
  test("round trips every architecture and keeps unknown fields", () => {
    for (const raw of [llama31, mistral03, qwen25, phi3mini4k, phi35mini]) {
      const c = parseConfig(raw, "a");
      const out = toHfConfig(c);
      const { hf: _, ...again } = parseConfig(out, "b");
      const { hf: __, ...orig } = c;
      expect(again).toEqual(orig);
      for (const [k, value] of Object.entries(raw)) {
        if (k !== "rope_scaling" || raw === phi35mini) expect(out[k]).toEqual(value);
      }
    }
    const out = toHfConfig(parseConfig(qwen25, "q"));
    expect(out.max_window_layers).toBe(21);
    expect(out.head_dim).toBe(64);
  });
});

// Hugging Face config.json → ModelConfig, the one description of a decoder-only Llama-style transformer.
//
// Supported architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Phi3ForCausalLM.
// They share the block (RMSNorm → GQA attention with RoPE → RMSNorm → SwiGLU MLP) and differ in:
//   - biases: Qwen2 has q/k/v biases; Llama has q/k/v/o biases when `attention_bias` is true;
//   - storage: Phi-3 checkpoints fuse q/k/v into `qkv_proj` and gate/up into `gate_up_proj`
//     (see weights.ts for the split/fuse mapping);
//   - sliding-window attention (Mistral `sliding_window`, default 4096 when the key is absent;
//     Phi-3 `sliding_window`). We implement full causal attention, which equals sliding-window
//     attention while a sequence is no longer than the window; `checkSequenceLength` enforces that.
//     Qwen2 with `use_sliding_window: true` (per-layer windows) is refused.
// RoPE scaling: none, Llama-3's "llama3" frequency scaling, or Phi-3's "longrope" (older name "su":
// per-frequency short/long factors chosen by sequence length, and an attention factor; it needs the
// top-level original_max_position_embeddings, as Phi-3/3.5 configs have). Everything else (linear,
// dynamic, yarn) is refused with an error naming the model and the value.
// Defaults follow the transformers config classes, except num_key_value_heads, which defaults to
// num_attention_heads for every architecture (real configs always set it). The structural sizes
// (vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads) are required.
// The parsed JSON is kept in `hf` so that `toHfConfig` writes back every field it did not model.
import * as v from "valibot";
import type { RopeConfig } from "../kernels/rope.ts";

export const ARCHITECTURES = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Phi3ForCausalLM"] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export type TorchDtype = "float32" | "float16" | "bfloat16";

/** Llama-3.1 RoPE: wavelengths above original/low_freq_factor are divided by factor, below original/high_freq_factor kept, smooth in between. */
export interface Llama3RopeScaling {
  type: "llama3";
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/**
 * Phi-3 LongRoPE: inverse frequencies divided by `shortFactor` while a sequence has at most
 * `originalMaxPositionEmbeddings` positions, by `longFactor` when longer (for the whole sequence);
 * cos and sin multiplied by the attention factor (kernels/rope.ts `ropeAttentionFactor`).
 */
export interface LongRopeScaling {
  type: "longrope";
  /** The type name config.json used ("su" is LongRoPE's older name), written back unchanged. */
  name: "longrope" | "su";
  shortFactor: number[];
  longFactor: number[];
  /** config.json's top-level original_max_position_embeddings. */
  originalMaxPositionEmbeddings: number;
  /** rope_scaling.attention_factor when given; null: derived from the context lengths. */
  attentionFactor: number | null;
}

export interface ModelConfig {
  architecture: Architecture;
  modelType: "llama" | "mistral" | "qwen2" | "phi3";
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | LongRopeScaling | null;
  maxPositionEmbeddings: number;
  /** Sliding attention window in positions; null = full causal attention. */
  slidingWindow: number | null;
  tieWordEmbeddings: boolean;
  /** q_proj, k_proj, v_proj have biases. */
  qkvBias: boolean;
  /** o_proj has a bias. */
  oBias: boolean;
  /** Checkpoints store qkv_proj and gate_up_proj fused (Phi-3). */
  fusedProjections: boolean;
  bosTokenId: number | null;
  /** config.json's eos_token_id, which may be one id or a list. */
  eosTokenIds: number[];
  padTokenId: number | null;
  torchDtype: TorchDtype;
  /** config.json as read; fields not modelled here are written back unchanged by toHfConfig. */
  hf: Record<string, unknown>;
}

const ARCH: Record<Architecture, { modelType: ModelConfig["modelType"]; rmsNormEps: number; maxPositions: number }> = {
  LlamaForCausalLM: { modelType: "llama", rmsNormEps: 1e-6, maxPositions: 2048 },
  MistralForCausalLM: { modelType: "mistral", rmsNormEps: 1e-6, maxPositions: 4096 * 32 },
  Qwen2ForCausalLM: { modelType: "qwen2", rmsNormEps: 1e-6, maxPositions: 32768 },
  Phi3ForCausalLM: { modelType: "phi3", rmsNormEps: 1e-5, maxPositions: 4096 },
};

const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const PositiveNumber = v.pipe(v.number(), v.gtValue(0));
const TokenId = v.pipe(v.number(), v.integer(), v.minValue(0));
const Dtype = v.picklist(["float32", "float16", "bfloat16"]);

const RopeScalingAny = v.looseObject({ rope_type: v.optional(v.string()), type: v.optional(v.string()) });

const Llama3Rope = v.object({
  factor: PositiveNumber,
  low_freq_factor: PositiveNumber,
  high_freq_factor: PositiveNumber,
  original_max_position_embeddings: PositiveInt,
});

const Factors = v.pipe(v.array(PositiveNumber), v.minLength(1));
const LongRope = v.object({
  short_factor: Factors,
  long_factor: Factors,
  attention_factor: v.optional(PositiveNumber),
});

const HfConfig = v.looseObject({
  architectures: v.pipe(v.array(v.string()), v.length(1, "expected exactly one architecture")),
  model_type: v.optional(v.string()),
  vocab_size: PositiveInt,
  hidden_size: PositiveInt,
  intermediate_size: PositiveInt,
  num_hidden_layers: PositiveInt,
  num_attention_heads: PositiveInt,
  num_key_value_heads: v.nullish(PositiveInt),
  head_dim: v.nullish(PositiveInt),
  hidden_act: v.optional(v.string()),
  rms_norm_eps: v.optional(PositiveNumber),
  rope_theta: v.optional(PositiveNumber),
  rope_scaling: v.nullish(RopeScalingAny),
  // transformers ≥ 5 writes rope_theta and the scaling into one `rope_parameters` object.
  rope_parameters: v.nullish(v.looseObject({ rope_theta: v.optional(PositiveNumber), rope_type: v.optional(v.string()) })),
  max_position_embeddings: v.optional(PositiveInt),
  original_max_position_embeddings: v.optional(PositiveInt),
  tie_word_embeddings: v.optional(v.boolean()),
  attention_bias: v.optional(v.boolean()),
  mlp_bias: v.optional(v.boolean()),
  sliding_window: v.nullish(PositiveInt),
  use_sliding_window: v.optional(v.boolean()),
  partial_rotary_factor: v.optional(v.number()),
  bos_token_id: v.nullish(TokenId),
  eos_token_id: v.nullish(v.union([TokenId, v.array(TokenId)])),
  pad_token_id: v.nullish(TokenId),
  torch_dtype: v.nullish(Dtype),
  dtype: v.nullish(Dtype),
});

function formatIssues(source: string, issues: v.BaseIssue<unknown>[]): string {
  const what = (i: v.BaseIssue<unknown>) => (i.received === "undefined" ? "required field is missing" : i.message);
  return issues.map((i) => `${source}: field ${v.getDotPath(i) ?? "(root)"}: ${what(i)}`).join("\n");
}

function parseRopeScaling(
  raw: Record<string, unknown> | null,
  arch: Architecture,
  source: string,
  originalMax: number | undefined,
): ModelConfig["ropeScaling"] {
  if (!raw) return null;
  const kind = raw.rope_type ?? raw.type;
  if (kind === undefined || kind === "default") return null;
  if (kind === "llama3") {
    const r = v.safeParse(Llama3Rope, raw);
    if (!r.success) throw new Error(formatIssues(`${source} rope_scaling`, r.issues));
    return {
      type: "llama3",
      factor: r.output.factor,
      lowFreqFactor: r.output.low_freq_factor,
      highFreqFactor: r.output.high_freq_factor,
      originalMaxPositionEmbeddings: r.output.original_max_position_embeddings,
    };
  }
  if (kind === "longrope" || kind === "su") {
    const r = v.safeParse(LongRope, raw);
    if (!r.success) throw new Error(formatIssues(`${source} rope_scaling`, r.issues));
    if (originalMax === undefined) {
      throw new Error(`${source}: ${arch} rope_scaling type ${JSON.stringify(kind)} needs the top-level field original_max_position_embeddings (the pretraining context, e.g. 4096 for Phi-3.5-mini)`);
    }
    return {
      type: "longrope",
      name: kind,
      shortFactor: r.output.short_factor,
      longFactor: r.output.long_factor,
      originalMaxPositionEmbeddings: originalMax,
      attentionFactor: r.output.attention_factor ?? null,
    };
  }
  throw new Error(`${source}: ${arch} rope_scaling type ${JSON.stringify(kind)} is not supported; supported: null, "llama3", "longrope" (or "su")`);
}

/** Validate an HF config.json object; `source` (usually the file path) prefixes every error. */
export function parseConfig(json: unknown, source: string): ModelConfig {
  const r = v.safeParse(HfConfig, json);
  if (!r.success) throw new Error(formatIssues(source, r.issues));
  const c = r.output;
  const architecture = c.architectures[0] as Architecture;
  if (!ARCHITECTURES.includes(architecture)) {
    throw new Error(`${source}: architecture ${JSON.stringify(c.architectures[0])} is not supported; supported: ${ARCHITECTURES.join(", ")}`);
  }
  const arch = ARCH[architecture];
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${architecture}: ${msg}`);
  };
  if (c.model_type !== undefined && c.model_type !== arch.modelType) {
    fail(`model_type ${JSON.stringify(c.model_type)} does not match the architecture (expected "${arch.modelType}")`);
  }
  if ((c.hidden_act ?? "silu") !== "silu") fail(`hidden_act ${JSON.stringify(c.hidden_act)} is not supported; expected "silu"`);
  if (c.mlp_bias) fail("mlp_bias: true is not supported (MLP projections without biases only)");
  if ((c.partial_rotary_factor ?? 1) !== 1) fail(`partial_rotary_factor ${c.partial_rotary_factor} is not supported; expected 1`);
  if (c.use_sliding_window && architecture === "Qwen2ForCausalLM") fail("use_sliding_window: true is not supported (full attention only)");

  const numHeads = c.num_attention_heads;
  const numKvHeads = c.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) fail(`num_attention_heads ${numHeads} must be a multiple of num_key_value_heads ${numKvHeads}`);
  if (c.head_dim == null && c.hidden_size % numHeads !== 0) {
    fail(`hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${numHeads} and head_dim is not given`);
  }
  const headDim = c.head_dim ?? c.hidden_size / numHeads;
  if (headDim % 2 !== 0) fail(`head_dim ${headDim} must be even for RoPE`);

  const ropeParams = c.rope_parameters ?? null;
  const ropeTheta = c.rope_theta ?? ropeParams?.rope_theta ?? 10000;
  const ropeScaling = parseRopeScaling(c.rope_scaling ?? ropeParams, architecture, source, c.original_max_position_embeddings);
  if (ropeScaling?.type === "longrope") {
    for (const [field, factors] of [["short_factor", ropeScaling.shortFactor], ["long_factor", ropeScaling.longFactor]] as const) {
      if (factors.length !== headDim / 2) fail(`rope_scaling.${field} has ${factors.length} values, expected head_dim / 2 = ${headDim / 2}`);
    }
  }

  const slidingWindow =
    architecture === "MistralForCausalLM"
      ? c.sliding_window === undefined ? 4096 : c.sliding_window
      : architecture === "Phi3ForCausalLM" ? (c.sliding_window ?? null) : null;
  const eos = c.eos_token_id ?? [];
  return {
    architecture,
    modelType: arch.modelType,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: c.rms_norm_eps ?? arch.rmsNormEps,
    ropeTheta,
    ropeScaling,
    maxPositionEmbeddings: c.max_position_embeddings ?? arch.maxPositions,
    slidingWindow,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    qkvBias: architecture === "Qwen2ForCausalLM" || (architecture === "LlamaForCausalLM" && (c.attention_bias ?? false)),
    oBias: architecture === "LlamaForCausalLM" && (c.attention_bias ?? false),
    fusedProjections: architecture === "Phi3ForCausalLM",
    bosTokenId: c.bos_token_id ?? null,
    eosTokenIds: typeof eos === "number" ? [eos] : eos,
    padTokenId: c.pad_token_id ?? null,
    torchDtype: c.torch_dtype ?? c.dtype ?? "float32",
    hf: structuredClone(json as Record<string, unknown>),
  };
}

/** Read and parse `path` (a config.json). */
export async function loadConfig(path: string): Promise<ModelConfig> {
  const file = Bun.file(path);
  if (!(await file.exists())) throw new Error(`config file ${path} does not exist`);
  let json: unknown;
  try {
    json = await file.json();
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(json, path);
}

/** The config.json object for `config`: the original fields, with every modelled field set from `config`. */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config.hf };
  delete out.rope_parameters; // written as the rope_theta/rope_scaling pair, which all transformers versions read
  const s = config.ropeScaling;
  Object.assign(out, {
    architectures: [config.architecture],
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    hidden_act: "silu",
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: hfRopeScaling(s),
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 0 ? null : config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds,
    pad_token_id: config.padTokenId,
    torch_dtype: config.torchDtype,
  });
  if ("dtype" in out) out.dtype = config.torchDtype;
  if (s?.type === "longrope") out.original_max_position_embeddings = s.originalMaxPositionEmbeddings;
  if (config.modelType === "llama") out.attention_bias = config.oBias;
  if (config.modelType === "mistral" || config.modelType === "phi3") out.sliding_window = config.slidingWindow;
  return out;
}

/** The RoPE fields of `config` as HF's config.json spells them (what kernels/rope.ts computes from). */
export function ropeConfig(config: ModelConfig): RopeConfig {
  const s = config.ropeScaling;
  return {
    rope_theta: config.ropeTheta,
    head_dim: config.headDim,
    max_position_embeddings: config.maxPositionEmbeddings,
    original_max_position_embeddings: s?.type === "longrope" ? s.originalMaxPositionEmbeddings : undefined,
    rope_scaling: hfRopeScaling(s),
  };
}

function hfRopeScaling(s: ModelConfig["ropeScaling"]): Record<string, unknown> | null {
  if (!s) return null;
  if (s.type === "llama3") {
    return {
      rope_type: "llama3",
      factor: s.factor,
      low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    };
  }
  // Exactly these keys: transformers 4.4x's Phi3Config refuses a rope_scaling with other fields.
  return {
    type: s.name,
    short_factor: s.shortFactor,
    long_factor: s.longFactor,
    ...(s.attentionFactor !== null && { attention_factor: s.attentionFactor }),
  };
}

/** Throw unless sequences of `length` positions are within what this model (and our full attention) supports. */
export function checkSequenceLength(config: ModelConfig, length: number): void {
  if (length > config.maxPositionEmbeddings) {
    throw new Error(`sequence length ${length} exceeds max_position_embeddings ${config.maxPositionEmbeddings} of this ${config.architecture}`);
  }
  if (config.slidingWindow !== null && length > config.slidingWindow) {
    throw new Error(
      `sequence length ${length} exceeds the ${config.architecture} sliding window of ${config.slidingWindow}; we implement full causal attention, which matches the model only within the window`,
    );
  }
}

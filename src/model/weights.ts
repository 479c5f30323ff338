// The parameters of a ModelConfig, the tensors of its Hugging Face checkpoint, and the mapping between.
//
// The model's parameters (weights are [out, in] as HF stores them):
//   model.embed_tokens.weight                      [V, H]
//   per layer i, prefix model.layers.{i}.:
//     input_layernorm.weight                       [H]
//     self_attn.qkv_proj.weight                    [(nH + 2·nKV)·D, H]  rows [q_proj; k_proj; v_proj]
//     self_attn.qkv_proj.bias                      [(nH + 2·nKV)·D]     [q; k; v] biases (when qkvBias)
//     self_attn.o_proj.weight                      [H, nH·D]   (+ .bias [H] when oBias)
//     post_attention_layernorm.weight              [H]
//     mlp.gate_up_proj.weight                      [2I, H]     rows [gate_proj; up_proj]
//     mlp.down_proj.weight                         [H, I]
//   model.norm.weight                              [H]
//   lm_head.weight                                 [V, H]      (absent when tieWordEmbeddings)
// q/k/v and gate/up are one parameter each so that a layer runs one matmul for each group (the fused
// kernels of src/kernels/matmul.ts and rope.ts); the fusion is a layout only. Each fused parameter's
// `parts` are the HF projections it stacks along its rows (`partRows` gives their row ranges), and
// checkpoints hold those parts under their HF names (q_proj, k_proj, v_proj, gate_proj, up_proj, as
// transformers expects), except Phi-3's, which store qkv_proj and gate_up_proj fused as we do.
// `readModelWeights` stacks the parts on load (zero-copy for Phi-3) and `toCheckpointTensors` splits
// them on save. As transformers does, loading ignores `*.rotary_emb.inv_freq` buffers and, in tied
// models, an `lm_head.weight` (it is replaced by the embedding).
import type { ModelConfig } from "./config.ts";
import {
  DTYPE_BYTES,
  listTensors,
  readTensor,
  tensorFromBytes,
  type LoadedTensor,
  type TensorData,
  type TensorEntry,
  type TensorToWrite,
} from "./safetensors.ts";

export interface ParamSpec {
  name: string;
  shape: number[];
  /** A fused parameter's HF tensors, stacked along its rows (dimension 0) in this order. */
  parts?: ParamSpec[];
}

/** The model's parameters, in order (the optimizer's): embedding, layers 0..L-1, final norm, lm_head. */
export function parameterSpecs(config: ModelConfig): ParamSpec[] {
  const { vocabSize: V, hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim: D } = config;
  const specs: ParamSpec[] = [{ name: "model.embed_tokens.weight", shape: [V, H] }];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}.`;
    const fuse = (name: string, parts: ParamSpec[]): ParamSpec => ({
      name: `${p}${name}`,
      shape: [parts.reduce((rows, s) => rows + s.shape[0], 0), ...parts[0].shape.slice(1)],
      parts,
    });
    const qkvRows: [string, number][] = [["q_proj", numHeads * D], ["k_proj", numKvHeads * D], ["v_proj", numKvHeads * D]];
    specs.push({ name: `${p}input_layernorm.weight`, shape: [H] });
    specs.push(fuse("self_attn.qkv_proj.weight", qkvRows.map(([n, rows]) => ({ name: `${p}self_attn.${n}.weight`, shape: [rows, H] }))));
    if (config.qkvBias) specs.push(fuse("self_attn.qkv_proj.bias", qkvRows.map(([n, rows]) => ({ name: `${p}self_attn.${n}.bias`, shape: [rows] }))));
    specs.push({ name: `${p}self_attn.o_proj.weight`, shape: [H, numHeads * D] });
    if (config.oBias) specs.push({ name: `${p}self_attn.o_proj.bias`, shape: [H] });
    specs.push({ name: `${p}post_attention_layernorm.weight`, shape: [H] });
    specs.push(fuse("mlp.gate_up_proj.weight", ["gate_proj", "up_proj"].map((n) => ({ name: `${p}mlp.${n}.weight`, shape: [I, H] }))));
    specs.push({ name: `${p}mlp.down_proj.weight`, shape: [H, I] });
  }
  specs.push({ name: "model.norm.weight", shape: [H] });
  if (!config.tieWordEmbeddings) specs.push({ name: "lm_head.weight", shape: [V, H] });
  return specs;
}

/** Rows [start, end) of each part of a fused parameter (e.g. a per-projection adapter's output columns). */
export function partRows(spec: ParamSpec): { name: string; start: number; end: number }[] {
  let start = 0;
  return (spec.parts ?? []).map((p) => ({ name: p.name, start, end: (start += p.shape[0]) }));
}

/**
 * The tensors of an HF checkpoint of this config: the parameters with every fused one replaced by its
 * parts, except in Phi-3 checkpoints (fusedProjections), which store them fused. Phi-3 has no
 * attention biases (parseConfig guarantees qkvBias is false).
 */
export function checkpointSpecs(config: ModelConfig): ParamSpec[] {
  return parameterSpecs(config).flatMap((s) => (s.parts && !config.fusedProjections ? s.parts : [s]));
}

/** Checkpoint tensors that transformers drops on load, and so do we. */
function isIgnored(name: string, config: ModelConfig): boolean {
  return name.endsWith(".rotary_emb.inv_freq") || (config.tieWordEmbeddings && name === "lm_head.weight");
}

const fmt = (shape: readonly number[]) => `[${shape.join(", ")}]`;
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Missing, unexpected and mis-shaped tensors of `have` against `want`, one line each. */
function mismatches(have: readonly { name: string; shape: number[]; where: string }[], want: readonly ParamSpec[], missingWhere: string): string[] {
  const wanted = new Map(want.map((s) => [s.name, s.shape]));
  const found = new Set<string>();
  const lines: string[] = [];
  for (const t of have) {
    found.add(t.name);
    const shape = wanted.get(t.name);
    if (!shape) lines.push(`${t.where}: unexpected tensor ${t.name} ${fmt(t.shape)}`);
    else if (!sameShape(shape, t.shape)) lines.push(`${t.where}: tensor ${t.name} has shape ${fmt(t.shape)}, expected ${fmt(shape)}`);
  }
  for (const s of want) if (!found.has(s.name)) lines.push(`${missingWhere}: missing tensor ${s.name} ${fmt(s.shape)}`);
  return lines;
}

function throwIfAny(lines: string[], what: string): void {
  if (lines.length === 0) return;
  const MAX = 20;
  const more = lines.length > MAX ? `\n  … and ${lines.length - MAX} more` : "";
  throw new Error(`${what}:\n  ${lines.slice(0, MAX).join("\n  ")}${more}`);
}

/** Throw, listing every problem, unless `entries` are exactly the tensors a checkpoint of `config` must hold. */
export function validateCheckpoint(entries: readonly TensorEntry[], config: ModelConfig, source: string): void {
  const have = entries.filter((e) => !isIgnored(e.name, config)).map((e) => ({ name: e.name, shape: e.shape, where: e.file }));
  throwIfAny(mismatches(have, checkpointSpecs(config), source), `checkpoint ${source} does not match its ${config.architecture} config`);
}

/** Stream the model's parameters from the checkpoint in `dir`, validated first, HF parts stacked into fused ones. */
export async function* readModelWeights(dir: string, config: ModelConfig): AsyncGenerator<LoadedTensor> {
  const entries = await listTensors(dir);
  validateCheckpoint(entries, config, dir);
  const fusedOf = new Map<string, ParamSpec>();
  if (!config.fusedProjections) for (const s of parameterSpecs(config)) for (const part of s.parts ?? []) fusedOf.set(part.name, s);
  const pending = new Map<string, Map<string, LoadedTensor>>();
  for (const entry of entries) {
    if (isIgnored(entry.name, config)) continue;
    const t = await readTensor(entry);
    const fused = fusedOf.get(t.name);
    if (!fused) {
      yield t;
      continue;
    }
    const got = pending.get(fused.name) ?? new Map<string, LoadedTensor>();
    pending.set(fused.name, got.set(t.name, t));
    if (got.size < fused.parts!.length) continue;
    pending.delete(fused.name);
    yield stackRows(fused, fused.parts!.map((p) => got.get(p.name)!));
  }
}

/** The fused parameter `spec` from its parts (their dtype when they share one, else F32). */
function stackRows(spec: ParamSpec, parts: LoadedTensor[]): LoadedTensor {
  const dtype = parts.every((p) => p.dtype === parts[0].dtype) ? parts[0].dtype : "F32";
  const bytes = (p: LoadedTensor) => (p.dtype === dtype ? p.raw : new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength));
  const raw = new Uint8Array(parts.reduce((n, p) => n + p.data.length, 0) * DTYPE_BYTES[dtype]);
  let at = 0;
  for (const p of parts) {
    raw.set(bytes(p), at);
    at += p.data.length * DTYPE_BYTES[dtype];
  }
  return tensorFromBytes(spec.name, spec.shape, dtype, raw);
}

/**
 * The tensors to write for a checkpoint of `config`, from the model's parameters (validated against
 * parameterSpecs): each fused parameter split into its HF parts (each part's data a row range of the
 * parameter's, fetched once). Tensors already in the checkpoint's layout (a converter's) pass through.
 */
export function toCheckpointTensors(tensors: readonly TensorToWrite[], config: ModelConfig): TensorToWrite[] {
  const have = tensors.map((t) => ({ name: t.name, shape: t.shape, where: "model" }));
  const byName = new Map(tensors.map((t) => [t.name, t]));
  if (mismatches(have, checkpointSpecs(config), "model").length === 0) return checkpointSpecs(config).map((s) => byName.get(s.name)!);
  throwIfAny(mismatches(have, parameterSpecs(config), "model"), `saving a ${config.architecture} checkpoint: the parameters do not match the config`);
  return parameterSpecs(config).flatMap((spec): TensorToWrite[] => {
    const t = byName.get(spec.name)!;
    if (!spec.parts || config.fusedProjections) return [t];
    let fetched: Promise<TensorData> | undefined;
    const data = () => (fetched ??= Promise.resolve(typeof t.data === "function" ? t.data() : t.data));
    const cols = spec.shape.slice(1).reduce((a, b) => a * b, 1);
    return partRows(spec).map((r, i) => ({
      name: r.name,
      shape: spec.parts![i].shape,
      dtype: t.dtype,
      data: async () => (await data()).subarray(r.start * cols, r.end * cols),
    }));
  });
}

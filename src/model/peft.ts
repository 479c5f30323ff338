// LoRA adapters ⇄ PEFT adapter directories, and merging an adapter into its base model.
//
// An adapter directory, as PEFT's save_pretrained writes it and PeftModel.from_pretrained reads it:
//   adapter_config.json         peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha, lora_dropout,
//                               target_modules, base_model_name_or_path, bias "none", …
//   adapter_model.safetensors   per adapted module m (e.g. model.layers.0.self_attn.q_proj):
//                                 base_model.model.{m}.lora_A.weight [r, in]   (F32)
//                                 base_model.model.{m}.lora_B.weight [out, r]
//                               (Phi-3: m = …qkv_proj, …gate_up_proj, B's rows the parts' in order)
// Merging: W' = W + (lora_alpha / r)·B·A for every adapted W (PEFT's merge_and_unload), per part.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import * as v from "valibot";
import type { Tensor } from "../autograd/tensor.ts";
import { downloadF32 } from "../gpu/recorder.ts";
import { matmul } from "../kernels/matmul.ts";
import type { ModelConfig } from "./config.ts";
import {
  FUSED_MODULES,
  LORA_TARGET_MODULES,
  LoraAdapters,
  type LoraConfig,
  type LoraPair,
  type LoraTargetModule,
  loraBName,
  loraSpecs,
  peftTargetModules,
  projectionWeight,
  trainable,
} from "./lora.ts";
import { readHeader, readTensor, writeSafetensors } from "./safetensors.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";
const PREFIX = "base_model.model.";

/** PEFT's tensor names of the adapter of `module`. */
export const peftNames = (module: string) => ({ A: `${PREFIX}${module}.lora_A.weight`, B: `${PREFIX}${module}.lora_B.weight` });

/** adapter_config.json for `lora` on a model of `config` over the base model at `baseModel`. */
export function adapterConfigJson(config: ModelConfig, lora: LoraConfig, baseModel: string): Record<string, unknown> {
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: lora.r,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    target_modules: peftTargetModules(config, lora),
    bias: "none",
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_rslora: false,
    use_dora: false,
    revision: null,
  };
}

/** Writes `adapters` of a model of `config` as a PEFT adapter directory at `dir` (files written in place; the caller owns atomicity). */
export async function saveAdapter(dir: string, config: ModelConfig, adapters: LoraAdapters, baseModel: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors = adapters.specs.flatMap((s) => {
    const pair = adapters.pairs.get(s.module)!;
    const names = peftNames(s.module);
    const stacked = async () => {
      const parts = await Promise.all(pair.B.map((b) => downloadF32(b.buf, b.size)));
      const out = new Float32Array(s.B[0] * s.B[1]);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    };
    return [
      { name: names.A, shape: [...s.A], dtype: "F32" as const, data: () => downloadF32(pair.A.buf, pair.A.size) },
      { name: names.B, shape: [...s.B], dtype: "F32" as const, data: stacked },
    ];
  });
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: "pt" });
  await Bun.write(join(dir, ADAPTER_CONFIG), `${JSON.stringify(adapterConfigJson(config, adapters.lora, baseModel), null, 2)}\n`);
}

const AdapterConfigSchema = v.looseObject({
  peft_type: v.literal("LORA", 'peft_type must be "LORA"'),
  base_model_name_or_path: v.optional(v.nullable(v.string())),
  r: v.pipe(v.number("r must be a number"), v.integer("r must be an integer"), v.minValue(1, "r must be ≥ 1")),
  lora_alpha: v.pipe(v.number("lora_alpha must be a number"), v.gtValue(0, "lora_alpha must be > 0")),
  lora_dropout: v.optional(v.pipe(v.number(), v.minValue(0), v.ltValue(1)), 0),
  target_modules: v.union([v.array(v.string()), v.string()], "target_modules must be a list of module names"),
  use_rslora: v.optional(v.literal(false, "use_rslora: true is not supported"), false),
  use_dora: v.optional(v.literal(false, "use_dora: true is not supported"), false),
  fan_in_fan_out: v.optional(v.literal(false, "fan_in_fan_out: true is not supported"), false),
});

/** The LoRA configuration and base model path of the adapter directory `dir`. */
export async function readAdapterConfig(dir: string): Promise<{ lora: LoraConfig; baseModel: string | null }> {
  const path = join(dir, ADAPTER_CONFIG);
  const file = Bun.file(path);
  if (!(await file.exists())) throw new Error(`${dir} is not a PEFT adapter directory: ${ADAPTER_CONFIG} is missing`);
  const r = v.safeParse(AdapterConfigSchema, await file.json());
  if (!r.success) throw new Error(`${path}: ${r.issues.map((i) => `${i.path?.map((p) => String(p.key)).join(".") ?? ""}: ${i.message} (got ${JSON.stringify(i.input)})`).join("; ")}`);
  const c = r.output;
  const named = typeof c.target_modules === "string" ? [c.target_modules] : c.target_modules;
  const known = [...LORA_TARGET_MODULES, ...Object.keys(FUSED_MODULES)];
  const unknown = named.filter((m) => !known.includes(m));
  if (unknown.length) throw new Error(`${path}: target_modules ${JSON.stringify(unknown)} are not supported; expected some of ${known.join(", ")}`);
  const modules = named.flatMap((m) => FUSED_MODULES[m] ?? [m]);
  const lora: LoraConfig = {
    r: c.r,
    alpha: c.lora_alpha,
    dropout: c.lora_dropout,
    targetModules: LORA_TARGET_MODULES.filter((m) => modules.includes(m)) as LoraTargetModule[],
  };
  return { lora, baseModel: c.base_model_name_or_path ?? null };
}

/** The adapters of the directory `dir` for a model of `config`, on the GPU as trainable f32 tensors. */
export async function loadAdapter(dir: string, config: ModelConfig): Promise<LoraAdapters> {
  const { lora } = await readAdapterConfig(dir);
  const specs = loraSpecs(config, lora);
  const path = join(dir, ADAPTER_WEIGHTS);
  const entries = new Map((await readHeader(path)).tensors.map((e) => [e.name, e]));
  const wanted = new Set<string>();
  const pairs = new Map<string, LoraPair>();
  for (const s of specs) {
    const names = peftNames(s.module);
    const read = async (name: string, shape: [number, number]) => {
      wanted.add(name);
      const e = entries.get(name);
      if (!e) throw new Error(`${path}: missing tensor ${name} [${shape}]`);
      if (e.shape.join() !== shape.join()) throw new Error(`${path}: tensor ${name} has shape [${e.shape}], expected [${shape}]`);
      return (await readTensor(e)).data;
    };
    const B = await read(names.B, s.B);
    let row = 0;
    const parts = s.parts.map((part, j) => {
      const rows = B.slice(row * s.B[1], (row + part.rows) * s.B[1]); // a copy: uploads ignore a view's byteOffset
      row += part.rows;
      return trainable(rows, [part.rows, s.B[1]], loraBName(s, j));
    });
    pairs.set(s.module, { A: trainable(await read(names.A, s.A), s.A, `${s.module}.lora_A.weight`), B: parts });
  }
  const extra = [...entries.keys()].filter((n) => !wanted.has(n));
  if (extra.length) throw new Error(`${path}: unexpected tensors ${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ` and ${extra.length - 5} more` : ""} (not in its adapter_config.json's target_modules)`);
  return new LoraAdapters(lora, specs, pairs);
}

/**
 * W += (alpha / r)·B·A in place for every adapted module of `params` (f32 weights of the base model,
 * e.g. loaded with `loadModel(dir)`); a projection stacked in a fused weight gets its rows' share.
 */
export function mergeAdapter(config: ModelConfig, params: ReadonlyMap<string, Tensor>, adapters: LoraAdapters): void {
  for (const s of adapters.specs) {
    const { A, B } = adapters.pairs.get(s.module)!;
    s.parts.forEach((part, j) => {
      const { name, row0 } = projectionWeight(config, s.layer, part.proj);
      const w = params.get(name);
      if (!w) throw new Error(`mergeAdapter: the model has no ${name}`);
      if (w.dtype !== "f32") throw new Error(`mergeAdapter: ${name} is ${w.dtype}; merging needs f32 weights (load the base without freezing)`);
      const [In, r] = [s.A[1], s.B[1]];
      matmul({ a: B[j].buf, b: A.buf, c: w.buf }, { M: part.rows, N: In, K: r, alpha: adapters.scale, accumulate: true, offsetC: row0 * In });
    });
  }
}

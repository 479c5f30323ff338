// LoRA adapters of a ModelConfig: which projections carry one, their shapes and names, and PEFT's
// initialisation. The op itself is src/autograd/ops/lora.ts; the Transformer applies an adapter
// wherever `LoraAdapters` holds one for the projection.
//
//   per adapted module W [out, in] of layer i (module = model.layers.{i}.self_attn.q_proj, …):
//     lora_A [r, in] ~ U(−1/√in, 1/√in)   PEFT: nn.init.kaiming_uniform_(A, a=√5); with fan_in = in the
//                                          gain √(2/(1+a²)) = √(1/3) makes the bound √3·gain/√in = 1/√in
//     lora_B [out, r] = 0                 so the adapted model starts as the base model
//     scale = lora_alpha / r              (PEFT's default; use_rslora is not supported)
// The model stacks q/k/v and gate/up in one weight each for every architecture (weights.ts), and an
// adapter of one of them adds into its part's output columns of the fused projection (partAdapters).
// Phi-3 stores q/k/v as one qkv_proj and gate/up as one gate_up_proj, and PEFT adapts those fused
// modules: one A [r, in] shared by the parts, one B [q + k + v rows, r]. Such an adapter is applied
// per part with the shared A and the part's rows of B (kept as one tensor per part; A's gradient sums
// over the parts) and the same dropout mask, which is the fused module's update exactly. The targets are named unfused (q_proj, …) in the training config;
// for Phi-3, q/k/v (and gate/up) must be targeted together.
import { Tensor } from "../autograd/tensor.ts";
import { Rng } from "../data/rng.ts";
import type { ModelConfig } from "./config.ts";

/** The projections an adapter may target (PEFT's names for unfused checkpoints), in the model's order. */
export const LORA_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LoraTargetModule = (typeof LORA_TARGET_MODULES)[number];

/** Modules of a fused checkpoint (Phi-3) and the projections each stacks along its rows. */
export const FUSED_MODULES: Readonly<Record<string, readonly LoraTargetModule[]>> = {
  qkv_proj: ["q_proj", "k_proj", "v_proj"],
  gate_up_proj: ["gate_proj", "up_proj"],
};

export interface LoraConfig {
  r: number;
  alpha: number;
  /** lora_dropout: probability in [0, 1) of dropping an adapter input element (training only). */
  dropout: number;
  targetModules: readonly LoraTargetModule[];
}

export interface LoraSpec {
  /** The adapted module's HF name, e.g. model.layers.0.self_attn.q_proj (or Phi-3's …self_attn.qkv_proj). */
  module: string;
  /** Position of its first projection in LORA_TARGET_MODULES (part of the dropout seed). */
  kind: number;
  layer: number;
  A: [number, number];
  B: [number, number];
  /** The projections the module stacks along B's rows, with their row counts (one for unfused modules). */
  parts: { proj: LoraTargetModule; rows: number }[];
}

const PARENT: Record<LoraTargetModule, string> = {
  q_proj: "self_attn",
  k_proj: "self_attn",
  v_proj: "self_attn",
  o_proj: "self_attn",
  gate_proj: "mlp",
  up_proj: "mlp",
  down_proj: "mlp",
};

/** [out, in] of each projection. */
function projectionShape(config: ModelConfig, m: LoraTargetModule): [number, number] {
  const { hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim: D } = config;
  switch (m) {
    case "q_proj": return [numHeads * D, H];
    case "k_proj":
    case "v_proj": return [numKvHeads * D, H];
    case "o_proj": return [H, numHeads * D];
    case "gate_proj":
    case "up_proj": return [I, H];
    case "down_proj": return [H, I];
  }
}

/** The adaptable modules of `config` in order: each a name and the projections it stacks. */
function modulesOf(config: ModelConfig): { name: string; projs: readonly LoraTargetModule[] }[] {
  if (!config.fusedProjections) return LORA_TARGET_MODULES.map((p) => ({ name: p, projs: [p] }));
  return [
    { name: "qkv_proj", projs: FUSED_MODULES.qkv_proj },
    { name: "o_proj", projs: ["o_proj"] },
    { name: "gate_up_proj", projs: FUSED_MODULES.gate_up_proj },
    { name: "down_proj", projs: ["down_proj"] },
  ];
}

/** PEFT's target_modules for `lora` on `config` (fused names for Phi-3). */
export function peftTargetModules(config: ModelConfig, lora: LoraConfig): string[] {
  return modulesOf(config).filter((m) => lora.targetModules.includes(m.projs[0])).map((m) => m.name);
}

/** Throws, naming the field and value, unless `lora` is a valid LoRA configuration for `config`. */
export function checkLoraConfig(config: ModelConfig, lora: LoraConfig): void {
  if (!Number.isInteger(lora.r) || lora.r < 1) throw new Error(`lora_r must be an integer ≥ 1, got ${lora.r}`);
  if (!(lora.alpha > 0)) throw new Error(`lora_alpha must be > 0, got ${lora.alpha}`);
  if (!(lora.dropout >= 0 && lora.dropout < 1)) throw new Error(`lora_dropout must be in [0, 1), got ${lora.dropout}`);
  if (lora.targetModules.length === 0) throw new Error(`lora_target_modules is empty; expected some of ${LORA_TARGET_MODULES.join(", ")}`);
  for (const m of lora.targetModules) {
    if (!LORA_TARGET_MODULES.includes(m)) throw new Error(`lora_target_modules: unknown module ${JSON.stringify(m)}; expected some of ${LORA_TARGET_MODULES.join(", ")}`);
  }
  for (const { name, projs } of modulesOf(config)) {
    const on = projs.filter((p) => lora.targetModules.includes(p));
    if (on.length > 0 && on.length < projs.length) {
      throw new Error(`lora_target_modules: ${config.architecture} fuses ${projs.join(", ")} into ${name}, which PEFT adapts as one module; target all of them or none (got ${on.join(", ")})`);
    }
  }
}

/** Every adapter of `config` under `lora`, layer by layer in module order. */
export function loraSpecs(config: ModelConfig, lora: LoraConfig): LoraSpec[] {
  checkLoraConfig(config, lora);
  const out: LoraSpec[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const { name, projs } of modulesOf(config)) {
      if (!lora.targetModules.includes(projs[0])) continue;
      const parts = projs.map((proj) => ({ proj, rows: projectionShape(config, proj)[0] }));
      const rows = parts.reduce((n, p) => n + p.rows, 0);
      const inp = projectionShape(config, projs[0])[1];
      out.push({ module: `model.layers.${layer}.${PARENT[projs[0]]}.${name}`, kind: LORA_TARGET_MODULES.indexOf(projs[0]), layer, A: [lora.r, inp], B: [rows, lora.r], parts });
    }
  }
  return out;
}

/** The trainable tensors of one adapted module: A, and B as one tensor per part (rows of PEFT's lora_B). */
export interface LoraPair {
  A: Tensor;
  B: Tensor[];
}

/** What a projection needs to apply its adapter: A, its rows of B, s = alpha / r, lora_dropout, the module's spec. */
export interface ProjectionAdapter {
  A: Tensor;
  B: Tensor;
  scale: number;
  dropout: number;
  spec: LoraSpec;
}

/** An adapter of one part of a fused weight, at its first output column (loraLinear's col0). */
export interface PartAdapter {
  adapter: ProjectionAdapter;
  col0: number;
}

/**
 * Where projection `proj` of layer `layer` lives among the model's parameters (weights.ts stacks q/k/v
 * in qkv_proj and gate/up in gate_up_proj): the weight's name and the projection's first row in it.
 */
export function projectionWeight(config: ModelConfig, layer: number, proj: LoraTargetModule): { name: string; row0: number } {
  const prefix = `model.layers.${layer}.${PARENT[proj]}.`;
  const group = Object.keys(FUSED_MODULES).find((g) => FUSED_MODULES[g].includes(proj));
  if (!group) return { name: `${prefix}${proj}.weight`, row0: 0 };
  const before = FUSED_MODULES[group].slice(0, FUSED_MODULES[group].indexOf(proj));
  return { name: `${prefix}${group}.weight`, row0: before.reduce((n, p) => n + projectionShape(config, p)[0], 0) };
}

/**
 * The adapters of the projections stacked in the fused weight `group` of a layer, in row order, each at
 * its part's first row (loraLinear's col0); [] when none is adapted. A Phi-3 module's parts share A
 * and are consecutive.
 */
export function partAdapters(
  config: ModelConfig,
  adapters: Partial<Record<LoraTargetModule, ProjectionAdapter>>,
  group: "qkv_proj" | "gate_up_proj",
): PartAdapter[] {
  return FUSED_MODULES[group].flatMap((proj) => {
    const adapter = adapters[proj];
    return adapter ? [{ adapter, col0: projectionWeight(config, adapter.spec.layer, proj).row0 }] : [];
  });
}

/** The name of B's tensor for part j of `spec` (PEFT's lora_B name, suffixed by the part when fused). */
export const loraBName = (spec: LoraSpec, j: number) => `${spec.module}.lora_B.weight${spec.parts.length > 1 ? `:${spec.parts[j].proj}` : ""}`;

/** The adapters of a model: A and B per adapted module, all sharing scale and dropout. */
export class LoraAdapters {
  readonly scale: number;

  constructor(
    readonly lora: LoraConfig,
    readonly specs: readonly LoraSpec[],
    readonly pairs: ReadonlyMap<string, LoraPair>,
  ) {
    this.scale = lora.alpha / lora.r;
    for (const s of specs) {
      const p = pairs.get(s.module);
      if (!p) throw new Error(`LoraAdapters: no adapter for ${s.module}`);
      const shapes = s.parts.map((part) => [part.rows, s.B[1]].join());
      if (p.A.shape.join() !== s.A.join() || p.B.length !== s.parts.length || p.B.some((b, j) => b.shape.join() !== shapes[j])) {
        throw new Error(`LoraAdapters: ${s.module} has lora_A [${p.A.shape}] and lora_B ${p.B.map((b) => `[${b.shape}]`).join(" + ")}, expected [${s.A}] and [${s.B}]`);
      }
    }
  }

  /** The adapters of layer `layer`'s adapted projections, by projection name. */
  ofLayer(layer: number): Partial<Record<LoraTargetModule, ProjectionAdapter>> {
    const out: Partial<Record<LoraTargetModule, ProjectionAdapter>> = {};
    for (const spec of this.specs) {
      if (spec.layer !== layer) continue;
      const { A, B } = this.pairs.get(spec.module)!;
      spec.parts.forEach((part, j) => (out[part.proj] = { A, B: B[j], scale: this.scale, dropout: this.lora.dropout, spec }));
    }
    return out;
  }

  /** A and B (its parts) of every adapter in spec order (the optimizer's and the checkpoint's order). */
  parameters(): Tensor[] {
    return this.specs.flatMap((s) => {
      const p = this.pairs.get(s.module)!;
      return [p.A, ...p.B];
    });
  }

  release(): void {
    for (const t of this.parameters()) t.release();
  }
}

/** PEFT's initialisation, reproducible from `seed`: A ~ U(−1/√in, 1/√in), B = 0. */
export function initLora(config: ModelConfig, lora: LoraConfig, seed: number): LoraAdapters {
  const specs = loraSpecs(config, lora);
  const rng = new Rng(seed);
  const pairs = new Map<string, LoraPair>();
  for (const s of specs) {
    const bound = 1 / Math.sqrt(s.A[1]);
    const a = Float32Array.from({ length: s.A[0] * s.A[1] }, () => bound * (2 * rng.next() - 1));
    pairs.set(s.module, {
      A: trainable(a, s.A, `${s.module}.lora_A.weight`),
      B: s.parts.map((part, j) => trainable(new Float32Array(part.rows * s.B[1]), [part.rows, s.B[1]], loraBName(s, j))),
    });
  }
  return new LoraAdapters(lora, specs, pairs);
}

/** A kept, trainable f32 parameter named `name`, allocated exactly (it lives for the run). */
export function trainable(data: Float32Array, shape: readonly number[], name: string): Tensor {
  const t = Tensor.fromArray(data, shape, "f32", { exact: true }).keep();
  t.name = name;
  t.requiresGrad = true;
  return t;
}

/**
 * The seed of an adapter's dropout mask in one forward pass: a mix of the pass's seed, the layer and
 * the module, so every mask differs, the parts of a fused module share theirs, and a recomputed layer
 * draws the same one.
 */
export function dropoutSeed(passSeed: number, spec: Pick<LoraSpec, "layer" | "kind">): number {
  let h = (passSeed ^ Math.imul(spec.layer + 1, 0x9e3779b1) ^ Math.imul(spec.kind + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

// LoRA adapters of a ModelConfig: which projections carry one, their shapes and names, and PEFT's
// initialisation. The op itself is src/autograd/ops/lora.ts; the Transformer applies an adapter
// wherever `LoraAdapters` holds one for the projection.
//
//   per adapted projection W [out, in] of layer i (module = model.layers.{i}.self_attn.q_proj, …):
//     lora_A [r, in] ~ U(−1/√in, 1/√in)   PEFT: nn.init.kaiming_uniform_(A, a=√5); with fan_in = in the
//                                          gain √(2/(1+a²)) = √(1/3) makes the bound √3·gain/√in = 1/√in
//     lora_B [out, r] = 0                 so the adapted model starts as the base model
//     scale = lora_alpha / r              (PEFT's default; use_rslora is not supported)
// Phi-3 stores q/k/v and gate/up fused; PEFT adapts those fused modules (one A per group), which
// these per-projection adapters are not: LoRA on Phi-3 is refused until adapters follow the fusion.
import { Tensor } from "../autograd/tensor.ts";
import { Rng } from "../data/rng.ts";
import type { ModelConfig } from "./config.ts";

/** PEFT's names of the projections an adapter may target, in the model's order. */
export const LORA_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LoraTargetModule = (typeof LORA_TARGET_MODULES)[number];

export interface LoraConfig {
  r: number;
  alpha: number;
  /** lora_dropout: probability in [0, 1) of dropping an adapter input element (training only). */
  dropout: number;
  targetModules: readonly LoraTargetModule[];
}

export interface LoraSpec {
  /** The adapted module's HF name, e.g. model.layers.0.self_attn.q_proj (its weight is `${module}.weight`). */
  module: string;
  /** Position of the projection in LORA_TARGET_MODULES (part of the dropout seed). */
  kind: number;
  layer: number;
  A: [number, number];
  B: [number, number];
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
export function projectionShape(config: ModelConfig, m: LoraTargetModule): [number, number] {
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

/** Throws, naming the field and value, unless `lora` is a valid LoRA configuration for `config`. */
export function checkLoraConfig(config: ModelConfig, lora: LoraConfig): void {
  if (!Number.isInteger(lora.r) || lora.r < 1) throw new Error(`lora_r must be an integer ≥ 1, got ${lora.r}`);
  if (!(lora.alpha > 0)) throw new Error(`lora_alpha must be > 0, got ${lora.alpha}`);
  if (!(lora.dropout >= 0 && lora.dropout < 1)) throw new Error(`lora_dropout must be in [0, 1), got ${lora.dropout}`);
  if (lora.targetModules.length === 0) throw new Error(`lora_target_modules is empty; expected some of ${LORA_TARGET_MODULES.join(", ")}`);
  for (const m of lora.targetModules) {
    if (!LORA_TARGET_MODULES.includes(m)) throw new Error(`lora_target_modules: unknown module ${JSON.stringify(m)}; expected some of ${LORA_TARGET_MODULES.join(", ")}`);
  }
  if (config.fusedProjections) {
    throw new Error(`LoRA on ${config.architecture} is not supported: its checkpoints fuse q/k/v and gate/up, which PEFT adapts as fused modules`);
  }
}

/** Every adapter of `config` under `lora`, layer by layer in LORA_TARGET_MODULES order. */
export function loraSpecs(config: ModelConfig, lora: LoraConfig): LoraSpec[] {
  checkLoraConfig(config, lora);
  const out: LoraSpec[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    LORA_TARGET_MODULES.forEach((m, kind) => {
      if (!lora.targetModules.includes(m)) return;
      const [o, i] = projectionShape(config, m);
      out.push({ module: `model.layers.${layer}.${PARENT[m]}.${m}`, kind, layer, A: [lora.r, i], B: [o, lora.r] });
    });
  }
  return out;
}

/** The trainable pair of one adapted projection. */
export interface LoraPair {
  A: Tensor;
  B: Tensor;
}

/** What a projection needs to apply its adapter: the pair, s = alpha / r, lora_dropout and its spec. */
export interface ProjectionAdapter extends LoraPair {
  scale: number;
  dropout: number;
  spec: LoraSpec;
}

/** The adapters of a model: one A/B pair per adapted module, all sharing scale and dropout. */
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
      if (p.A.shape.join() !== s.A.join() || p.B.shape.join() !== s.B.join()) {
        throw new Error(`LoraAdapters: ${s.module} has lora_A [${p.A.shape}] and lora_B [${p.B.shape}], expected [${s.A}] and [${s.B}]`);
      }
    }
  }

  /** The adapters of layer `layer`'s adapted projections, by projection name. */
  ofLayer(layer: number): Partial<Record<LoraTargetModule, ProjectionAdapter>> {
    const out: Partial<Record<LoraTargetModule, ProjectionAdapter>> = {};
    for (const spec of this.specs) {
      if (spec.layer !== layer) continue;
      const { A, B } = this.pairs.get(spec.module)!;
      out[LORA_TARGET_MODULES[spec.kind]] = { A, B, scale: this.scale, dropout: this.lora.dropout, spec };
    }
    return out;
  }

  /** A and B of every adapter in spec order (the optimizer's and the checkpoint's order). */
  parameters(): Tensor[] {
    return this.specs.flatMap((s) => [this.pairs.get(s.module)!.A, this.pairs.get(s.module)!.B]);
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
    pairs.set(s.module, { A: trainable(a, s.A, `${s.module}.lora_A.weight`), B: trainable(new Float32Array(s.B[0] * s.B[1]), s.B, `${s.module}.lora_B.weight`) });
  }
  return new LoraAdapters(lora, specs, pairs);
}

/** A kept, trainable f32 parameter named `name`. */
export function trainable(data: Float32Array, shape: readonly number[], name: string): Tensor {
  const t = Tensor.fromArray(data, shape, "f32", { exact: true }).keep();
  t.name = name;
  t.requiresGrad = true;
  return t;
}

/**
 * The seed of an adapter's dropout mask in one forward pass: a mix of the pass's seed, the layer and
 * the projection, so every mask differs and a recomputed layer draws the same one.
 */
export function dropoutSeed(passSeed: number, spec: Pick<LoraSpec, "layer" | "kind">): number {
  let h = (passSeed ^ Math.imul(spec.layer + 1, 0x9e3779b1) ^ Math.imul(spec.kind + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

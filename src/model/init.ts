// A freshly initialised model, as transformers' `_init_weights` does for Llama: every weight matrix
// and embedding ~ N(0, initializer_range²) (0.02), biases 0, RMSNorm weights 1. Reproducible from a seed.
import { Tensor } from "../autograd/tensor.ts";
import { Rng } from "../data/rng.ts";
import type { ModelConfig } from "./config.ts";
import { Transformer } from "./transformer.ts";
import { parameterSpecs } from "./weights.ts";

export function initModel(config: ModelConfig, seed: number, std = 0.02): Transformer {
  const rng = new Rng(seed);
  const params = new Map<string, Tensor>();
  for (const spec of parameterSpecs(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (spec.name.endsWith("norm.weight")) data.fill(1);
    else if (!spec.name.endsWith(".bias")) for (let i = 0; i < n; i++) data[i] = std * gaussian(rng);
    const p = Tensor.fromArray(data, spec.shape, "f32", { exact: true }).keep();
    p.name = spec.name;
    p.requiresGrad = true;
    params.set(spec.name, p);
  }
  return new Transformer(config, params);
}

/** A standard normal draw (Box–Muller). */
export function gaussian(rng: Rng): number {
  const u = Math.max(rng.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

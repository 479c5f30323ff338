// What every command that runs a model needs: the GPU, the model directory loaded onto it (with a
// PEFT adapter over its frozen weights when one is given), and its tokenizer — with the errors a user
// can act on.
import { describeGpu, initGpu } from "../gpu/device.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { loadModel } from "./load.ts";
import { loadAdapter } from "./peft.ts";
import { Transformer } from "./transformer.ts";

export interface Runtime {
  model: Transformer;
  tokenizer: Tokenizer;
  modelDir: string;
}

export interface RuntimeOptions {
  verbose?: boolean;
  /** Keep the weights frozen in their checkpoint dtype (inference, LoRA training). */
  frozen?: boolean;
  /** A PEFT adapter directory to apply over the (frozen) model. */
  adapter?: string;
}

export async function loadRuntime(modelDir: string, opts: RuntimeOptions = {}): Promise<Runtime> {
  const g = await initGpu();
  if (opts.verbose) console.error(describeGpu(g));
  const base = await loadModel(modelDir, { frozen: opts.frozen || opts.adapter !== undefined });
  const model = opts.adapter === undefined ? base : new Transformer(base.config, base.params, await loadAdapter(opts.adapter, base.config));
  const tokenizer = await loadTokenizer(modelDir);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new Error(`${modelDir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocabSize}`);
  }
  return { model, tokenizer, modelDir };
}

// What every command that runs a model needs: the GPU, the model directory loaded onto it, and its
// tokenizer — with the errors a user can act on.
import { describeGpu, initGpu } from "../gpu/device.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { loadModel } from "./load.ts";
import type { Transformer } from "./transformer.ts";

export interface Runtime {
  model: Transformer;
  tokenizer: Tokenizer;
  modelDir: string;
}

export async function loadRuntime(modelDir: string, opts: { verbose?: boolean } = {}): Promise<Runtime> {
  const g = await initGpu();
  if (opts.verbose) console.error(describeGpu(g));
  const model = await loadModel(modelDir);
  const tokenizer = await loadTokenizer(modelDir);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new Error(`${modelDir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocabSize}`);
  }
  return { model, tokenizer, modelDir };
}

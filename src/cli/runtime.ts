// What every command that runs a model needs: the GPU, the model directory loaded onto it, and its
// tokenizer — with the errors a user can act on.
import { describeGpu, initGpu } from "../gpu/device.ts";
import { loadModel } from "../model/load.ts";
import type { Transformer } from "../model/transformer.ts";
import { loadTokenizer, type Tokenizer } from "../tokenizer/tokenizer.ts";

/** The model `bun run train`, `eval` and `generate` use when --model is not given. */
export const DEFAULT_MODEL = "models/latro-tiny";

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

/** Runs a command's body; user errors print as one line (no stack) and exit 1. */
export async function runCli(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const err = e as Error;
    console.error(`error: ${err.message}`);
    if (process.env.LATRO_DEBUG) console.error(err.stack);
    process.exit(1);
  }
}

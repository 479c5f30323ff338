// What every command that runs a model needs: the GPU, the model directory loaded onto it (with a
// PEFT adapter over its frozen weights when one is given), and its tokenizer — with the errors a user
// can act on.
import { describeGpu, initGpu } from "../gpu/device.ts";
import { loadModel } from "../model/load.ts";
import { loadAdapter } from "../model/peft.ts";
import { Transformer } from "../model/transformer.ts";
import { loadTokenizer, type Tokenizer } from "../tokenizer/tokenizer.ts";

/** The model `bun run train`, `eval` and `generate` use when --model is not given. */
export const DEFAULT_MODEL = "models/latro-tiny";

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

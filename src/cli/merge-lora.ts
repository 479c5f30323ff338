// `bun run merge-lora --model BASE --adapter DIR --out DIR`: writes BASE with the PEFT LoRA adapter
// merged in (W + (lora_alpha / r)·B·A for every adapted projection) as a full Hugging Face directory
// (f32 safetensors, BASE's config and tokenizer), as PEFT's merge_and_unload + save_pretrained.
import { type ArgsDef, defineCommand, runMain } from "citty";
import { loadModel, saveModel } from "../model/load.ts";
import { loadAdapter, mergeAdapter } from "../model/peft.ts";
import { initGpu } from "../gpu/device.ts";
import { checkFlags, stringArg } from "./args.ts";
import { runCli } from "./runtime.ts";

export async function mergeLora(modelDir: string, adapterDir: string, outDir: string): Promise<void> {
  await initGpu();
  const model = await loadModel(modelDir);
  const adapters = await loadAdapter(adapterDir, model.config);
  mergeAdapter(model.config, model.params, adapters);
  await saveModel(model, outDir, modelDir);
  adapters.release();
  model.dispose();
}

export const mergeLoraCommand = defineCommand({
  meta: { name: "merge-lora", description: "Merge a PEFT LoRA adapter into its base model and write a full HF directory" },
  args: {
    model: { type: "string", description: "base model directory", required: true },
    adapter: { type: "string", description: "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)", required: true },
    out: { type: "string", description: "output directory (replaced if it exists)", required: true },
  },
  async run({ args }) {
    await runCli(async () => {
      checkFlags(args, mergeLoraCommand.args as ArgsDef);
      const [model, adapter, out] = [stringArg("--model", args.model), stringArg("--adapter", args.adapter), stringArg("--out", args.out)];
      await mergeLora(model, adapter, out);
      console.error(`wrote ${out}: ${model} with ${adapter} merged`);
    });
  },
});

if (import.meta.main) runMain(mergeLoraCommand);

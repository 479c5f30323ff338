// `bun run generate [--model DIR] [--adapter DIR] [--prompt TEXT] [--chat] [--temperature T] [--top-p P] [--top-k K]
//  [--max-new-tokens N] [--seed S]`: prints the continuation; a rate line goes to stderr.
import { type ArgsDef, defineCommand, runMain } from "citty";
import { Rng } from "../data/rng.ts";
import { generate } from "../generate/generate.ts";
import { encodeChat } from "../tokenizer/chat.ts";
import { loadRuntime } from "../model/runtime.ts";
import { runCli } from "./runtime.ts";
import { BUILT_IN_MODEL } from "../model/built-in.ts";
import { checkFlags, intArg, numberArg, stringArg } from "./args.ts";

export const generateCommand = defineCommand({
  meta: { name: "generate", description: "Generate a continuation of a prompt with a local HF model" },
  args: {
    model: { type: "string", description: "model directory (the base model with --adapter)", default: BUILT_IN_MODEL },
    adapter: { type: "string", description: "a PEFT LoRA adapter directory (e.g. a LoRA run's checkpoint) applied over --model" },
    prompt: { type: "string", description: "prompt text (empty: start from BOS)", default: "" },
    chat: { type: "boolean", description: "wrap the prompt in the model's chat template as a user message", default: false },
    temperature: { type: "string", description: "sampling temperature; 0 = greedy", default: "1" },
    "top-p": { type: "string", description: "nucleus sampling mass", default: "1" },
    "top-k": { type: "string", description: "keep the k most likely tokens; 0 = off", default: "0" },
    "max-new-tokens": { type: "string", description: "tokens to generate", default: "128" },
    seed: { type: "string", description: "random seed", default: "0" },
    verbose: { type: "boolean", description: "print the GPU adapter, features and limits", default: false },
  },
  async run({ args }) {
    await runCli(async () => {
      checkFlags(args, generateCommand.args as ArgsDef);
      const temperature = numberArg("--temperature", args.temperature, { min: 0 });
      const topP = numberArg("--top-p", args["top-p"], { min: 0, max: 1, minExclusive: true });
      const topK = intArg("--top-k", args["top-k"], { min: 0 });
      const maxNewTokens = intArg("--max-new-tokens", args["max-new-tokens"], { min: 1 });
      const seed = intArg("--seed", args.seed, { min: 0 });
      const { model, tokenizer } = await loadRuntime(args.model, { verbose: args.verbose, adapter: args.adapter === undefined ? undefined : stringArg("--adapter", args.adapter) });
      let ids: number[];
      if (args.chat) {
        if (!tokenizer.chatTemplate) throw new Error(`--chat: ${args.model} has no chat template (tokenizer_config.json chat_template)`);
        ids = encodeChat(tokenizer, [{ role: "user", content: args.prompt }], { addGenerationPrompt: true });
      } else {
        ids = tokenizer.encode(args.prompt);
        if (ids.length === 0) {
          if (!tokenizer.bos) throw new Error("--prompt is empty and the tokenizer has no BOS token to start from");
          ids = [tokenizer.bos.id];
        }
      }
      const t0 = performance.now();
      const gen = await generate(model, Int32Array.from(ids), 1, ids.length, {
        maxNewTokens,
        temperature,
        topK,
        topP,
        rng: new Rng(seed),
        stopTokenIds: tokenizer.stopIds,
        pad: tokenizer.pad.id,
      });
      const seconds = (performance.now() - t0) / 1000;
      const out = gen.tokens.subarray(0, gen.lengths[0]);
      process.stdout.write(tokenizer.decode(out, { skipSpecialTokens: true }) + "\n");
      console.error(`${gen.lengths[0]} tokens in ${seconds.toFixed(2)} s (${(gen.lengths[0] / seconds).toFixed(1)} tokens/s)`);
    });
  },
});

if (import.meta.main) runMain(generateCommand);

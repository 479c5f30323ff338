// `bun run train --dataset gsm8k [--model DIR] [--config configs/x.yaml] [--<field> value …]`:
// LaTRO training with the original's arguments (kebab-case), metrics and checkpoints (latro/run.ts).
// CLI flags override the YAML config (configs/default.yaml when --config is absent);
// `--checkpoint-path DIR` resumes; Ctrl-C finishes the update, saves and exits 130. The memory plan
// is printed before any weight loads; `--dry-run` prints it and exits.
import { defineCommand, runMain } from "citty";
import { join } from "node:path";
import { parseTrainConfig, readYamlConfig, trainConfigCliArgs } from "../latro/config.ts";
import { runTraining } from "../latro/run.ts";
import { runCli } from "./runtime.ts";

/** The config used when --config is not given: the built-in model, sized for minutes on a CPU. */
export const DEFAULT_CONFIG = join(import.meta.dir, "..", "..", "configs", "default.yaml");

export const trainCommand = defineCommand({
  meta: { name: "train", description: "LaTRO training (arguments as the original's TrainerConfig, in kebab-case)" },
  args: {
    config: { type: "string", description: `YAML config file (snake_case keys; default ${DEFAULT_CONFIG}); flags override it` },
    verbose: { type: "boolean", description: "print the GPU adapter, features and limits", default: false },
    "dry-run": { type: "boolean", description: "print the memory plan and exit without loading weights", default: false },
    ...trainConfigCliArgs(),
  },
  async run({ args }) {
    await runCli(async () => {
      const { config: file, verbose, "dry-run": dryRun, dryRun: _dryRun, _, ...flags } = args as Record<string, unknown>;
      const yaml = await readYamlConfig(typeof file === "string" ? file : DEFAULT_CONFIG);
      const cli = Object.fromEntries(Object.entries(flags).filter(([k]) => k.includes("-") || !/[A-Z]/.test(k)));
      const result = await runTraining(parseTrainConfig(yaml, cli), { verbose: verbose === true, dryRun: dryRun === true });
      if (result.interrupted) process.exit(130);
    });
  },
});

if (import.meta.main) runMain(trainCommand);

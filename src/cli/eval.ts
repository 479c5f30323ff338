// `bun run eval [--model DIR] [--adapter DIR] [--dataset gsm8k] [--split test] [--limit N] [--maj-k K] [--out FILE]`:
// greedy accuracy and maj@k self-consistency, with per-example JSON (query, responses, extracted
// answers, verdict) and the accuracy printed and saved.
import { type ArgsDef, defineCommand, runMain } from "citty";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { loadDataset } from "../data/registry.ts";
import { evaluateModel } from "../eval/evaluate.ts";
import { ProgressBar } from "./progress.ts";
import { DEFAULT_MODEL, loadRuntime, runCli } from "./runtime.ts";
import { checkFlags, intArg, numberArg, stringArg } from "./args.ts";

export const evalCommand = defineCommand({
  meta: { name: "eval", description: "Greedy accuracy and maj@k of a model on a dataset split" },
  args: {
    model: { type: "string", description: "model directory (the base model with --adapter)", default: DEFAULT_MODEL },
    adapter: { type: "string", description: "a PEFT LoRA adapter directory (e.g. a LoRA run's checkpoint) applied over --model" },
    dataset: { type: "string", description: "gsm8k, gsm8k_8shot, arc_challenge, arith, jsonl:PATH", default: "gsm8k" },
    split: { type: "string", description: "train, val or test", default: "test" },
    limit: { type: "string", description: "evaluate the first N examples (0 = all)", default: "0" },
    "maj-k": { type: "string", description: "samples per question for maj@k (0 = greedy only)", default: "0" },
    "maj-temperature": { type: "string", description: "sampling temperature for maj@k", default: "0.7" },
    "batch-size": { type: "string", description: "sequences generated at once", default: "16" },
    "max-new-tokens": { type: "string", description: "longest completion", default: "256" },
    seed: { type: "string", description: "seed for maj@k sampling", default: "0" },
    out: { type: "string", description: "JSON results file (default: runs/eval-<dataset>-<split>.json)" },
    verbose: { type: "boolean", description: "print the GPU adapter, features and limits", default: false },
  },
  async run({ args }) {
    await runCli(async () => {
      checkFlags(args, evalCommand.args as ArgsDef);
      const limit = intArg("--limit", args.limit, { min: 0 });
      const majK = intArg("--maj-k", args["maj-k"], { min: 0 });
      const majTemperature = numberArg("--maj-temperature", args["maj-temperature"], { min: 0 });
      const batchSize = intArg("--batch-size", args["batch-size"], { min: 1 });
      const maxNewTokens = intArg("--max-new-tokens", args["max-new-tokens"], { min: 1 });
      const seed = intArg("--seed", args.seed, { min: 0 });
      const { model, tokenizer } = await loadRuntime(args.model, { verbose: args.verbose, adapter: args.adapter === undefined ? undefined : stringArg("--adapter", args.adapter) });
      const full = loadDataset(args.dataset, args.split);
      const dataset = limit > 0 ? { ...full, examples: full.examples.slice(0, limit) } : full;
      const total = dataset.examples.length * (1 + majK);
      const bar = new ProgressBar(total, "seq");
      let phaseStart = 0;
      const ev = await evaluateModel(model, tokenizer, dataset, {
        batchSize,
        maxNewTokens,
        majK,
        majTemperature,
        seed,
        onBatch: (done, phaseTotal) => {
          bar.set(phaseStart + done);
          if (done === phaseTotal) phaseStart += phaseTotal;
        },
      });
      bar.done();
      const out = args.out ?? `runs/eval-${args.dataset.replace(/[^\w.-]+/g, "_")}-${args.split}.json`;
      const summary = {
        model: args.model,
        dataset: args.dataset,
        split: args.split,
        examples: dataset.examples.length,
        accuracy: ev.greedy.accuracy,
        ...(ev.maj ? { [`maj@${majK}`]: ev.maj.accuracy, [`sample_accuracy@${majK}`]: ev.maj.sampleAccuracy } : {}),
      };
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify({ ...summary, greedy: ev.greedy.examples, maj: ev.maj?.examples }, null, 2));
      console.log(JSON.stringify(summary));
      console.error(`wrote ${out}`);
    });
  },
});

if (import.meta.main) runMain(evalCommand);

// `bun run eval [--model DIR] [--adapter DIR] [--dataset gsm8k] [--split test] [--limit N] [--maj-k K] [--out FILE]`:
// greedy accuracy and maj@k self-consistency. Per-example results stream to a JSON Lines file as each
// question is scored (one row per question and phase: {"phase": "greedy" | "maj@K", "index", "id",
// "query", "responses", "extracted", "answer", "gold", "correct", "correctSamples"}), each row written
// through at once, then a last row {"phase": "summary", ...}. The file is opened before the model
// loads, so a bad --out fails at once; the summary (accuracy) is printed on stdout even if writing
// fails later (the command then exits 1). The default file is named after the model and the dataset:
// runs/eval/<model path>--<dataset>-<split>.jsonl.
import { type ArgsDef, defineCommand, runMain } from "citty";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { loadDataset } from "../data/registry.ts";
import { evaluateModel } from "../eval/evaluate.ts";
import { loadRuntime } from "../model/runtime.ts";
import { ProgressBar } from "../train/progress.ts";
import { checkFlags, intArg, numberArg, stringArg } from "./args.ts";
import { runCli } from "./runtime.ts";
import { BUILT_IN_MODEL } from "../model/built-in.ts";

/** A path or name as one file-name part: runs/latro/checkpoint-40 → runs_latro_checkpoint-40. */
const slug = (s: string) => s.replace(/^[./]+/, "").replace(/[^\w.-]+/g, "_").replace(/_+$/, "") || "model";

export function defaultEvalOut(model: string, dataset: string, split: string): string {
  return `runs/eval/${slug(relative(process.cwd(), resolve(model)))}--${slug(dataset)}-${split}.jsonl`;
}

/** A JSONL file written row by row; after the first failure it stops writing and keeps the error. */
class RowWriter {
  private fd: number | null;
  error: Error | null = null;

  constructor(readonly path: string) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, "w");
    } catch (e) {
      throw new Error(`--out ${path}: cannot write it (${(e as Error).message})`);
    }
  }

  write(row: object): void {
    if (this.fd === null) return;
    try {
      writeSync(this.fd, JSON.stringify(row) + "\n");
    } catch (e) {
      this.error = e as Error;
      this.close();
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export const evalCommand = defineCommand({
  meta: { name: "eval", description: "Greedy accuracy and maj@k of a model on a dataset split" },
  args: {
    model: { type: "string", description: "model directory (the base model with --adapter)", default: BUILT_IN_MODEL },
    adapter: { type: "string", description: "a PEFT LoRA adapter directory (e.g. a LoRA run's checkpoint) applied over --model" },
    dataset: { type: "string", description: "gsm8k, gsm8k_8shot, arc_challenge, arith, jsonl:PATH", default: "gsm8k" },
    split: { type: "string", description: "train, val or test", default: "test" },
    limit: { type: "string", description: "evaluate the first N examples (0 = all)", default: "0" },
    "maj-k": { type: "string", description: "samples per question for maj@k (0 = greedy only)", default: "0" },
    "maj-temperature": { type: "string", description: "sampling temperature for maj@k", default: "0.7" },
    "batch-size": { type: "string", description: "sequences generated at once", default: "16" },
    "max-new-tokens": { type: "string", description: "longest completion", default: "256" },
    seed: { type: "string", description: "seed for maj@k sampling", default: "0" },
    out: { type: "string", description: "JSON Lines results file (default: runs/eval/<model>--<dataset>-<split>.jsonl)" },
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
      const full = loadDataset(args.dataset, args.split);
      const dataset = limit > 0 ? { ...full, examples: full.examples.slice(0, limit) } : full;
      const out = new RowWriter(args.out ?? defaultEvalOut(args.model, args.dataset, args.split));
      const { model, tokenizer } = await loadRuntime(args.model, { verbose: args.verbose, adapter: args.adapter === undefined ? undefined : stringArg("--adapter", args.adapter) });
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
        onExample: (phase, index, score) => out.write({ phase, index, ...score }),
      });
      bar.done();
      const summary = {
        model: args.model,
        dataset: args.dataset,
        split: args.split,
        examples: dataset.examples.length,
        accuracy: ev.greedy.accuracy,
        ...(ev.maj ? { [`maj@${majK}`]: ev.maj.accuracy, [`sample_accuracy@${majK}`]: ev.maj.sampleAccuracy } : {}),
      };
      out.write({ phase: "summary", ...summary });
      out.close();
      console.log(JSON.stringify(summary));
      if (out.error) throw new Error(`writing ${out.path} failed (${out.error.message}); the accuracy above is complete, the file is not`);
      console.error(`wrote ${out.path}`);
    });
  },
});

if (import.meta.main) runMain(evalCommand);

// Supervised examples: LaTRO's (x, y) with the gold rationale z* put in front of the answer, so the
// target a model learns to write after the query is z* ⊕ y ⊕ end token:
//
//   "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips …\n"
//   + "The answer is 72."
//
// This is LaTRO's SFT baseline (scripts/sft_baseline.py), which trains on GSM8K's solution text with
// "####" replaced by "The answer is": the rationale verbatim, calculator annotations <<…>> included.
// `arith` writes its rationales in the same format. Datasets without rationales (ARC, jsonl) keep
// y alone as the target, as the original's ARC baseline does.
import type { Dataset, Problem } from "../data/example.ts";
import { arithOptionsOf, arithProblems } from "../data/arith.ts";
import { gsm8kProblems } from "../data/gsm8k.ts";
import { loadDataset } from "../data/registry.ts";
import { asSplit } from "../data/split.ts";

/**
 * One split of dataset `name` with every response that has a gold rationale replaced by
 * rationale ⊕ response; queries, ids and groundtruths are those of `loadDataset(name, split)`.
 */
export function sftDataset(name: string, split: string): Dataset {
  const dataset = loadDataset(name, split);
  const rationales = goldRationales(name, asSplit(split, `sftDataset("${name}")`));
  if (!rationales) return dataset;
  const examples = dataset.examples.map((e) => {
    const rationale = rationales.get(e.id);
    if (rationale === undefined) throw new Error(`sftDataset: ${name} example ${e.id} has no gold rationale`);
    return { ...e, response: rationale + e.response };
  });
  return { ...dataset, examples };
}

/** Gold rationales by example id, for the datasets that have them (null for the others). */
function goldRationales(name: string, split: "train" | "val" | "test"): Map<string, string> | null {
  const arith = arithOptionsOf(name);
  let problems: Problem[];
  if (name === "gsm8k" || name === "gsm8k_8shot") problems = gsm8kProblems(split);
  else if (arith) problems = arithProblems(split, arith, name);
  else return null;
  return new Map(problems.map((p) => [p.id, p.rationale ?? ""]));
}

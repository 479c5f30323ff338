// `bun scripts/sft-prompts.ts --config CONFIG --seed S --out FILE`: the SFT baseline's training set for
// a LaTRO run: the training prompts the run of CONFIG with seed S draws over all its updates, in the
// order drawn (promptsForStep), each with its gold rationale ⊕ y as the response (sftDataset), written
// as a `jsonl:` dataset (columns queries, responses, groundtruth). Name FILE with a "train" where
// `jsonl:` expects `{split}` (e.g. sft-train.jsonl, read as jsonl:sft-{split}.jsonl), so that every
// row is trained on. Prints the number of rows and of LaTRO updates.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { deriveSchedule, parseTrainConfig, readYamlConfig } from "../src/latro/config.ts";
import { datasetSplit } from "../src/latro/run.ts";
import { promptsForStep } from "../src/latro/trainer.ts";
import { sftDataset } from "../src/sft/examples.ts";

const { values } = parseArgs({ options: { config: { type: "string" }, seed: { type: "string" }, out: { type: "string" } } });
if (!values.config || !values.seed || !values.out) throw new Error("usage: bun scripts/sft-prompts.ts --config CONFIG --seed S --out FILE");
const config = parseTrainConfig(await readYamlConfig(values.config), { seed: values.seed });
const train = datasetSplit(config, "train").examples;
const gold = new Map(sftDataset(config.dataset, "train").examples.map((e) => [e.id, e.response]));
const schedule = deriveSchedule(config, train.length);
const rows: string[] = [];
for (let step = 1; step <= schedule.numUpdates; step++) {
  for (const i of promptsForStep(train.length, config.seed, step, schedule.promptsPerUpdate)) {
    const e = train[i];
    const messages = e.query.messages;
    rows.push(JSON.stringify({ queries: messages[messages.length - 1].content, responses: gold.get(e.id), groundtruth: e.groundtruth }));
  }
}
writeFileSync(values.out, `${rows.join("\n")}\n`);
console.log(JSON.stringify({ rows: rows.length, updates: schedule.numUpdates, promptsPerUpdate: schedule.promptsPerUpdate }));

// Pretraining never sees the problems an experiment measures on: the pools the base model is built
// from (pretrainPools, for each arith setting of models/latro-tiny/README.md's stages, and GSM8K)
// share no question with the val or test split of the experiment's dataset (configs/arith.yaml) or
// of GSM8K.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { loadDataset } from "../../src/data/registry.ts";
import { pretrainPools } from "../../src/sft/pretrain.ts";

const CONFIG = new URL("../../configs/arith.yaml", import.meta.url).pathname;
/** The experiment's dataset, e.g. "arith:steps=2-3,operand=9". */
const experiment = /^dataset: *(\S+)$/m.exec(readFileSync(CONFIG, "utf8"))?.[1];

test("the pretraining pools of the recipe's settings are train problems only, disjoint from the experiment's val and test", () => {
  expect(experiment).toMatch(/^arith(:|$)/);
  const heldOut = (name: string) => new Set(["val", "test"].flatMap((split) => loadDataset(name, split).examples.map((e) => e.query)));
  const arithHeldOut = heldOut(experiment!);
  const gsm8kHeldOut = heldOut("gsm8k");
  // The settings the model card's stages draw from: the default, a wider 2–3-step one, the experiment's.
  for (const setting of new Set(["arith", "arith:steps=2-3,operand=9,factor=3,value=30,distractors=0", experiment!])) {
    const { arith, gsm8k } = pretrainPools(setting);
    expect(arith.length).toBe(20_000);
    expect(arith.every((e) => e.id.startsWith(`${setting}/train/`))).toBe(true);
    expect(arith.filter((e) => arithHeldOut.has(e.query))).toEqual([]);
    expect(gsm8k.length).toBeGreaterThan(7000);
    expect(gsm8k.filter((e) => gsm8kHeldOut.has(e.query))).toEqual([]);
  }
});

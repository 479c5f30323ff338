// `bun run eval`'s default output file: named after the model and the dataset, so evaluations of
// different models do not overwrite each other.
import { expect, test } from "bun:test";
import { defaultEvalOut } from "../../src/cli/eval.ts";

test("eval's default output is named after the model and the dataset", () => {
  expect(defaultEvalOut("runs/latro/checkpoint-40", "gsm8k", "test")).toBe("runs/eval/runs_latro_checkpoint-40--gsm8k-test.jsonl");
  expect(defaultEvalOut("./models/latro-tiny/", "arith:steps=1,operand=9", "val")).toBe("runs/eval/models_latro-tiny--arith_steps_1_operand_9-val.jsonl");
  expect(defaultEvalOut("/abs/m", "jsonl:data/q.{split}.jsonl", "test")).toBe("runs/eval/abs_m--jsonl_data_q._split_.jsonl-test.jsonl");
});

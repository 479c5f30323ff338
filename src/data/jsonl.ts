// JSON Lines files: reading them row by row, and the user-supplied dataset `jsonl:PATH`.
//
// A `jsonl:PATH` file holds LaTRO triples directly, one object per line with the columns of LaTRO's
// prepared datasets (README, "How to add new datasets"): `queries` (the user message: question plus
// chain-of-thought trigger, not yet chat-templated), `responses` (the answer text y, e.g.
// "The answer is 42.", without an end token) and `groundtruth` (string or number). Other columns are
// ignored. PATH is relative to the working directory; a `{split}` in it is replaced by the requested
// split ("train", "val", "test"). Without `{split}` the one file is a training set: `val` is a
// seeded hold-out of JSONL_VAL_FRACTION of its rows (at most JSONL_VAL_MAX, at least 1; said in the
// log), `train` the other rows, and `test` does not exist (MissingSplitError): a test set has to be
// given explicitly, as PATH with `{split}`. Groundtruths that all read as numbers (over the whole
// file) are compared numerically, others as text.
import { readFileSync } from "node:fs";
import type { Dataset, LatroExample } from "./example.ts";
import { canonicalNumber } from "./number.ts";
import { userPrompt } from "./prompts.ts";
import { holdOut, MissingSplitError, type Split } from "./split.ts";

export const JSONL_PREFIX = "jsonl:";
export const JSONL_COLUMNS = ["queries", "responses", "groundtruth"] as const;
/** A file without `{split}`: the share of its rows held out as `val`, at most JSONL_VAL_MAX, by a fixed seed. */
export const JSONL_VAL_FRACTION = 0.1;
export const JSONL_VAL_MAX = 200;
export const JSONL_VAL_SEED = 20241106;

export interface JsonlRow {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly value: unknown;
}

/** The parsed non-blank lines of `path`. Throws naming the file and line on unreadable files or invalid JSON. */
export function readJsonl(path: string): JsonlRow[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`${path}: cannot read JSON Lines file (${(e as Error).message})`);
  }
  const rows: JsonlRow[] = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    try {
      rows.push({ line: i + 1, value: JSON.parse(raw) });
    } catch (e) {
      throw new Error(`${path}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
  });
  return rows;
}

/** The field `key` of a row, which must be an object; errors name the file, line and column. */
export function column(row: JsonlRow, path: string, key: string): unknown {
  const v = row.value;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error(`${path}:${row.line}: expected a JSON object per line, got ${JSON.stringify(v)}`);
  }
  if (!(key in v)) {
    throw new Error(`${path}:${row.line}: missing column "${key}" (have ${Object.keys(v).join(", ") || "none"})`);
  }
  return (v as Record<string, unknown>)[key];
}

/** A string field; errors name the file, line, column and the value found. */
export function stringColumn(row: JsonlRow, path: string, key: string): string {
  const v = column(row, path, key);
  if (typeof v !== "string") {
    throw new Error(`${path}:${row.line}: column "${key}" must be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** The dataset named `jsonl:PATH` for `split`. */
export function loadJsonlDataset(name: string, split: Split): Dataset {
  if (!name.startsWith(JSONL_PREFIX) || name.length === JSONL_PREFIX.length) {
    throw new Error(`loadJsonlDataset: name must be "${JSONL_PREFIX}PATH", got "${name}"`);
  }
  const pattern = name.slice(JSONL_PREFIX.length);
  const perSplit = pattern.includes("{split}");
  if (!perSplit && split === "test") {
    throw new MissingSplitError(
      `${name} has no test split: the file without {split} is split into train and a held-out val only; ` +
        `give the test set explicitly as jsonl:PATH with {split} (PATH.train / .val / .test files)`,
    );
  }
  const path = pattern.replaceAll("{split}", split);
  const rows = readJsonl(path);
  if (rows.length === 0) throw new Error(`${path}: no rows (expected columns ${JSONL_COLUMNS.join(", ")})`);
  const examples: LatroExample[] = rows.map((row) => ({
    id: `${path}:${row.line}`,
    query: userPrompt(stringColumn(row, path, "queries")),
    response: stringColumn(row, path, "responses"),
    groundtruth: groundtruthColumn(row, path),
  }));
  const numeric = examples.every((e) => canonicalNumber(e.groundtruth) !== null);
  const answerKind = numeric ? "number" : "text";
  if (perSplit) return { name, split, answerKind, examples };
  if (examples.length < 2) throw new Error(`${path}: ${examples.length} row; a file without {split} needs at least 2, to hold out a validation row`);
  const count = Math.min(JSONL_VAL_MAX, Math.max(1, Math.round(JSONL_VAL_FRACTION * examples.length)));
  const { kept, held } = holdOut(examples, count, JSONL_VAL_SEED);
  announceHoldOut(path, kept.length, held.length);
  return { name, split, answerKind, examples: split === "val" ? held : kept };
}

const announced = new Set<string>();
function announceHoldOut(path: string, train: number, val: number): void {
  if (announced.has(path)) return;
  announced.add(path);
  console.error(`${path} (no {split} in the name): ${val} rows held out as validation by a fixed seed, ${train} for training; no test split`);
}

function groundtruthColumn(row: JsonlRow, path: string): string {
  const v = column(row, path, "groundtruth");
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  throw new Error(`${path}:${row.line}: column "groundtruth" must be a string or a finite number, got ${JSON.stringify(v)}`);
}

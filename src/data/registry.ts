// Datasets by name: `gsm8k`, `gsm8k_8shot`, `arc_challenge`, `arith`, and whatever else is added with
// `registerDataset`; plus families of datasets named by a prefix and a specification: `jsonl:PATH` and
// `arith:SPEC` (difficulty knobs), and whatever else `registerDatasetFamily` adds.
import { arcDataset } from "./arc.ts";
import { ARITH_PREFIX, arithDataset, arithOptionsOf } from "./arith.ts";
import type { Dataset } from "./example.ts";
import { gsm8kDataset } from "./gsm8k.ts";
import { JSONL_PREFIX, loadJsonlDataset } from "./jsonl.ts";
import { asSplit, type Split } from "./split.ts";

/** Builds one split of a dataset. */
export type DatasetLoader = (split: Split) => Dataset;
/** Builds one split of the dataset of a family with full name `name` (prefix included). */
export type DatasetFamilyLoader = (name: string, split: Split) => Dataset;

const loaders = new Map<string, DatasetLoader>([
  ["gsm8k", (split) => gsm8kDataset(split, false)],
  ["gsm8k_8shot", (split) => gsm8kDataset(split, true)],
  ["arc_challenge", arcDataset],
  ["arith", (split) => arithDataset(split)],
]);
const families = new Map<string, DatasetFamilyLoader>([
  [JSONL_PREFIX, loadJsonlDataset],
  [ARITH_PREFIX, (name, split) => arithDataset(split, arithOptionsOf(name)!, name)],
]);

const familyOf = (name: string) => [...families.keys()].find((prefix) => name.startsWith(prefix));

/** Makes `name` loadable by `loadDataset`. Names are unique and may not start with a family's prefix. */
export function registerDataset(name: string, loader: DatasetLoader): void {
  const prefix = familyOf(name);
  if (name === "" || prefix !== undefined) {
    throw new Error(`registerDataset: name must be non-empty and not start with "${prefix ?? ""}", got "${name}"`);
  }
  if (loaders.has(name)) throw new Error(`registerDataset: dataset "${name}" is already registered`);
  loaders.set(name, loader);
}

/** Makes every name `prefix`SPEC loadable by `loadDataset`; `prefix` ends in ":". */
export function registerDatasetFamily(prefix: string, loader: DatasetFamilyLoader): void {
  if (!/^[^:]+:$/.test(prefix)) throw new Error(`registerDatasetFamily: prefix must be a name followed by ":", got "${prefix}"`);
  if (families.has(prefix)) throw new Error(`registerDatasetFamily: family "${prefix}" is already registered`);
  families.set(prefix, loader);
}

/** The names `loadDataset` accepts: exact names, then families as `prefix…`. */
export function datasetNames(): string[] {
  return [...loaders.keys(), ...[...families.keys()].map((prefix) => `${prefix}…`)];
}

/** One split ("train", "val" or "test") of the dataset called `name`. */
export function loadDataset(name: string, split: string): Dataset {
  const s = asSplit(split, `loadDataset("${name}")`);
  const loader = loaders.get(name);
  if (loader) return loader(s);
  const prefix = familyOf(name);
  if (prefix !== undefined) return families.get(prefix)!(name, s);
  throw new Error(`loadDataset: unknown dataset "${name}" (expected one of ${datasetNames().join(", ")})`);
}

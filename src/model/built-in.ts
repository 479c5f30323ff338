// The built-in base model, found relative to this package (not the working directory): what
// `train`, `eval`, `sft` and `generate` use when no model is given.
import { resolve } from "node:path";

export const BUILT_IN_MODEL = resolve(import.meta.dir, "..", "..", "models", "latro-tiny");

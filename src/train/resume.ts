// Resuming a run from a checkpoint (checkpoint.ts): the model's weights and the optimizer's state are
// loaded, the checkpoint's config is compared with the new run's, and the output directory's
// metrics.jsonl and samples.jsonl are cut back to the checkpoint's step, so rows of updates done
// after the save and lost with the process are not kept twice.
//
// Every config field changes the run's trajectory unless the caller lists it as `untracked` (where
// files go, how often to log, evaluate or save). A tracked field that differs stops the resume,
// naming each difference; `allowConfigChange` (--allow-config-change) accepts them and logs them.
import type { Transformer } from "../model/transformer.ts";
import type { AdamW } from "../optim/adamw.ts";
import { loadCheckpointWeights, loadOptimizerState, readTrainerState, resolveCheckpoint, type TrainerState } from "./checkpoint.ts";
import type { MetricsWriter } from "./metrics-writer.ts";

/** The differences of tracked fields between two configs, one "field: old → new" each. */
export function configChanges(saved: Record<string, unknown>, now: Record<string, unknown>, untracked: readonly string[], fieldName = (k: string) => k): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])].filter((k) => !untracked.includes(k));
  return keys
    .filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k]))
    .map((k) => `${fieldName(k)}: ${JSON.stringify(saved[k])} → ${JSON.stringify(now[k])}`);
}

/**
 * The checkpoint `checkpointPath` names, its step and best score, once its config is checked against
 * the new run's. Reads files only: called before the GPU and the model load.
 */
export async function openCheckpoint(o: {
  checkpointPath: string;
  config: object;
  untracked: readonly string[];
  allowConfigChange: boolean;
  fieldName?: (key: string) => string;
}): Promise<TrainerState & { dir: string }> {
  const dir = await resolveCheckpoint(o.checkpointPath);
  const state = await readTrainerState(dir);
  const changes = configChanges(state.config, o.config as Record<string, unknown>, o.untracked, o.fieldName);
  if (changes.length > 0 && !o.allowConfigChange) {
    throw new Error(
      `--checkpoint-path ${dir} was saved by a run with a different config, so resuming would not repeat it:\n  ${changes.join("\n  ")}\n` +
        `pass --allow-config-change to resume with the new values anyway`,
    );
  }
  if (changes.length > 0) console.error(`--allow-config-change: resuming ${dir} with changed fields:\n  ${changes.join("\n  ")}`);
  return { step: state.step, best: state.best, dir };
}

/** Loads the checkpoint's weights and optimizer state, and cuts the run's metric files back to its step. */
export async function restoreCheckpoint(
  checkpoint: TrainerState & { dir: string },
  o: { model: Transformer; optimizer: AdamW; metrics: MetricsWriter },
): Promise<void> {
  await loadCheckpointWeights(checkpoint.dir, o.model);
  await loadOptimizerState(checkpoint.dir, o.optimizer, checkpoint.step);
  const dropped = o.metrics.truncateAfter(checkpoint.step);
  console.error(`resuming from ${checkpoint.dir} at step ${checkpoint.step}${dropped > 0 ? `; dropped ${dropped} metric/sample rows written after it` : ""}`);
}

// The output directory of a training run, checked before anything expensive loads. A new run refuses
// a directory that already holds files, so two runs never mix their metrics and checkpoints; with
// --overwrite-output-dir (transformers' flag) the directory is emptied first. A resumed run
// (--checkpoint-path) keeps it. Leftover temporary directories of saves that were killed
// (`.checkpoint-N.tmp-PID`, `.model.tmp-PID`) are removed in every case.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

/** Names of the half-written directories a killed save leaves behind. */
const STALE_TEMPORARY = /^\.(checkpoint-[\w]+|model)\.(tmp|old)-\d+$/;

/** Entries that say a directory is a project or home, not a run's output: never emptied. */
const NOT_AN_OUTPUT_DIR = [".git", "package.json"];

export interface OutputDirOptions {
  /** The flag that names the directory, for messages (e.g. "--output-dir"). */
  flag: string;
  /** Empty the directory first (--overwrite-output-dir). */
  overwrite: boolean;
  /** The run resumes from a checkpoint: the directory's files are the same run's. */
  resuming: boolean;
}

/** Checks `dir` for a run and prepares it; throws naming the directory and the way out. */
export function prepareOutputDir(dir: string, o: OutputDirOptions): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`${o.flag} ${dir}: exists and is not a directory`);
  for (const entry of readdirSync(dir)) {
    if (STALE_TEMPORARY.test(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  const entries = readdirSync(dir).sort();
  if (entries.length === 0 || o.resuming) return;
  const shown = entries.slice(0, 4).join(", ") + (entries.length > 4 ? ", …" : "");
  if (!o.overwrite) {
    throw new Error(
      `${o.flag} ${dir} is not empty (${shown}); pass --overwrite-output-dir to remove its files and start a new run, ` +
        `or --checkpoint-path ${dir} to resume the run in it`,
    );
  }
  const guard = NOT_AN_OUTPUT_DIR.find((name) => entries.includes(name));
  if (guard !== undefined) throw new Error(`${o.flag} ${dir} holds ${guard}; it is not a run's output directory, so --overwrite-output-dir will not empty it`);
  for (const entry of entries) rmSync(join(dir, entry), { recursive: true, force: true });
  console.error(`--overwrite-output-dir: removed ${entries.length} entries of ${dir} (${shown})`);
}

// Checkpoints of every training loop: OUTPUT_DIR/checkpoint-<step>/ holding the model as an HF
// directory (loads unchanged in transformers) or, for a LoRA model, as a PEFT adapter directory
// (adapter_config.json naming the base model, adapter_model.safetensors, the tokenizer files; see
// model/peft.ts), optimizer.safetensors (AdamW moments and step) and
// trainer_state.json (step, the best validation score so far, the run's config). Data order and
// sampling are functions of (seed, step), so the step is the whole RNG and data position. Each is
// written into a temporary directory and renamed into place, so a kill during a save never leaves a
// half-written checkpoint; `latest` names the newest complete one.
//
// OUTPUT_DIR/checkpoint-best/ holds the model (no optimizer) with the best validation score so far,
// replaced in two renames: the old one is moved aside to `.checkpoint-best.old-PID` (which a kill at
// that moment leaves behind; output-dir.ts removes it), the new one moved in, the old one deleted.
import { cp, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { TOKENIZER_FILES } from "../model/hfdir.ts";
import { ADAPTER_CONFIG, loadAdapter, saveAdapter } from "../model/peft.ts";
import { readHeader, readTensor, writeSafetensors } from "../model/safetensors.ts";
import { copy } from "../gpu/recorder.ts";
import { loadModel, saveModel } from "../model/load.ts";
import type { AdamW } from "../optim/adamw.ts";
import { LoraAdapters } from "../model/lora.ts";
import type { Transformer } from "../model/transformer.ts";

/** The best validation score so far and the update that reached it. */
export interface BestScore {
  /** Name of the metric maximised (e.g. eval/zero_shot_acc). */
  metric: string;
  value: number;
  step: number;
}

export interface TrainerState {
  /** Updates done. */
  step: number;
  best: BestScore | null;
}

export interface CheckpointSource {
  /** The run's configuration, stored for the resume check (resume.ts). */
  config: object;
  model: Transformer;
  optimizer: AdamW;
  /** The directory whose tokenizer files are copied into the checkpoint (a LoRA model's base model). */
  tokenizerDir: string;
}

/** Writes the trained weights to `dir`: a PEFT adapter directory for a LoRA model, else an HF directory. */
async function saveWeights(dir: string, model: Transformer, tokenizerDir: string): Promise<void> {
  if (!model.adapters) return saveModel(model, dir, tokenizerDir);
  await saveAdapter(dir, model.config, model.adapters, resolve(tokenizerDir));
  for (const name of TOKENIZER_FILES) {
    const from = join(tokenizerDir, name);
    if (await Bun.file(from).exists()) await cp(from, join(dir, name));
  }
}

export const BEST_CHECKPOINT = "checkpoint-best";

export async function saveCheckpoint(outputDir: string, src: CheckpointSource, state: TrainerState): Promise<string> {
  const name = `checkpoint-${state.step}`;
  const final = join(outputDir, name);
  const tmp = join(outputDir, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(outputDir, { recursive: true });
  await saveWeights(tmp, src.model, src.tokenizerDir);
  const opt = await src.optimizer.state();
  await writeSafetensors(
    join(tmp, "optimizer.safetensors"),
    opt.tensors.map((t) => ({ name: t.name, shape: [t.data.length], dtype: "F32" as const, data: t.data })),
    { format: "pt", step: String(opt.step) },
  );
  await writeFile(join(tmp, "trainer_state.json"), JSON.stringify({ ...state, config: src.config }, null, 2));
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await writeFile(join(outputDir, "latest.tmp"), name);
  await rename(join(outputDir, "latest.tmp"), join(outputDir, "latest"));
  return final;
}

/** Replaces OUTPUT_DIR/checkpoint-best with the model as it is now, the best at `best.step`. */
export async function saveBestCheckpoint(outputDir: string, src: Omit<CheckpointSource, "optimizer">, best: BestScore): Promise<string> {
  const final = join(outputDir, BEST_CHECKPOINT);
  const tmp = join(outputDir, `.${BEST_CHECKPOINT}.tmp-${process.pid}`);
  const old = join(outputDir, `.${BEST_CHECKPOINT}.old-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await saveWeights(tmp, src.model, src.tokenizerDir);
  await writeFile(join(tmp, "trainer_state.json"), JSON.stringify({ step: best.step, best, config: src.config }, null, 2));
  if (existsSync(final)) await rename(final, old);
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
  return final;
}

/** The checkpoint directory to resume from: `path` itself, or the newest complete one inside it. */
export async function resolveCheckpoint(path: string): Promise<string> {
  const latest = Bun.file(join(path, "latest"));
  if (await latest.exists()) return join(path, (await latest.text()).trim());
  if (await Bun.file(join(path, "trainer_state.json")).exists()) return path;
  const entries = (await readdir(path).catch(() => [])).filter((e) => /^checkpoint-\d+$/.test(e));
  if (entries.length === 0) throw new Error(`--checkpoint-path ${path}: no trainer_state.json and no checkpoint-N directory in it`);
  entries.sort((a, b) => Number(a.split("-")[1]) - Number(b.split("-")[1]));
  return join(path, entries[entries.length - 1]);
}

/** trainer_state.json of a checkpoint: the state and the config it was saved with. */
export async function readTrainerState(dir: string): Promise<TrainerState & { config: Record<string, unknown> }> {
  const path = join(dir, "trainer_state.json");
  const file = Bun.file(path);
  if (!(await file.exists())) throw new Error(`checkpoint ${dir}: trainer_state.json is missing`);
  const s = (await file.json()) as { step?: unknown; best?: BestScore | null; config?: Record<string, unknown> };
  if (!Number.isInteger(s.step) || (s.step as number) < 0) throw new Error(`${path}: step must be an integer ≥ 0, got ${JSON.stringify(s.step)}`);
  return { step: s.step as number, best: s.best ?? null, config: s.config ?? {} };
}

/**
 * Copies the trained weights of the checkpoint `dir` into `model`: its adapters (a PEFT adapter
 * directory, for a LoRA model) or every parameter (an HF directory; same architecture and shapes).
 */
export async function loadCheckpointWeights(dir: string, model: Transformer): Promise<void> {
  const isAdapter = existsSync(join(dir, ADAPTER_CONFIG));
  if (isAdapter !== (model.adapters !== undefined)) {
    throw new Error(`checkpoint ${dir} holds ${isAdapter ? "a LoRA adapter" : "full weights"}, but this run ${model.adapters ? "trains LoRA adapters" : "trains every weight"}`);
  }
  const source = isAdapter ? await loadAdapter(dir, model.config) : await loadModel(dir);
  try {
    const saved = new Map(source.parameters().map((t) => [t.name, t]));
    for (const p of model.trainableParameters()) {
      const src = saved.get(p.name);
      if (!src) throw new Error(`${dir}: no ${p.name}`);
      if (src.size !== p.size) throw new Error(`${dir}: ${p.name} has ${src.size} elements, the model being trained ${p.size}`);
      copy(src.buf, 0, p.buf, 0, p.size * 4);
    }
  } finally {
    if (source instanceof LoraAdapters) source.release();
    else source.dispose();
  }
}

export async function loadOptimizerState(dir: string, optimizer: AdamW, step: number): Promise<void> {
  const tensors = new Map<string, Float32Array>();
  for (const entry of (await readHeader(join(dir, "optimizer.safetensors"))).tensors) tensors.set(entry.name, (await readTensor(entry)).data);
  optimizer.loadState({ step, tensors });
}

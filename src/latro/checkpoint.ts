// Checkpoints: OUTPUT_DIR/checkpoint-<step>/ holding the policy as an HF directory (loads unchanged in
// transformers) or, for a LoRA run, as a PEFT adapter directory (adapter_config.json +
// adapter_model.safetensors naming the base model, plus the tokenizer files), optimizer.safetensors
// (AdamW moments), and trainer_state.json (step, episode, the config). Data order and sampling are functions of (seed, step), so the step is the whole RNG and
// data position. Written into a temporary directory and renamed into place, so a kill during a save
// never leaves a half-written checkpoint; `latest` names the newest complete one.
import { cp, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { copy } from "../gpu/recorder.ts";
import { TOKENIZER_FILES } from "../model/hfdir.ts";
import { ADAPTER_CONFIG, loadAdapter, saveAdapter } from "../model/peft.ts";
import { readHeader, readTensor, writeSafetensors } from "../model/safetensors.ts";
import { loadModel, saveModel } from "../model/load.ts";
import type { AdamW } from "../optim/adamw.ts";
import type { Transformer } from "../model/transformer.ts";
import type { TrainConfig } from "./config.ts";

export interface TrainerState {
  /** Updates done. */
  step: number;
  /** Rollouts sampled so far. */
  episode: number;
}

export interface CheckpointSource {
  config: TrainConfig;
  policy: Transformer;
  optimizer: AdamW;
  /** The directory whose tokenizer files are copied into the checkpoint. */
  tokenizerDir: string;
}

export async function saveCheckpoint(outputDir: string, src: CheckpointSource, state: TrainerState): Promise<string> {
  const name = `checkpoint-${state.step}`;
  const final = join(outputDir, name);
  const tmp = join(outputDir, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(outputDir, { recursive: true });
  if (src.policy.adapters) {
    await saveAdapter(tmp, src.policy.config, src.policy.adapters, resolve(src.config.model));
    for (const name of TOKENIZER_FILES) {
      const from = join(src.tokenizerDir, name);
      if (await Bun.file(from).exists()) await cp(from, join(tmp, name));
    }
  } else {
    await saveModel(src.policy, tmp, src.tokenizerDir);
  }
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

export async function readTrainerState(dir: string): Promise<TrainerState> {
  const file = Bun.file(join(dir, "trainer_state.json"));
  if (!(await file.exists())) throw new Error(`checkpoint ${dir}: trainer_state.json is missing`);
  const s = (await file.json()) as Partial<TrainerState>;
  if (!Number.isInteger(s.step) || !Number.isInteger(s.episode)) throw new Error(`checkpoint ${dir}/trainer_state.json: step and episode must be integers`);
  return { step: s.step!, episode: s.episode! };
}

/** Copies the checkpoint's trained weights into `policy`: its adapters (LoRA runs) or every parameter. */
export async function restorePolicy(dir: string, policy: Transformer): Promise<void> {
  const isAdapter = await Bun.file(join(dir, ADAPTER_CONFIG)).exists();
  if (isAdapter !== (policy.adapters !== undefined)) {
    throw new Error(`checkpoint ${dir} holds ${isAdapter ? "a LoRA adapter" : "full weights"}, but this run ${policy.adapters ? "trains LoRA adapters" : "trains every weight"}; resume with the run's own flags`);
  }
  const source = isAdapter ? await loadAdapter(dir, policy.config) : await loadModel(dir);
  const saved = source.parameters();
  const into = policy.trainableParameters();
  into.forEach((p, i) => {
    const from = saved[i];
    if (from.name !== p.name || from.size !== p.size) throw new Error(`checkpoint ${dir}: ${from.name} [${from.shape}] does not match the run's ${p.name} [${p.shape}]`);
    copy(from.buf, 0, p.buf, 0, p.size * 4);
  });
  if ("dispose" in source) source.dispose();
  else source.release();
}

export async function loadOptimizerState(dir: string, optimizer: AdamW, step: number): Promise<void> {
  const tensors = new Map<string, Float32Array>();
  for (const entry of (await readHeader(join(dir, "optimizer.safetensors"))).tensors) tensors.set(entry.name, (await readTensor(entry)).data);
  optimizer.loadState({ step, tensors });
}

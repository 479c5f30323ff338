// The one training loop that LaTRO (latro/trainer.ts), SFT (sft/sft.ts) and pretraining
// (sft/pretrain.ts) plug an update into. Per update `step` (1-based):
//   1. lr from the schedule; the task plans the update (LaTRO: prompts, rollouts, rewards; SFT and
//      pretraining: the next batch) and hands back its micro-batches
//   2. each micro-batch runs forward and backward; the gradients accumulate in the parameters
//   3. one AdamW step (clipped on the GPU)
//   4. NaN/Inf check of the update's metrics and of the gradient norm: the run stops naming the
//      metric, or the first parameter whose gradient is not finite; then the gradients are zeroed
//   5. the metrics row to metrics.jsonl, a summary line every logEvery updates, the progress bar
//   6. on the evaluation schedule (updates u with (u − 1) % evalEvery = 0, from update 1 as the
//      original): validation metrics, sampled outputs to samples.jsonl, and checkpoint-best when the
//      task's score improved
//   7. a checkpoint every saveEvery updates, at the last update, and when Ctrl-C asked to stop
//      (interrupt.ts, installed for the loop's duration), after which the loop returns
// A resumed run (resume.ts) starts from the checkpoint's weights, optimizer state and step, with the
// metric files cut back to that step.
import { zeroGrad } from "../autograd/tape.ts";
import type { Transformer } from "../model/transformer.ts";
import type { AdamW } from "../optim/adamw.ts";
import { type BestScore, saveBestCheckpoint, saveCheckpoint, type TrainerState } from "./checkpoint.ts";
import { Interrupt } from "./interrupt.ts";
import type { Metrics, MetricsWriter } from "./metrics-writer.ts";
import { ProgressBar } from "./progress.ts";
import { restoreCheckpoint } from "./resume.ts";
import { learningRateAt, type LrSchedule } from "./schedule.ts";

/** One planned update. */
export interface UpdatePlan {
  /** Forward and backward of each micro-batch, run in order; their gradients accumulate. */
  microBatches: readonly (() => Promise<void>)[];
  /** The update's metrics row, once the optimizer stepped; `seconds` spans micro-batches and step. */
  metrics(done: { gradNorm: number; seconds: number }): Metrics;
  /** Rows for samples.jsonl, written on evaluation updates. */
  samples?(): readonly object[];
}

/** What a training method plugs into the loop. */
export interface TrainTask {
  /** Plans update `step` at learning rate `lr`; called for steps start + 1, start + 2, … in order. */
  plan(step: number, lr: number): Promise<UpdatePlan>;
  /** Validation at update `step`: metrics to log and the score that model selection maximises. */
  evaluate?(step: number): Promise<{ metrics: Metrics; score: { metric: string; value: number } }>;
  /** The console line of a metrics row. */
  summary(metrics: Metrics): string;
}

export interface LoopOptions {
  model: Transformer;
  optimizer: AdamW;
  /** The learning-rate schedule; its totalSteps is the number of updates. */
  schedule: LrSchedule;
  outputDir: string;
  /** Saved with every checkpoint, for the resume check. */
  config: object;
  /** The directory whose tokenizer files go into checkpoints. */
  tokenizerDir: string;
  metrics: MetricsWriter;
  /** The checkpoint to resume from (openCheckpoint), or null for a new run. */
  resume: (TrainerState & { dir: string }) | null;
  /** Every this many updates (0 = never): evaluate; save; print a summary. */
  evalEvery: number;
  saveEvery: number;
  logEvery: number;
  /** The progress bar's unit. */
  unit?: string;
}

export interface LoopResult {
  /** Updates done. */
  step: number;
  /** The loop stopped early on request, after saving. */
  interrupted: boolean;
  best: BestScore | null;
}

export async function trainLoop(task: TrainTask, o: LoopOptions): Promise<LoopResult> {
  if (o.resume) await restoreCheckpoint(o.resume, o);
  const interrupt = new Interrupt("saving a checkpoint").install();
  try {
    return await updates(task, o, () => interrupt.requested);
  } finally {
    interrupt.dispose();
  }
}

async function updates(task: TrainTask, o: LoopOptions, stopRequested: () => boolean): Promise<LoopResult> {
  const total = o.schedule.totalSteps;
  const bar = new ProgressBar(total, o.unit ?? "update", o.resume?.step ?? 0);
  const params = o.model.trainableParameters();
  let best = o.resume?.best ?? null;
  let step = o.resume?.step ?? 0;
  let interrupted = false;
  while (step < total && !interrupted) {
    step++;
    const lr = learningRateAt(o.schedule, step);
    const plan = await task.plan(step, lr);
    const t0 = performance.now();
    for (const pass of plan.microBatches) await pass();
    o.optimizer.update(lr);
    const gradNorm = await o.optimizer.lastGradNorm();
    const metrics = plan.metrics({ gradNorm, seconds: (performance.now() - t0) / 1000 });
    const bad = Object.entries(metrics).find(([, x]) => !Number.isFinite(x));
    if (bad) throw new Error(`step ${step}: ${bad[0]} is ${bad[1]} (the run diverged; lower the learning rate)`);
    if (!Number.isFinite(gradNorm)) throw new Error(`step ${step}: gradient norm is ${gradNorm}; ${await firstBadGradient(o.model)}`);
    zeroGrad(params);
    o.metrics.write(metrics);
    if (o.logEvery > 0 && step % o.logEvery === 0) bar.log(task.summary(metrics));

    if (o.evalEvery > 0 && (step - 1) % o.evalEvery === 0) {
      if (plan.samples) o.metrics.writeSamples(step, plan.samples());
      if (task.evaluate) {
        const ev = await task.evaluate(step);
        o.metrics.write(ev.metrics);
        bar.log(task.summary(ev.metrics));
        if (best === null || ev.score.value > best.value) {
          best = { ...ev.score, step };
          await saveBestCheckpoint(o.outputDir, { config: o.config, model: o.model, tokenizerDir: o.tokenizerDir }, best);
        }
      }
    }
    bar.tick();
    interrupted = stopRequested() && step < total;
    if (step === total || interrupted || (o.saveEvery > 0 && step % o.saveEvery === 0)) {
      await saveCheckpoint(o.outputDir, { config: o.config, model: o.model, optimizer: o.optimizer, tokenizerDir: o.tokenizerDir }, { step, best });
      if (interrupted) console.error(`\ninterrupted: saved ${o.outputDir}/checkpoint-${step}`);
    }
  }
  bar.done();
  return { step, interrupted, best };
}

/** Names the first parameter whose gradient holds NaN or Inf (only called once a step has failed). */
export async function firstBadGradient(model: Transformer): Promise<string> {
  for (const p of model.trainableParameters()) {
    if (!p.grad) continue;
    const g = (await p.grad.toArray()) as Float32Array;
    const bad = g.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) return `first non-finite gradient: ${p.name} at element ${bad} (${g[bad]})`;
  }
  return "no single gradient is non-finite (the sum overflowed)";
}

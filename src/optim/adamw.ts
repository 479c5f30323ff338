// The AdamW optimizer over a model's parameters: moment buffers per parameter, global-norm clipping
// computed on the GPU (no readback inside the step), and the state a checkpoint saves. Weight decay
// skips biases and norm weights, as Hugging Face's Trainer does (`get_decay_parameter_names`).
import { acquire, type Buf, release } from "../gpu/buffer.ts";
import { downloadF32, upload } from "../gpu/recorder.ts";
import { adamw, gradNormSquares } from "../kernels/adamw.ts";
import { fill } from "../kernels/elementwise.ts";
import type { Tensor } from "../autograd/tensor.ts";

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay of the parameters `decaysWeight` selects (0 for the others). */
  weightDecay: number;
  /** Clip the global gradient norm to this value; 0 = no clipping. */
  maxGradNorm: number;
}

/**
 * Whether weight decay applies to the parameter named `name` (an HF name): not to biases nor to
 * the weights of norm layers (`input_layernorm`, `post_attention_layernorm`, `model.norm`), as
 * transformers' `get_decay_parameter_names`. Unnamed parameters decay.
 */
export function decaysWeight(name: string | undefined): boolean {
  if (name === undefined) return true;
  return !/bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)/.test(name.toLowerCase());
}

export class AdamW {
  /** Steps taken (torch's `state["step"]`). */
  step = 0;
  private readonly m: Buf[];
  private readonly v: Buf[];
  private readonly normSq: Buf;
  private readonly decays: boolean[];

  constructor(
    readonly params: readonly Tensor[],
    readonly options: AdamWOptions,
  ) {
    this.decays = params.map((p) => decaysWeight(p.name));
    this.m = params.map((p) => zeros(p.size));
    this.v = params.map((p) => zeros(p.size));
    this.normSq = zeros(1);
  }

  /**
   * One update with learning rate `lr` from the accumulated `grad` of every parameter (a parameter
   * without a gradient is skipped, as torch does). Records GPU work only; the squared global norm is
   * left in a buffer that `lastGradNorm()` reads once per step for logging.
   */
  update(lr: number): void {
    const withGrad = this.params.map((p, i) => ({ p, i })).filter(({ p }) => p.grad);
    if (withGrad.length === 0) throw new Error("AdamW.update: no parameter has a gradient (did backward run?)");
    this.step++;
    gradNormSquares({ grads: withGrad.map(({ p }) => p.grad!.buf), out: this.normSq, sizes: withGrad.map(({ p }) => p.size) });
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.options;
    const clip = maxGradNorm > 0 ? { normSq: this.normSq, maxNorm: maxGradNorm } : {};
    for (const { p, i } of withGrad) {
      adamw(
        { param: p.buf, grad: p.grad!.buf, m: this.m[i], v: this.v[i], normSq: clip.normSq },
        { n: p.size, step: this.step, lr, beta1, beta2, eps, weightDecay: this.decays[i] ? weightDecay : 0, maxNorm: clip.maxNorm },
      );
    }
  }

  /** The global gradient norm (before clipping) of the last update. Reads back one float. */
  async lastGradNorm(): Promise<number> {
    return Math.sqrt((await downloadF32(this.normSq, 1))[0]);
  }

  /** Moments as named f32 arrays, for checkpoints (`exp_avg.<i>`, `exp_avg_sq.<i>`). */
  async state(): Promise<{ step: number; tensors: { name: string; data: Float32Array }[] }> {
    const tensors: { name: string; data: Float32Array }[] = [];
    for (let i = 0; i < this.params.length; i++) {
      const name = this.params[i].name ?? String(i);
      tensors.push({ name: `exp_avg.${name}`, data: await downloadF32(this.m[i], this.params[i].size) });
      tensors.push({ name: `exp_avg_sq.${name}`, data: await downloadF32(this.v[i], this.params[i].size) });
    }
    return { step: this.step, tensors };
  }

  loadState(state: { step: number; tensors: Map<string, Float32Array> }): void {
    this.step = state.step;
    this.params.forEach((p, i) => {
      const name = p.name ?? String(i);
      for (const [key, buf] of [[`exp_avg.${name}`, this.m[i]], [`exp_avg_sq.${name}`, this.v[i]]] as const) {
        const data = state.tensors.get(key);
        if (!data || data.length !== p.size) throw new Error(`optimizer state: tensor ${key} is missing or has the wrong size`);
        upload(buf, data);
      }
    });
  }

  dispose(): void {
    for (const b of [...this.m, ...this.v, this.normSq]) release(b);
  }
}

function zeros(n: number): Buf {
  const b = acquire(n * 4, { exact: true }); // lives as long as the optimizer
  fill(b, 0, n);
  return b;
}

// The tape: ops record how to map their output's gradient to their inputs' gradients; `backward`
// replays the records in reverse. Gradients of parameters (leaves with requiresGrad) accumulate
// across backward calls until `zeroGrad` (micro-batch gradient accumulation); intermediate
// gradients are released as soon as their op has been differentiated.
import { addInPlace } from "../kernels/elementwise.ts";
import { copy } from "../gpu/recorder.ts";
import { scope } from "./scope.ts";
import { Tensor } from "./tensor.ts";

interface Node {
  op: string;
  inputs: Tensor[];
  output: Tensor;
  /** Given d(loss)/d(output), returns d(loss)/d(input) for each input (undefined: no gradient). */
  backward: (gradOutput: Tensor) => (Tensor | undefined)[];
}

let tape: Node[] = [];
let gradEnabled = true;

/** Records an op when grad is enabled and any input requires grad; marks the output accordingly. */
export function record(op: string, inputs: Tensor[], output: Tensor, backward: Node["backward"]): Tensor {
  if (willRecord(inputs)) {
    output.requiresGrad = true;
    tape.push({ op, inputs, output, backward });
  }
  return output;
}

/** Whether an op over `inputs` will be recorded (so it must keep what its backward needs). */
export function willRecord(inputs: Tensor[]): boolean {
  return gradEnabled && inputs.some((t) => t.requiresGrad);
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording (inference, reference-model scoring). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error("noGrad: fn must be synchronous");
    return r;
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Back-propagates `gradOutput` (same shape as `output`; e.g. per-token loss weights) through the
 * recorded ops, accumulating into the `grad` of every parameter reached, then clears the tape.
 */
export function backward(output: Tensor, gradOutput: Tensor): void {
  if (gradOutput.size !== output.size) {
    throw new Error(`backward: gradient has ${gradOutput.size} elements, output [${output.shape}] has ${output.size}`);
  }
  const nodes = tape;
  tape = [];
  if (!output.requiresGrad) throw new Error("backward: output does not depend on any parameter (or was computed under noGrad)");
  output.grad = gradOutput;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const g = node.output.grad;
    if (!g) continue;
    // A pass-through gradient becomes a view so that releasing g below cannot free it.
    const grads = node.backward(g).map((gi) => (gi === g ? g.view(g.shape) : gi));
    node.output.grad = undefined;
    if (node.output !== output) g.release();
    node.inputs.forEach((input, j) => {
      const gi = grads[j];
      if (!gi) return;
      if (input.requiresGrad) accumulate(input, gi);
      else gi.release();
    });
  }
}

/**
 * Where a backward writes the gradient of weight `w` directly (matmul/reduction with accumulate),
 * sparing a separate add: a parameter's existing `grad` (accumulate into it), else a new tensor that
 * becomes its `grad`. For a non-parameter input, a new tensor that the backward returns as usual.
 */
export function weightGrad(w: Tensor): { grad: Tensor; accumulate: boolean; returned: Tensor | undefined } {
  if (w.grad) return { grad: w.grad, accumulate: true, returned: undefined };
  const grad = new Tensor(w.shape);
  if (w.kept) {
    w.grad = grad.keep();
    return { grad, accumulate: false, returned: undefined };
  }
  return { grad, accumulate: false, returned: grad };
}

/** Adds `g` into `input.grad`, taking ownership of g's buffer when nothing else shares it. */
function accumulate(input: Tensor, g: Tensor): void {
  if (input.grad) {
    addInPlace(input.grad.buf, g.buf, g.size);
    g.release();
    return;
  }
  let owned = g;
  if (g.isShared) {
    owned = new Tensor(g.shape, g.dtype);
    copy(g.buf, 0, owned.buf, 0, g.size * 4);
    g.release();
  }
  input.grad = input.kept ? owned.keep() : owned;
}

/**
 * Activation checkpointing: y = fn(x) computed onto a tape that is dropped at once (fn's intermediates
 * are freed with it; only x and y stay), and one tape record whose backward runs fn(x) again with
 * recording and back-propagates dy through it. The first forward records too, so that every op takes
 * the path it takes in the recompute (fused ops run other kernels when not recorded): y is bit for
 * bit the output the recompute differentiates. `params` are the tensors fn reads that may need gradients: their
 * gradients accumulate during the recompute, as without checkpointing. fn must be deterministic
 * (seeded dropout is) and must not modify x. Without grad enabled this is fn(x).
 */
export function checkpoint(x: Tensor, params: readonly Tensor[], fn: (x: Tensor) => Tensor): Tensor {
  if (!gradEnabled) return fn(x);
  const y = scope(() => {
    const outer = tape;
    tape = [];
    try {
      return fn(x);
    } finally {
      tape = outer;
    }
  });
  return record("checkpoint", [x, ...params], y, (dy) => {
    const outer = tape;
    tape = [];
    const wasEnabled = gradEnabled;
    gradEnabled = true;
    try {
      return scope(() => {
        const xr = x.view(x.shape);
        xr.requiresGrad = x.requiresGrad;
        const yr = fn(xr);
        if (!yr.requiresGrad) return [undefined];
        backward(yr, dy);
        yr.grad = undefined;
        const dx = xr.grad;
        xr.grad = undefined;
        return [dx];
      });
    } finally {
      tape = outer;
      gradEnabled = wasEnabled;
    }
  });
}

/** Releases the accumulated gradients of `params`. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.release();
    p.grad = undefined;
  }
}

// Launchers for kernels/swiglu.wgsl: h = silu(gate) · up over [N, I], and its backward.
import { type BindingWindow, bindingWindows, type Buf } from "../gpu/buffer.ts";
import { kernel } from "../gpu/kernel.ts";
import { dispatch } from "../gpu/recorder.ts";
import { checkDims, checkDistinct, checkSize, groups, params, window } from "./launch.ts";

/**
 * The MLP's gate and up projections: two [N, I] tensors (Llama gate_proj / up_proj), or one [N, 2I]
 * tensor whose rows hold gate then up (the fused gate_up_proj's output). Gradients use the same layout.
 */
export type GateUp = { gate: Buf; up: Buf } | { fused: Buf };

export interface SwigluShape {
  /** Rows (B·T) and intermediate size. */
  N: number;
  I: number;
}

function check(fn: string, { N, I }: SwigluShape, gus: Record<string, GateUp>) {
  checkDims(fn, { N, I });
  for (const [name, gu] of Object.entries(gus)) {
    if ("fused" in gu) checkSize(fn, `${name}.fused`, gu.fused, 2 * N * I);
    else {
      checkSize(fn, `${name}.gate`, gu.gate, N * I);
      checkSize(fn, `${name}.up`, gu.up, N * I);
    }
  }
}

const bufs = (gu: GateUp): Buf[] => ("fused" in gu ? [gu.fused] : [gu.gate, gu.up]);

/** Bindings of the window `w` of rows of a GateUp operand. */
function rowsOf(gu: GateUp, I: number, w: BindingWindow) {
  return "fused" in gu ? [window(gu.fused, w, 2 * I)] : [window(gu.gate, w, I), window(gu.up, w, I)];
}

/** Windows of the N rows: the widest operand row bound, every operand's windows aligned. */
const windows = (N: number, I: number, fused: boolean) => bindingWindows(N, [(fused ? 2 : 1) * I * 4, I * 4]);

/** h [N, I] = silu(gate) · up. */
export function swigluForward(h: Buf, x: GateUp, shape: SwigluShape): void {
  const { N, I } = shape;
  check("swigluForward", shape, { x });
  checkSize("swigluForward", "h", h, N * I);
  checkDistinct("swigluForward", { h }, Object.fromEntries(bufs(x).map((b, i) => [`x${i}`, b])));
  const fused = "fused" in x;
  const pipeline = kernel("swiglu", { entry: fused ? "forward_fused" : "forward" });
  for (const s of windows(N, I, fused)) {
    const n = s.rows * I;
    dispatch(pipeline, [window(h, s, I), ...rowsOf(x, I, s)], groups(n), params(n, I));
  }
}

/** d(gate), d(up) (layout of dx, the same as x's) from dh [N, I] and the forward's gate and up. */
export function swigluBackward(dx: GateUp, dh: Buf, x: GateUp, shape: SwigluShape): void {
  const fn = "swigluBackward";
  const { N, I } = shape;
  check(fn, shape, { dx, x });
  checkSize(fn, "dh", dh, N * I);
  const fused = "fused" in x;
  if ("fused" in dx !== fused) throw new Error(`${fn}: dx and x must have the same layout (both fused or both separate)`);
  const written = Object.fromEntries(bufs(dx).map((b, i) => [`dx${i}`, b]));
  checkDistinct(fn, written, { ...written, dh, ...Object.fromEntries(bufs(x).map((b, i) => [`x${i}`, b])) });
  const pipeline = kernel("swiglu", { entry: fused ? "backward_fused" : "backward" });
  for (const s of windows(N, I, fused)) {
    const n = s.rows * I;
    const [dg, du] = rowsOf(dx, I, s);
    const bindings = fused ? [dg, window(dh, s, I), ...rowsOf(x, I, s)] : [dg, du, window(dh, s, I), ...rowsOf(x, I, s)];
    dispatch(pipeline, bindings, groups(n), params(n, I));
  }
}

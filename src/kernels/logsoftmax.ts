// Log-softmax gathered at the targets: the fused classifier (kernels/logsoftmax_gather.wgsl).
//
//   logSoftmaxGather:          logprob[n] = logits[n, t_n]/τ_n − lse[n],  lse[n] = logsumexp(logits[n, :]/τ_n)
//   logSoftmaxGatherBackward:  dlogits[n, v] = dlogprob[n]/τ_n · (1[v = t_n] − softmax(logits[n, :]/τ_n)_v)
//
// logits/dlogits [N, V] f32, targets [N] i32 (t < 0: ignored → logprob 0, zero gradient),
// temperature [N] f32 (each row's τ_n > 0: the caller checks it, the kernel cannot), logprob, lse,
// dlogprob [N] f32. Only [N] vectors are written by the forward; the backward makes one pass per
// row and may write dlogits over logits (pass the same Buf for both) to save N·V·4 bytes.
// [N, V] tensors larger than maxStorageBufferBindingSize (256 Qwen rows already are) are processed in
// windows of rows.
import { bindingWindows, type Buf } from "../gpu/buffer.ts";
import { kernel } from "../gpu/kernel.ts";
import { dispatch, grid } from "../gpu/recorder.ts";
import { checkBindable, checkDims, checkDistinct, checkSize, params, window } from "./launch.ts";

const WG = 256;

export interface LogSoftmaxGatherShape {
  N: number;
  V: number;
}

/** logprob[n] = log softmax(logits[n]/τ_n)[targets[n]] and lse[n] = logsumexp(logits[n]/τ_n). */
export function logSoftmaxGather(
  { logits, targets, temperature, logprob, lse }: { logits: Buf; targets: Buf; temperature: Buf; logprob: Buf; lse: Buf },
  shape: LogSoftmaxGatherShape,
): void {
  const { N, V } = shape;
  check("logSoftmaxGather", shape, { logits, targets, temperature, logprob, lse });
  const pipeline = kernel("logsoftmax_gather", { entry: "lsg_forward", constants: { WG } });
  for (const w of bindingWindows(N, V * 4)) {
    dispatch(pipeline, [window(logits, w, V), targets, temperature, logprob, lse], grid(w.rows), params(w.rows, V, w.row0));
  }
}

/**
 * dlogits = dlogprob/τ · (onehot(targets) − softmax(logits/τ)) per row, from the forward's lse. Pass
 * `dlogits: logits` to overwrite the logits in place.
 */
export function logSoftmaxGatherBackward(
  { logits, targets, temperature, lse, dlogprob, dlogits }: { logits: Buf; targets: Buf; temperature: Buf; lse: Buf; dlogprob: Buf; dlogits: Buf },
  shape: LogSoftmaxGatherShape,
): void {
  const { N, V } = shape;
  const fn = "logSoftmaxGatherBackward";
  check(fn, shape, { logits, targets, temperature, lse, dlogprob });
  checkSize(fn, "dlogits", dlogits, N * V);
  const inPlace = dlogits.buffer === logits.buffer;
  if (inPlace && dlogits !== logits) throw new Error(`${fn}: dlogits shares logits' buffer but is a different Buf`);
  checkDistinct(fn, { dlogits }, { targets, temperature, lse, dlogprob });
  const pipeline = kernel("logsoftmax_gather", { entry: inPlace ? "lsg_backward_inplace" : "lsg_backward", constants: { WG } });
  for (const w of bindingWindows(N, V * 4)) {
    const bindings = inPlace
      ? [window(logits, w, V), targets, temperature, lse, dlogprob]
      : [window(logits, w, V), targets, temperature, lse, dlogprob, window(dlogits, w, V)];
    dispatch(pipeline, bindings, grid(w.rows), params(w.rows, V, w.row0));
  }
}

function check(fn: string, shape: LogSoftmaxGatherShape, bufs: Record<string, Buf>): void {
  const { N, V } = shape;
  checkDims(fn, { N, V });
  checkBindable(fn, "a row", V, "rows are not split across bindings");
  for (const [name, b] of Object.entries(bufs)) checkSize(fn, name, b, name === "logits" ? N * V : N);
}

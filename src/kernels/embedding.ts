// Launchers for kernels/embedding.wgsl: token embedding gather and its deterministic backward.
import { acquire, bindingWindows, type Buf, release } from "../gpu/buffer.ts";
import { gpu } from "../gpu/device.ts";
import { kernel } from "../gpu/kernel.ts";
import { dispatch } from "../gpu/recorder.ts";
import { fill } from "./elementwise.ts";
import { checkBindable, checkDims, checkDistinct, checkSize, groups, params, view, window } from "./launch.ts";

export interface EmbeddingShape {
  /** Tokens (B·T), vocabulary rows, channels. */
  N: number;
  V: number;
  C: number;
}

/** Storage of the forward's table: f32, or a frozen f16 / bf16 one. */
export type EmbeddingDType = "f32" | "f16" | "bf16";

const TABLE: Record<EmbeddingDType, { W_ELEM: string; W_AT: string; ENABLE: string }> = {
  f32: { W_ELEM: "f32", W_AT: "W[j]", ENABLE: "" },
  f16: { W_ELEM: "f16", W_AT: "f32(W[j])", ENABLE: "enable f16;" },
  bf16: { W_ELEM: "u32", W_AT: "bf16at(W[j / 2u], j)", ENABLE: "" },
};

function check(fn: string, { N, V, C }: EmbeddingShape, table: [string, Buf], rows: [string, Buf], ids: Buf, tableBytes = 4) {
  checkDims(fn, { N, V, C });
  checkSize(fn, table[0], table[1], V * C, tableBytes);
  checkSize(fn, rows[0], rows[1], N * C);
  checkSize(fn, "ids", ids, N);
  checkBindable(fn, rows[0], N * C);
  checkDistinct(fn, { [rows[0]]: rows[1], [table[0]]: table[1] }, { [rows[0]]: rows[1], [table[0]]: table[1], ids });
}

/**
 * out [N, C] = W [V, C] rows at ids i32 [N] (ids outside [0, V) give zero rows). W is stored as
 * `wType` (default f32; f16 needs shader-f16) and may be larger than one storage binding: one
 * dispatch per window of rows.
 */
export function embeddingForward(out: Buf, ids: Buf, W: Buf, shape: EmbeddingShape, wType: EmbeddingDType = "f32"): void {
  const { N, V, C } = shape;
  if (!(wType in TABLE)) throw new Error(`embeddingForward: wType must be f32, f16 or bf16, got ${wType}`);
  if (wType === "f16" && !gpu().hasF16) throw new Error(`embeddingForward: an f16 table needs the shader-f16 feature, which this adapter lacks`);
  const e = wType === "f32" ? 4 : 2;
  check("embeddingForward", shape, ["W", W], ["out", out], ids, e);
  const pipeline = kernel("embedding", { entry: "forward", defines: TABLE[wType] });
  bindingWindows(V, C * e).forEach((s, i) => {
    const bytes = Math.ceil((s.rows * C * e) / 4) * 4;
    const table = { buffer: W.buffer, offset: s.row0 * C * e, size: Math.min(bytes, W.buffer.size - s.row0 * C * e) };
    const bindings = [view(out, 0, N * C), view(ids, 0, N), table];
    dispatch(pipeline, bindings, groups(N * C), params(N * C, N, C, V, s.row0, s.rows, +(i === 0)));
  });
}

/**
 * dW [V, C] (+)= Σ over tokens n with ids[n] = v of dout[n, :], summed in token order with no float
 * atomics (embedding.wgsl: counting sort of (id, n), then one thread per run of equal ids and column),
 * so results are bit-identical from run to run. ids outside [0, V) contribute nothing. Without
 * `accumulate` all of dW is zero-filled first.
 */
export function embeddingBackward(dW: Buf, dout: Buf, ids: Buf, shape: EmbeddingShape, opts: { accumulate?: boolean } = {}): void {
  const { N, V, C } = shape;
  check("embeddingBackward", shape, ["dW", dW], ["dout", dout], ids);
  if (!opts.accumulate) fill(dW, 0, V * C);
  const sorted = acquire(N * 4);
  dispatch(kernel("embedding", { entry: "rank", defines: TABLE.f32 }), [view(sorted, 0, N), view(ids, 0, N)], groups(N), params(0, N, C, V, 0, 0, 0));
  const pipeline = kernel("embedding", { entry: "scatter", defines: TABLE.f32 });
  for (const s of bindingWindows(V, C * 4)) {
    const bindings = [window(dW, s, C), view(sorted, 0, N), view(ids, 0, N), view(dout, 0, N * C)];
    dispatch(pipeline, bindings, groups(N * C), params(N * C, N, C, V, s.row0, s.rows, 0));
  }
  release(sorted);
}

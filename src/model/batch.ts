// A batch of left-padded token rows on the GPU: ids, per-token positions, per-row valid start,
// next-token targets and (optionally) the temperature each target is scored at — everything one
// forward pass reads.
import { Tensor } from "../autograd/tensor.ts";
import { leftPadOffsets } from "../glue/tokens.ts";

export interface TokenBatch {
  B: number;
  T: number;
  /** [B·T] i32 token ids, pads replaced by 0 (the original's masked_fill before the embedding). */
  ids: Tensor;
  /**
   * [B·T] i32 position ids: 0, 1, 2, … from each row's first real token (0 on pads). Pads are only
   * ever on the left, so every position after validStart counts (as generation's KV cache does).
   */
  positions: Tensor;
  /** [B] i32 index of each row's first real token; attention ignores keys before it. */
  validStart: Tensor;
  /** validStart on the host (KV-cache positions). */
  validStartHost: Int32Array;
  /** [B·T] i32: the token at t + 1, or −1 where there is none (last position, pad targets). */
  targets: Tensor;
  /**
   * Positions the rows span, max position + 1 (the longest row's real tokens): what LongRoPE picks
   * its factor set by, as transformers' max(position_ids) + 1. Generation sets the length its rows
   * will reach instead (README, "Phi-3.5 and LongRoPE").
   */
  ropeLength: number;
  /** [B·T] f32: position t's target is scored under softmax(logits / temperature[t]); absent: 1. */
  temperature?: Tensor;
}

/** tokens: [B, T] left-padded ids; temperature: [B·T] per-position scoring temperatures (> 0). */
export function tokenBatch(tokens: Int32Array, B: number, T: number, pad: number, temperature?: Float32Array): TokenBatch {
  if (tokens.length !== B * T) throw new Error(`tokenBatch: ${tokens.length} ids for B=${B} × T=${T}`);
  if (temperature) {
    if (temperature.length !== B * T) throw new Error(`tokenBatch: ${temperature.length} temperatures for B=${B} × T=${T}`);
    const bad = temperature.findIndex((t) => !(t > 0 && Number.isFinite(t)));
    if (bad >= 0) throw new Error(`tokenBatch: temperature[${bad}] is ${temperature[bad]}, expected a finite number > 0`);
  }
  const { validStart } = leftPadOffsets(tokens, B, T, pad);
  const ids = new Int32Array(B * T);
  const positions = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let t = validStart[b]; t < T; t++) {
      ids[b * T + t] = tokens[b * T + t];
      positions[b * T + t] = t - validStart[b];
      if (t + 1 < T) targets[b * T + t] = tokens[b * T + t + 1];
    }
  }
  return {
    B,
    T,
    ids: Tensor.fromArray(ids, [B * T], "i32"),
    positions: Tensor.fromArray(positions, [B * T], "i32"),
    validStart: Tensor.fromArray(validStart, [B], "i32"),
    validStartHost: validStart,
    targets: Tensor.fromArray(targets, [B * T], "i32"),
    ropeLength: T - Math.min(...validStart),
    temperature: temperature && Tensor.fromArray(temperature, [B * T]),
  };
}

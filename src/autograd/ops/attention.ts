// ropeAttention: rotary position embedding on q and k, then causal GQA flash attention.
//   q [B·T, Hq·D], k, v [B·T, Hkv·D] (the projections' outputs, i.e. [B, T, H, D]),
//   positions i32 [B·T], invFreq [D/2], validStart i32 [B] → o [B·T, Hq·D]
// ropeScale multiplies RoPE's cos and sin (LongRoPE's attention factor; 1 otherwise).
// RoPE rotates q and k in place: they are fresh projection outputs that no other backward reads
// (linear's backward needs its input and weight, not its output), so no copy is made. The
// forward saves the rotated q, k and the logsumexp [B, Hq, T]; the backward runs FlashAttention-2's
// dQ/dK/dV from them and rotates dq, dk back by −θ (times ropeScale).
import { flashAttentionBackward, flashAttentionForward } from "../../kernels/attention.ts";
import { ropeBackward, ropeForward } from "../../kernels/rope.ts";
import { record } from "../tape.ts";
import { Tensor } from "../tensor.ts";

export interface AttentionDims {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
}

export function ropeAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  positions: Tensor,
  invFreq: Tensor,
  validStart: Tensor,
  s: AttentionDims,
  ropeScale = 1,
): Tensor {
  const { B, T, Hq, Hkv, D } = s;
  if (q.size !== B * T * Hq * D || k.size !== B * T * Hkv * D || v.size !== k.size) {
    throw new Error(`ropeAttention: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not match B=${B} T=${T} Hq=${Hq} Hkv=${Hkv} D=${D}`);
  }
  ropeForward(q.buf, k.buf, positions.buf, invFreq.buf, s, ropeScale);
  const o = new Tensor([B * T, Hq * D]);
  const lse = new Tensor([B, Hq, T]);
  flashAttentionForward({ q: q.buf, k: k.buf, v: v.buf, o: o.buf, lse: lse.buf, validStart: validStart.buf }, s);
  return record("ropeAttention", [q, k, v], o, (dO) => {
    const dq = new Tensor(q.shape);
    const dk = new Tensor(k.shape);
    const dv = new Tensor(v.shape);
    flashAttentionBackward(
      { q: q.buf, k: k.buf, v: v.buf, o: o.buf, dO: dO.buf, lse: lse.buf, validStart: validStart.buf, dq: dq.buf, dk: dk.buf, dv: dv.buf },
      s,
    );
    ropeBackward(dq.buf, dk.buf, positions.buf, invFreq.buf, s, ropeScale);
    return [dq, dk, dv];
  });
}

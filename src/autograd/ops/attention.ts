// ropeAttention: rotary position embedding on the q and k of the fused projection, then causal GQA
// flash attention.
//   qkv [B·T, (Hq + 2·Hkv)·D] (rows [q | k | v], the fused projection's output, i.e. [B, T, H, D] each),
//   positions i32 [B·T], invFreq [D/2], validStart i32 [B] → out [B·T, Hq·D], and the rotated keys and
//   values k, v [B·T, Hkv·D] (a prefill stores them in its KV cache; they carry no gradient of their own)
// One dispatch splits qkv into rotated q, k and plain v; the forward saves them and the logsumexp
// [B, Hq, T]; the backward runs FlashAttention-2's dQ/dK/dV and one dispatch writes dqkv, dq and dk
// rotated back by −θ. ropeScale multiplies RoPE's cos and sin (LongRoPE's attention factor; 1 otherwise).
import { flashAttentionBackward, flashAttentionForward } from "../../kernels/attention.ts";
import { ropeQkvBackward, ropeQkvForward } from "../../kernels/rope.ts";
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
  qkv: Tensor,
  positions: Tensor,
  invFreq: Tensor,
  validStart: Tensor,
  s: AttentionDims,
  ropeScale = 1,
): { out: Tensor; k: Tensor; v: Tensor } {
  const { B, T, Hq, Hkv, D } = s;
  const N = B * T;
  if (qkv.size !== N * (Hq + 2 * Hkv) * D) {
    throw new Error(`ropeAttention: qkv [${qkv.shape}] is not [${N}, ${(Hq + 2 * Hkv) * D}] for B=${B} T=${T} Hq=${Hq} Hkv=${Hkv} D=${D}`);
  }
  const q = new Tensor([N, Hq * D]);
  const k = new Tensor([N, Hkv * D]);
  const v = new Tensor([N, Hkv * D]);
  ropeQkvForward({ q: q.buf, k: k.buf, v: v.buf }, qkv.buf, positions.buf, invFreq.buf, s, ropeScale);
  const out = new Tensor([N, Hq * D]);
  const lse = new Tensor([B, Hq, T]);
  flashAttentionForward({ q: q.buf, k: k.buf, v: v.buf, o: out.buf, lse: lse.buf, validStart: validStart.buf }, s);
  record("ropeAttention", [qkv], out, (dO) => {
    const dq = new Tensor(q.shape);
    const dk = new Tensor(k.shape);
    const dv = new Tensor(v.shape);
    flashAttentionBackward(
      { q: q.buf, k: k.buf, v: v.buf, o: out.buf, dO: dO.buf, lse: lse.buf, validStart: validStart.buf, dq: dq.buf, dk: dk.buf, dv: dv.buf },
      s,
    );
    const dqkv = new Tensor(qkv.shape);
    ropeQkvBackward(dqkv.buf, { dq: dq.buf, dk: dk.buf, dv: dv.buf }, positions.buf, invFreq.buf, s, ropeScale);
    for (const t of [dq, dk, dv]) t.release();
    return [dqkv];
  });
  return { out, k, v };
}

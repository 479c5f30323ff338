// Float64 reference for the LoRA linear layer (src/autograd/ops/lora.ts) and the dropout mask of
// kernels/dropout.wgsl, recomputed bit for bit in TypeScript.

const mul32 = (a: number, b: number) => Math.imul(a, b) >>> 0;

function pcgHash(v: number): number {
  const state = (mul32(v, 747796405) + 2891336453) >>> 0;
  const word = mul32(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737);
  return ((word >>> 22) ^ word) >>> 0;
}

/** The multiplier dropout applies to element i: 1/(1 − p) where kept, else 0. */
export function dropoutMask(n: number, p: number, seed: number): Float64Array {
  const threshold = Math.min(2 ** 32 - 1, Math.round(p * 2 ** 32));
  const hs = pcgHash(seed);
  return Float64Array.from({ length: n }, (_, i) => (pcgHash((i ^ hs) >>> 0) >= threshold ? Math.fround(1 / (1 - p)) : 0));
}

/**
 * y = x·Wᵀ + b + s·(m⊙x)·Aᵀ·Bᵀ and, for the loss Σ g⊙y, dx, dA, dB. x [N, In], W [Out, In], A [r, In],
 * B [Out, r], mask m [N·In] (all ones without dropout).
 */
export function loraRef(
  x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | undefined, A: ArrayLike<number>, B: ArrayLike<number>,
  mask: ArrayLike<number>, g: ArrayLike<number>, N: number, In: number, Out: number, r: number, s: number,
) {
  const xd = Float64Array.from({ length: N * In }, (_, i) => x[i] * mask[i]);
  const u = new Float64Array(N * r);
  for (let n = 0; n < N; n++) for (let k = 0; k < r; k++) for (let i = 0; i < In; i++) u[n * r + k] += xd[n * In + i] * A[k * In + i];
  const y = new Float64Array(N * Out);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Out; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < In; i++) acc += x[n * In + i] * w[o * In + i];
      for (let k = 0; k < r; k++) acc += s * u[n * r + k] * B[o * r + k];
      y[n * Out + o] = acc;
    }
  }
  const dB = new Float64Array(Out * r);
  const du = new Float64Array(N * r);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Out; o++) {
      for (let k = 0; k < r; k++) {
        dB[o * r + k] += s * g[n * Out + o] * u[n * r + k];
        du[n * r + k] += s * g[n * Out + o] * B[o * r + k];
      }
    }
  }
  const dA = new Float64Array(r * In);
  const dx = new Float64Array(N * In);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < In; i++) {
      let acc = 0;
      for (let o = 0; o < Out; o++) acc += g[n * Out + o] * w[o * In + i];
      let viaA = 0;
      for (let k = 0; k < r; k++) {
        dA[k * In + i] += du[n * r + k] * xd[n * In + i];
        viaA += du[n * r + k] * A[k * In + i];
      }
      dx[n * In + i] = acc + mask[n * In + i] * viaA;
    }
  }
  return { y, dx, dA, dB };
}

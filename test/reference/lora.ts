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

/** One adapter of the reference: A [r, In], B [rows, r] adding into columns [col0, col0 + rows), mask [N·In]. */
export interface RefAdapter {
  A: ArrayLike<number>;
  B: ArrayLike<number>;
  r: number;
  rows: number;
  col0: number;
  scale: number;
  mask: ArrayLike<number>;
}

/**
 * y = x·Wᵀ + b + Σ_i s_i·(m_i⊙x)·A_iᵀ·B_iᵀ (at columns [col0_i, col0_i + rows_i)) and, for the loss
 * Σ g⊙y, dx and each adapter's dA, dB. x [N, In], W [Out, In].
 */
export function loraRef(
  x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | undefined, adapters: readonly RefAdapter[],
  g: ArrayLike<number>, N: number, In: number, Out: number,
) {
  const y = new Float64Array(N * Out);
  const dx = new Float64Array(N * In);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Out; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < In; i++) acc += x[n * In + i] * w[o * In + i];
      y[n * Out + o] = acc;
    }
    for (let i = 0; i < In; i++) for (let o = 0; o < Out; o++) dx[n * In + i] += g[n * Out + o] * w[o * In + i];
  }
  const grads = adapters.map(({ A, B, r, rows, col0, scale: s, mask }) => {
    const xd = Float64Array.from({ length: N * In }, (_, i) => x[i] * mask[i]);
    const u = new Float64Array(N * r);
    for (let n = 0; n < N; n++) for (let k = 0; k < r; k++) for (let i = 0; i < In; i++) u[n * r + k] += xd[n * In + i] * A[k * In + i];
    const dB = new Float64Array(rows * r);
    const du = new Float64Array(N * r);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < rows; o++) {
        const gy = g[n * Out + col0 + o];
        for (let k = 0; k < r; k++) {
          y[n * Out + col0 + o] += s * u[n * r + k] * B[o * r + k];
          dB[o * r + k] += s * gy * u[n * r + k];
          du[n * r + k] += s * gy * B[o * r + k];
        }
      }
    }
    const dA = new Float64Array(r * In);
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < In; i++) {
        let viaA = 0;
        for (let k = 0; k < r; k++) {
          dA[k * In + i] += du[n * r + k] * xd[n * In + i];
          viaA += du[n * r + k] * A[k * In + i];
        }
        dx[n * In + i] += mask[n * In + i] * viaA;
      }
    }
    return { dA, dB };
  });
  return { y, dx, grads };
}

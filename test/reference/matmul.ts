// Float64 reference for kernels/matmul.wgsl.

export interface MatmulRefShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  lda?: number;
  ldb?: number;
  ldc?: number;
  offsetA?: number;
  offsetC?: number;
  accumulate?: boolean;
  alpha?: number;
}

/**
 * C[z] = α·op(A[z])·op(B[z]) (+ bias) (+ C[z] when accumulating), in float64, over the same strided layout as
 * the kernel. `c` is the initial C (read when accumulating; elements outside the written [M, N] blocks are kept).
 */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
  s: MatmulRefShape,
  bias?: ArrayLike<number>,
): Float64Array {
  const { M, N, K, transA = false, transB = false, batch = 1, alpha = 1 } = s;
  const lda = s.lda ?? (transA ? M : K);
  const ldb = s.ldb ?? (transB ? K : N);
  const ldc = s.ldc ?? N;
  const sA = s.strideA ?? (transA ? K : M) * lda;
  const sB = s.strideB ?? (transB ? N : K) * ldb;
  const sC = s.strideC ?? M * ldc;
  const oA = s.offsetA ?? 0;
  const oC = s.offsetC ?? 0;
  const out = Float64Array.from(c);
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const av = a[oA + z * sA + (transA ? k * lda + m : m * lda + k)];
          const bv = b[z * sB + (transB ? n * ldb + k : k * ldb + n)];
          sum += av * bv;
        }
        const i = oC + z * sC + m * ldc + n;
        out[i] = alpha * sum + (bias ? bias[n] : 0) + (s.accumulate ? c[i] : 0);
      }
    }
  }
  return out;
}

/** Values rounded to the nearest f16 (what the GPU reads from f16 storage). */
export const roundF16 = (x: ArrayLike<number>) => Float64Array.from(x, (v) => Math.f16round(v));

/** The nearest bfloat16 (round to nearest even) of each value's f32, as torch rounds f32 → bf16. */
export const roundBf16 = (x: ArrayLike<number>) =>
  Float64Array.from(x, (v) => {
    const u = new Uint32Array(Float32Array.of(v).buffer)[0];
    const r = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
    return new Float32Array(Uint32Array.of(r >>> 0).buffer)[0];
  });

/** RMSNorm of each row of x [M, K] times w [K], in float64. */
export function rmsnormRowsRef(x: ArrayLike<number>, w: ArrayLike<number>, M: number, K: number, eps: number): Float64Array {
  const out = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    let ss = 0;
    for (let k = 0; k < K; k++) ss += x[m * K + k] ** 2;
    const rstd = 1 / Math.sqrt(ss / K + eps);
    for (let k = 0; k < K; k++) out[m * K + k] = x[m * K + k] * rstd * w[k];
  }
  return out;
}

/**
 * The fused linear forms of kernels/matmul.wgsl, in float64, for y [M, N] = x [M, K] · W [rows, K]ᵀ:
 * x first RMSNorm-ed with `norm` (weight [K], eps); with `swiglu`, W has 2N rows [gate; up] (bias [2N])
 * and y = silu(x·Wgᵀ + bg)·(x·Wuᵀ + bu); then + residual [M, N] and + c (when accumulating).
 */
export function fusedLinearRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  c: ArrayLike<number>,
  s: { M: number; N: number; K: number; swiglu?: boolean; accumulate?: boolean; alpha?: number },
  o: { bias?: ArrayLike<number>; residual?: ArrayLike<number>; norm?: { w: ArrayLike<number>; eps: number } } = {},
): Float64Array {
  const { M, N, K, alpha = 1 } = s;
  const xin = o.norm ? rmsnormRowsRef(x, o.norm.w, M, K, o.norm.eps) : x;
  const rows = s.swiglu ? 2 * N : N;
  const lin = matmulRef(xin, w, new Float64Array(M * rows), { M, N: rows, K, transB: true, alpha }, o.bias);
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let v = lin[m * rows + n];
      if (s.swiglu) {
        const g = v;
        v = (g / (1 + Math.exp(-g))) * lin[m * rows + N + n];
      }
      out[m * N + n] = v + (o.residual ? o.residual[m * N + n] : 0) + (s.accumulate ? c[m * N + n] : 0);
    }
  }
  return out;
}

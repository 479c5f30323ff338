// Matrix multiply (kernels/matmul.wgsl): C = α·op(A)·op(B) (+ bias) (+ R) (+ C), batched, f32 accumulation.
//
//   forward of a linear layer   y[BT, out]  = x[BT, in] · W[out, in]ᵀ       NT  (M=BT, N=out, K=in)
//   … with the residual folded   y = r + x·Wᵀ (operand `residual`), or x += a·Wᵀ in place (`accumulate`)
//   … of a normalised input      y = RMSNorm(x; normWeight, normEps)·Wᵀ      (operand `normWeight`)
//   … of the gated MLP           h[BT, I] = silu(x·Wgᵀ)·(x·Wuᵀ), W = [Wg; Wu] [2I, in]   (`swiglu`, NT)
//   backward, input gradient    dx[BT, in]  = dy[BT, out] · W[out, in]      NN  (M=BT, N=in,  K=out)
//   backward, weight gradient   dW[out, in] += dy[BT, out]ᵀ · x[BT, in]     TN  (M=out, N=in, K=BT), accumulate
//
// A and B may be stored as f16 (weights, where the adapter has shader-f16) or bf16 (weights, any adapter:
// pairs packed in u32 words, widened exactly by a shift); C and bias are f32.
// Variants, picked here: vec4 loads when every group of 4 along a contiguous dimension is aligned, else
// scalar loads; `matmul_tiled` (workgroup-memory tiles) on GPUs, `matmul_direct` on CPU Vulkan (lavapipe),
// where workgroup memory and barriers cost more than they save (see the kernel header).
// Operands over maxStorageBufferBindingSize (an f32 vocab projection [151936, 896] is 544 MB) are bound
// in windows: split along the operand's storage rows (M for A and C, N for Bᵀ, K for Aᵀ and B, where a
// K split accumulates), one dispatch per window combination.
import { bindingLimit, type BindingWindow, bindingWindows, type Buf } from "../gpu/buffer.ts";
import { gpu, isCpuAdapter } from "../gpu/device.ts";
import { kernel } from "../gpu/kernel.ts";
import { type Binding, dispatch } from "../gpu/recorder.ts";
import { checkDims, checkDistinct, checkSize, params } from "./launch.ts";

export type MatmulDType = "f32" | "f16" | "bf16";

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  /** A is stored [K, M] (default [M, K]). */
  transA?: boolean;
  /** B is stored [N, K] (default [K, N]); a linear layer x·Wᵀ is transB. */
  transB?: boolean;
  /** Independent products, C[z] = op(A[z])·op(B[z]); default 1. */
  batch?: number;
  /** Elements between consecutive batch items (0 broadcasts one matrix); default dense. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** Row strides in elements (default dense: the stored row length). */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /**
   * Elements from the start of A's / C's buffer to its first element (default 0): a column slice of
   * wider rows, e.g. one projection's columns of a fused [N, q + k + v] output, and/or whole rows
   * skipped, e.g. one projection's rows of a fused weight; (offset mod the row stride) + the row's
   * columns must fit in its row stride.
   */
  offsetA?: number;
  offsetC?: number;
  /** Add the product into C instead of overwriting it (gradient accumulation). */
  accumulate?: boolean;
  /** Scale of the product (not of bias or the accumulated C); default 1. */
  alpha?: number;
  /** Storage type of A / B (f16 needs shader-f16; bf16 is read exactly on any adapter); default f32. */
  aType?: MatmulDType;
  bType?: MatmulDType;
  /** Kernel choice; default by adapter ("direct" on CPU Vulkan, else "tiled"). */
  variant?: "direct" | "tiled";
  /** B (transB) holds 2N rows [gate; up] and C = silu(gate product)·(up product); bias, if any, is [2N]. */
  swiglu?: boolean;
  /** RMSNorm epsilon of the `normWeight` prologue (default 1e-6). */
  normEps?: number;
}

export interface MatmulOperands {
  a: Buf;
  b: Buf;
  c: Buf;
  /** [N] f32 ([2N] with swiglu), added to every row. */
  bias?: Buf;
  /** [M, N] f32 laid out as C (offsetC, ldc, strideC), added to the result (a residual connection). */
  residual?: Buf;
  /** [K] f32: op(A) is RMSNorm(A) with this weight (A stored [M, K], not transA). */
  normWeight?: Buf;
}

/** matmul_direct: invocations per workgroup (WG), rows (TM) and 4-column groups (TG) per invocation. */
const DIRECT_WG = 32;
const DIRECT_TM = 8;
const DIRECT_TG = 2;
/** matmul_tiled's tile of C per workgroup (BM = 16·RT, BN in the kernel). */
const TILED_BM = 128;
const TILED_BN = 64;

/** The floating-point operations of one call: 2·M·N·K per batch item. */
export const matmulFlops = (s: Pick<MatmulShape, "M" | "N" | "K" | "batch">) => 2 * s.M * s.N * s.K * (s.batch ?? 1);

/**
 * Whether the RMSNorm prologue (`normWeight`) pays for a matmul of this shape, against a separate
 * RMSNorm dispatch: always on GPUs, where it is nearly free; on CPU adapters only for small products,
 * since there it adds ~20–25% to the matmul's instructions and a dispatch costs ~0.1–0.2 ms (measured
 * on lavapipe: 16×(2·344)×128 gate/up 0.72 → 0.49 ms fused; 16×(2·4864)×896 57 → 71 ms).
 */
export function normProloguePays(s: Pick<MatmulShape, "M" | "N" | "K">): boolean {
  return !isCpuAdapter() || matmulFlops(s) <= CPU_NORM_PROLOGUE_MAX_FLOPS;
}
const CPU_NORM_PROLOGUE_MAX_FLOPS = 8e6;

/**
 * C = α·op(A)·op(B) (+ bias[N] on every row) (+ residual) (+ C when `accumulate`). Records dispatches only.
 * a: op(A) [M, K] stored [M, K] (or [K, M] with transA); b: op(B) [K, N] stored [K, N] (or [N, K] with
 * transB); c: [M, N] f32; bias: [N] f32. Batched with element strides (0 = broadcast). The fused forms
 * (`normWeight`, `swiglu`) are described on MatmulShape / MatmulOperands.
 */
export function matmul({ a, b, c, bias, residual, normWeight }: MatmulOperands, shape: MatmulShape): void {
  const { M, N, K } = shape;
  const batch = shape.batch ?? 1;
  const transA = shape.transA ?? false;
  const transB = shape.transB ?? false;
  const swiglu = shape.swiglu ?? false;
  const aType = shape.aType ?? "f32";
  const bType = shape.bType ?? "f32";
  checkDims("matmul", { M, N, K, batch });
  for (const [name, t] of [["aType", aType], ["bType", bType]] as const) {
    if (t !== "f32" && t !== "f16" && t !== "bf16") throw new Error(`matmul: ${name} must be "f32", "f16" or "bf16", got ${t}`);
    if (t === "f16" && !gpu().hasF16) throw new Error(`matmul: ${name} "f16" needs the shader-f16 feature, which this adapter lacks`);
  }
  const eA = aType === "f32" ? 4 : 2;
  const eB = bType === "f32" ? 4 : 2;
  // Stored shapes: A [ra, ca], B [rb, cb], C [M, N].
  const [ra, ca] = transA ? [K, M] : [M, K];
  const [rb, cb] = transB ? [(swiglu ? 2 : 1) * N, K] : [K, N];
  const lda = shape.lda ?? ca;
  const ldb = shape.ldb ?? cb;
  const ldc = shape.ldc ?? N;
  const sA = shape.strideA ?? ra * lda;
  const sB = shape.strideB ?? rb * ldb;
  const sC = shape.strideC ?? M * ldc;
  checkDims("matmul", { lda, ldb, ldc }, { lda: ca, ldb: cb, ldc: N });
  checkDims("matmul", { strideA: sA, strideB: sB, strideC: sC }, 0);
  const offsetA = shape.offsetA ?? 0;
  const offsetC = shape.offsetC ?? 0;
  checkDims("matmul", { offsetA, offsetC }, 0);
  if ((offsetA % lda) + ca > lda) throw new Error(`matmul: offsetA ${offsetA} (column ${offsetA % lda}) + ${ca} columns exceeds lda ${lda}`);
  if ((offsetC % ldc) + N > ldc) throw new Error(`matmul: offsetC ${offsetC} (column ${offsetC % ldc}) + ${N} columns exceeds ldc ${ldc}`);
  if (batch > 1 && sC < M * ldc) throw new Error(`matmul: strideC ${sC} makes batch items of C overlap (need ≥ ${M * ldc})`);
  // Elements each operand must hold: the last element of the last batch item, + 1.
  const extent = (rows: number, ld: number, cols: number, stride: number) => (batch - 1) * stride + (rows - 1) * ld + cols;
  const [nA, nB, nC] = [offsetA + extent(ra, lda, ca, sA), extent(rb, ldb, cb, sB), offsetC + extent(M, ldc, N, sC)];
  checkSize("matmul", "a", a, nA, eA);
  checkSize("matmul", "b", b, nB, eB);
  checkSize("matmul", "c", c, nC);
  if (swiglu && !transB) throw new Error("matmul: swiglu needs transB (B holds the [gate; up] rows of a weight [2N, K])");
  if (normWeight && transA) throw new Error("matmul: normWeight (an RMSNorm of A's rows) needs A stored [M, K], not transA");
  const normEps = shape.normEps ?? 1e-6;
  if (normWeight && !(normEps >= 0)) throw new Error(`matmul: normEps must be ≥ 0, got ${normEps}`);
  if (bias) checkSize("matmul", "bias", bias, (swiglu ? 2 : 1) * N);
  if (residual) checkSize("matmul", "residual", residual, nC);
  if (normWeight) checkSize("matmul", "normWeight", normWeight, K);
  checkDistinct("matmul", { c }, { a, b, bias, residual, normWeight });
  const need = { a: nA * eA, b: nB * eB, c: nC * 4 };

  const { limits } = gpu();
  const maxBinding = bindingLimit();
  const variant = shape.variant ?? (isCpuAdapter() ? "direct" : "tiled");
  if (variant !== "direct" && variant !== "tiled") throw new Error(`matmul: variant must be "direct" or "tiled", got ${variant}`);
  const [rowsPerWg, colsPerWg] = variant === "direct" ? [DIRECT_TM, 4 * (swiglu ? 1 : DIRECT_TG) * DIRECT_WG] : [TILED_BM, TILED_BN];
  const maxWg = limits.maxComputeWorkgroupsPerDimension;
  if (batch > maxWg) throw new Error(`matmul: batch ${batch} exceeds maxComputeWorkgroupsPerDimension ${maxWg}`);

  // Windows: an operand over the binding limit is bound in windows of its storage rows (M for A and C,
  // N for Bᵀ, K for Aᵀ and B); every operand with a dimension along a split gets that window's offset.
  // M and N are also split when the grid would exceed the workgroup-count limit.
  const big = { a: need.a > maxBinding, b: need.b > maxBinding, c: need.c > maxBinding };
  if ((big.a || big.b || big.c) && batch > 1) {
    throw new Error(`matmul: an operand exceeds the ${maxBinding}-byte binding limit; windows need batch = 1 (got ${batch})`);
  }
  const split = (total: number, rowBytes: (number | false)[], cap: number) =>
    bindingWindows(total, rowBytes.filter((r): r is number => r !== false), { cap, multiple: 4 });
  const mWin = split(M, [big.a && !transA && lda * eA, big.c && ldc * 4], rowsPerWg * maxWg);
  const nWin = split(N, [big.b && transB && ldb * eB], colsPerWg * maxWg);
  const kWin = split(K, [big.a && transA && lda * eA, big.b && !transB && ldb * eB], Infinity);
  if (normWeight && kWin.length > 1) throw new Error(`matmul: normWeight needs whole rows of A, but B [${K}, ${N}] is bound in ${kWin.length} windows along K`);
  if (swiglu && (nWin.length > 1 || big.b)) throw new Error(`matmul: swiglu needs B [${2 * N}, ${K}] in one binding and one dispatch along N`);

  // vec4 loads need every group of 4 along the contiguous dimensions (and every window offset) aligned.
  const steps = [mWin, nWin, kWin].map((w) => (w.length > 1 ? w[0].rows : 0));
  const vec = [ca, lda, sA, offsetA, cb, ldb, sB, ...steps].every((v) => v % 4 === 0);
  const pipeline = kernel("matmul", {
    entry: variant === "direct" ? "matmul_direct" : "matmul_tiled",
    constants: {
      TRANS_A: +transA,
      TRANS_B: +transB,
      NORM: +(normWeight !== undefined),
      SWIGLU: +swiglu,
      ...(variant === "direct" ? { WG: DIRECT_WG } : {}),
    },
    defines: {
      ENABLE: aType === "f16" || bType === "f16" ? "enable f16;" : "",
      ...loaders("A", aType, vec),
      ...loaders("B", bType, vec),
    },
  });

  const biasBinding: Binding = bias ? { buffer: bias.buffer, offset: 0, size: align4((swiglu ? 2 : 1) * N * 4) } : dummy();
  const normBinding: Binding = normWeight ? { buffer: normWeight.buffer, offset: 0, size: K * 4 } : dummy();
  for (const mw of mWin) {
    for (const nw of nWin) {
      for (const kw of kWin) {
        // Each operand: a window of its storage rows when its row dimension is split, else the whole
        // tensor; the remaining (row, column) start goes into its element offset.
        const A = bind(a, eA, transA ? kw : mw, big.a, lda, offsetA + ca, sA, need.a);
        const B = bind(b, eB, transB ? nw : kw, big.b, ldb, cb, sB, need.b);
        const C = bind(c, 4, mw, big.c, ldc, offsetC + N, sC, need.c);
        const Rb = residual ? bind(residual, 4, mw, big.c, ldc, offsetC + N, sC, need.c).binding : dummy();
        const offA = offsetA + A.rowOffset * lda + (transA ? mw.row0 : kw.row0);
        const offB = B.rowOffset * ldb + (transB ? kw.row0 : nw.row0);
        const offC = offsetC + C.rowOffset * ldc + nw.row0;
        const first = kw.row0 === 0;
        const flags = (shape.accumulate || !first ? 1 : 0) | (bias && first ? 2 : 0) | (residual && first ? 4 : 0);
        const p = params(mw.rows, nw.rows, kw.rows, flags, lda, ldb, ldc, { f: shape.alpha ?? 1 }, sA, sB, sC, nw.row0, offA, offB, offC, { f: normEps });
        const groups: [number, number, number] = [Math.ceil(nw.rows / colsPerWg), Math.ceil(mw.rows / rowsPerWg), batch];
        dispatch(pipeline, [A.binding, B.binding, C.binding, biasBinding, Rb, normBinding], groups, p);
      }
    }
  }

  // The binding of `buf`: rows [w.row0, w.row0 + w.rows) of its storage rows when `windowed`, else the
  // whole tensor, whose row offset w.row0 then goes into the kernel's element offset.
  function bind(buf: Buf, e: number, w: BindingWindow, windowed: boolean, ld: number, cols: number, stride: number, bytes: number) {
    if (!windowed) return { binding: { buffer: buf.buffer, offset: 0, size: align16(bytes) }, rowOffset: w.row0 };
    const offset = w.row0 * ld * e;
    const size = align16(((batch - 1) * stride + (w.rows - 1) * ld + cols) * e);
    return { binding: { buffer: buf.buffer, offset, size: Math.min(size, buf.buffer.size - offset) }, rowOffset: 0 };
  }
}

/** Template definitions of the storage type and load expressions for operand `X` (see the kernel header). */
function loaders(X: "A" | "B", t: MatmulDType, vec: boolean): Record<string, string> {
  if (t === "bf16") {
    if (vec) return { [`${X}_ELEM`]: "vec2<u32>", [`${X}4`]: `bf16x4(${X}[i / 4u])` };
    // Element j of a packed array: the low half of word j/2 for even j; clamped into the binding.
    const el = (j: number) => {
      const idx = j === 0 ? "i" : `min(i + ${j}u, 2u * arrayLength(&${X}) - 1u)`;
      return `bf16at(${X}[${idx} / 2u], ${idx})`;
    };
    return { [`${X}_ELEM`]: "u32", [`${X}4`]: `vec4<f32>(${el(0)}, ${el(1)}, ${el(2)}, ${el(3)})` };
  }
  if (vec) {
    return { [`${X}_ELEM`]: `vec4<${t}>`, [`${X}4`]: `vec4<f32>(${X}[i / 4u])` };
  }
  const el = (j: number) => `f32(${X}[last${X}(i + ${j}u)])`;
  return { [`${X}_ELEM`]: t, [`${X}4`]: `vec4<f32>(f32(${X}[i]), ${el(1)}, ${el(2)}, ${el(3)})` };
}

const align4 = (n: number) => Math.ceil(n / 4) * 4;
const align16 = (n: number) => Math.ceil(n / 16) * 16;

let dummyBuffer: GPUBuffer | undefined;
/** A 16-byte binding for an unused slot (bias, residual, normWeight). */
function dummy(): GPUBuffer {
  dummyBuffer ??= gpu().device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  return dummyBuffer;
}

import { expect, test } from "bun:test";
import { acquire, type Buf, release, setBindingLimit } from "../../src/gpu/buffer.ts";
import { gpu, isCpuAdapter } from "../../src/gpu/device.ts";
import { upload } from "../../src/gpu/recorder.ts";
import { matmul, type MatmulShape } from "../../src/kernels/matmul.ts";
import { fromGpu, randn, relError, setupGpu, toGpu } from "../helpers.ts";
import { fusedLinearRef, matmulRef, roundBf16, roundF16 } from "../reference/matmul.ts";

await setupGpu(); // at load time: the test list depends on the adapter (MAIN below)

// Tolerance: relative error (max abs err / max |ref|) of f32 accumulation against float64, K ≤ 200 here.
const TOL = 1e-5;
// Per-test timeout: lavapipe compiles a matmul pipeline in 1–10 s when the Mesa shader cache is cold
// (~1 s for this whole file once it is warm).
const COMPILE_MS = 120_000;

function toGpuF16(data: ArrayLike<number>): Buf {
  const h = new Float16Array(data.length + (data.length % 2)); // uploads are whole 4-byte words
  h.set(data as ArrayLike<number>);
  const b = acquire(data.length * 2);
  upload(b, h);
  return b;
}

function toGpuBf16(data: ArrayLike<number>): Buf {
  const bits = new Uint16Array(data.length + (data.length % 2)); // uploads are whole 4-byte words
  for (let i = 0; i < data.length; i++) bits[i] = new Uint32Array(Float32Array.of(data[i]).buffer)[0] >>> 16;
  const b = acquire(data.length * 2);
  upload(b, bits);
  return b;
}

const round = (x: Float64Array, t: MatmulShape["aType"]) => (t === "f16" ? roundF16(x) : t === "bf16" ? roundBf16(x) : x);
const toGpuAs = (x: Float64Array, t: MatmulShape["aType"]) => (t === "f16" ? toGpuF16(x) : t === "bf16" ? toGpuBf16(x) : toGpu(x));

/**
 * Runs one matmul on random inputs (C pre-filled, so unwritten and accumulated elements are checked too),
 * optionally under a lowered storage binding limit (`bindingLimit` bytes) so that operands go in windows.
 */
async function check(shape: MatmulShape, opts: { bias?: boolean; seed?: number; bindingLimit?: number } = {}) {
  const { M, N, K, transA = false, transB = false, batch = 1 } = shape;
  const lda = shape.lda ?? (transA ? M : K);
  const ldb = shape.ldb ?? (transB ? K : N);
  const ldc = shape.ldc ?? N;
  const sA = shape.strideA ?? (transA ? K : M) * lda;
  const sB = shape.strideB ?? (transB ? N : K) * ldb;
  const sC = shape.strideC ?? M * ldc;
  const seed = opts.seed ?? M * 7 + N * 13 + K * 17;
  const nA = (shape.offsetA ?? 0) + (batch - 1) * sA + (transA ? K : M) * lda;
  const nB = (batch - 1) * sB + (transB ? N : K) * ldb;
  const nC = (shape.offsetC ?? 0) + (batch - 1) * sC + M * ldc;
  const a = round(randn(nA, seed), shape.aType);
  const b = round(randn(nB, seed + 1), shape.bType);
  const c0 = randn(nC, seed + 2);
  const bias = opts.bias ? randn(N, seed + 3) : undefined;
  const ag = toGpuAs(a, shape.aType);
  const bg = toGpuAs(b, shape.bType);
  const cg = toGpu(c0);
  const biasg = bias && toGpu(bias);
  setBindingLimit(opts.bindingLimit);
  try {
    matmul({ a: ag, b: bg, c: cg, bias: biasg }, shape);
  } finally {
    setBindingLimit(undefined);
  }
  const got = await fromGpu(cg);
  for (const x of [ag, bg, cg, biasg]) if (x) release(x);
  const want = matmulRef(a, b, c0, shape, bias);
  return { got, want, err: relError(got, want) };
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 5],
  [3, 5, 7],
  [17, 33, 9],
  [8, 12, 16], // every dimension a multiple of 4: vec4 loads
  [33, 130, 67],
  [20, 260, 36], // vec4, more than one direct workgroup along N and a K tail-free loop
  [130, 70, 41], // more than one tiled workgroup along M
];
const LAYOUTS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

// The adapter's own kernel (matmul_direct on lavapipe) gets the full matrix: 4 layouts × odd and aligned shapes
// (scalar and vec4 loads), f16, bias, batch, windows. The other kernel gets a subset that still runs each of its
// load paths: NT on aligned shapes (vec4) and TN on odd ones (scalar), since matmul_tiled pipelines take ~8 s
// each to compile on lavapipe with a cold Mesa shader cache.
const MAIN = isCpuAdapter() ? "direct" : "tiled";
const OTHER = MAIN === "direct" ? "tiled" : "direct";

for (const [transA, transB] of LAYOUTS) {
  const layout = `${transA ? "T" : "N"}${transB ? "T" : "N"}`;
  test(`matmul ${MAIN} ${layout} matches f64 on odd and aligned shapes (rel ≤ ${TOL})`, async () => {
    for (const [M, N, K] of SHAPES) {
      const { err } = await check({ M, N, K, transA, transB, variant: MAIN });
      if (!(err <= TOL)) throw new Error(`${MAIN} ${layout} M=${M} N=${N} K=${K}: rel error ${err}`);
    }
  }, COMPILE_MS);
}

test("bias, alpha and accumulate (vec4 and scalar)", async () => {
  for (const [M, N, K] of [[9, 20, 12], [5, 11, 13]]) {
    for (const accumulate of [false, true]) {
      const { err } = await check({ M, N, K, transB: true, alpha: -0.75, accumulate, variant: MAIN }, { bias: true });
      expect(err).toBeLessThan(TOL);
    }
  }
}, COMPILE_MS);

test("batched with strides, broadcast (stride 0) and padded row strides", async () => {
  const variant = MAIN;
  // attention-like: per-batch A, one shared B (stride 0), C rows padded (ldc > N) with a gap between items
  expect((await check({ M: 6, N: 10, K: 8, batch: 3, strideB: 0, ldc: 13, strideC: 90, variant })).err).toBeLessThan(TOL);
  // TN with padded lda/ldb and vec4-aligned strides
  const s: MatmulShape = { M: 8, N: 12, K: 7, transA: true, batch: 2, lda: 12, ldb: 16, strideA: 100, strideB: 128, variant };
  expect((await check(s, { bias: true })).err).toBeLessThan(TOL);
  // NT, odd everything, accumulate
  expect((await check({ M: 5, N: 3, K: 9, transB: true, batch: 4, accumulate: true, variant })).err).toBeLessThan(TOL);
}, COMPILE_MS);

test("column and row slices: A and C start at an element offset (a fused projection's part), windows too", async () => {
  const cases: [MatmulShape, number?][] = [
    [{ M: 7, N: 5, K: 6, ldc: 24, offsetC: 11, accumulate: true }], // dy·… into columns 11..15 of a wider C
    [{ M: 6, N: 3, K: 9, lda: 20, offsetA: 8, transB: true }], // A = columns 8..16 of wider rows (vec4)
    [{ M: 5, N: 4, K: 7, lda: 19, offsetA: 5, transA: true, ldc: 13, offsetC: 9 }], // Aᵀ column slice (TN), C slice
    [{ M: 150, N: 6, K: 8, ldc: 24, offsetC: 10 }, 4096], // C in windows along M, each at the column offset
    [{ M: 4, N: 9, K: 3, offsetC: 2 * 9 }], // rows 2..5 of a [6, 9] C (a projection's rows of a fused weight)
    [{ M: 40, N: 6, K: 8, ldc: 24, offsetC: 3 * 24 + 10 }, 4096], // whole rows and columns skipped, C in windows
  ];
  for (const [s, bindingLimit] of cases) {
    const { err } = await check({ ...s, variant: MAIN }, { bindingLimit });
    if (!(err <= TOL)) throw new Error(`offsets ${JSON.stringify(s)}: rel error ${err}`);
  }
  const a = acquire(4096), b = acquire(4096), c = acquire(4096);
  expect(() => matmul({ a, b, c }, { M: 2, N: 4, K: 2, ldc: 8, offsetC: 5 })).toThrow("matmul: offsetC 5 (column 5) + 4 columns exceeds ldc 8");
}, COMPILE_MS);

test("a residual is read at C's layout: a column slice (offsetC, ldc) of a wider C gets R's same elements added", async () => {
  const shape = { M: 5, N: 6, K: 7, transB: true, ldc: 16, offsetC: 3, variant: MAIN } as const;
  const n = shape.offsetC + shape.M * shape.ldc;
  const [a, w, c0, r] = [randn(35, 1), randn(42, 2), randn(n, 3), randn(n, 4)];
  const g = { a: toGpu(a), b: toGpu(w), c: toGpu(c0), residual: toGpu(r) };
  matmul(g, shape);
  const got = await fromGpu(g.c);
  for (const b of Object.values(g)) release(b);
  const want = matmulRef(a, w, c0, shape);
  for (let m = 0; m < shape.M; m++) for (let j = 0; j < shape.N; j++) want[shape.offsetC + m * shape.ldc + j] += r[shape.offsetC + m * shape.ldc + j];
  expect(relError(got, want)).toBeLessThan(TOL);
}, COMPILE_MS);

test("a result written into a column slice of a wider C leaves the other columns alone", async () => {
  const { got, want } = await check({ M: 7, N: 9, K: 10, ldc: 24, variant: MAIN });
  expect(relError(got, want)).toBeLessThan(TOL); // want keeps c0 outside the slice
}, COMPILE_MS);

test("f16 storage for A or B (weights), f32 accumulate, against f64 of the f16-rounded inputs", async () => {
  if (!gpu().hasF16) return;
  const cases: MatmulShape[] = [
    { M: 9, N: 20, K: 12, transB: true, bType: "f16" }, // vec4<f16> loads
    { M: 7, N: 13, K: 11, transB: true, bType: "f16" }, // scalar f16 loads
    { M: 9, N: 20, K: 12, aType: "f16" },
    { M: 7, N: 13, K: 11, transA: true, aType: "f16", bType: "f16" },
  ];
  for (const s of cases) expect((await check({ ...s, variant: MAIN }, { bias: true })).err).toBeLessThan(TOL);
}, COMPILE_MS);

test("bf16 storage for A or B (weights), read exactly, against f64 of the bf16-rounded inputs", async () => {
  const cases: [MatmulShape, number?][] = [
    [{ M: 9, N: 20, K: 12, transB: true, bType: "bf16" }], // vec2<u32> loads (4 bf16)
    [{ M: 7, N: 13, K: 11, transB: true, bType: "bf16" }], // scalar loads, odd element count
    [{ M: 9, N: 20, K: 12, bType: "bf16" }], // NN (a linear layer's input gradient)
    [{ M: 7, N: 13, K: 11, transA: true, aType: "bf16", bType: "bf16" }],
    [{ M: 6, N: 300, K: 36, transB: true, bType: "bf16" }, 4096], // lm-head-like, Bᵀ in windows
  ];
  for (const [s, bindingLimit] of cases) {
    const { err } = await check({ ...s, variant: MAIN }, { bias: true, bindingLimit });
    if (!(err <= TOL)) throw new Error(`bf16 M=${s.M} N=${s.N} K=${s.K}: rel error ${err}`);
  }
}, COMPILE_MS);

test("operands over the binding limit are split into windows (small binding limit)", async () => {
  const cases: [string, MatmulShape][] = [
    // lm-head-like: B = W [N, K] too big, split along N (f32 and f16)
    ["Bᵀ along N", { M: 6, N: 300, K: 36, transB: true }],
    ["f16 Bᵀ along N", { M: 6, N: 300, K: 36, transB: true, bType: "f16" }],
    // C [M, N] and A [M, K] too big, split along M
    ["A, C along M", { M: 150, N: 20, K: 40 }],
    // B [K, N] too big: split along K, windows accumulate
    ["B along K", { M: 5, N: 40, K: 111 }],
    // Aᵀ [K, M] too big: split along K; odd sizes (scalar loads)
    ["Aᵀ along K", { M: 33, N: 9, K: 61, transA: true }],
  ];
  for (const [what, s] of cases) {
    if ((s.bType === "f16" || s.aType === "f16") && !gpu().hasF16) continue;
    const { err } = await check({ ...s, variant: MAIN }, { bias: true, bindingLimit: 4096 });
    if (!(err <= TOL)) throw new Error(`${MAIN} ${what}: rel error ${err}`);
  }
}, COMPILE_MS);

test(`matmul ${OTHER}: NT aligned (vec4) and TN odd (scalar), with bias, α, accumulate, batch, windows, f16, bf16`, async () => {
  const cases: [string, MatmulShape, number?][] = [
    ["NT", { M: 8, N: 12, K: 16, transB: true }],
    ["NT, several tiles along M and N", { M: 132, N: 68, K: 40, transB: true }],
    ["NT, bias, α, accumulate, batch 2", { M: 20, N: 260, K: 36, transB: true, alpha: -0.75, accumulate: true, batch: 2 }],
    ["NT, Bᵀ in windows", { M: 6, N: 300, K: 36, transB: true }, 4096],
    ["TN 1×1×1", { M: 1, N: 1, K: 1, transA: true }],
    ["TN", { M: 3, N: 5, K: 7, transA: true }],
    ["TN", { M: 33, N: 130, K: 67, transA: true }],
    ["TN, several tiles, accumulate", { M: 130, N: 70, K: 41, transA: true, accumulate: true }],
    ["TN, Aᵀ in windows", { M: 33, N: 9, K: 61, transA: true }, 4096],
    ["NT f16 B", { M: 9, N: 20, K: 12, transB: true, bType: "f16" }],
    ["NT f16 B in windows", { M: 6, N: 300, K: 36, transB: true, bType: "f16" }, 4096],
    ["NT bf16 B (vec2<u32> loads)", { M: 9, N: 20, K: 12, transB: true, bType: "bf16" }],
    ["NN bf16 B, odd (scalar loads)", { M: 7, N: 13, K: 11, bType: "bf16" }],
  ];
  for (const [what, s, bindingLimit] of cases) {
    if (s.bType === "f16" && !gpu().hasF16) continue;
    const { err } = await check({ ...s, variant: OTHER }, { bias: true, bindingLimit });
    if (!(err <= TOL)) throw new Error(`${OTHER} ${what} M=${s.M} N=${s.N} K=${s.K}: rel error ${err}`);
  }
}, COMPILE_MS);

/** One fused linear (NT) on random inputs against fusedLinearRef; C pre-filled (checked when accumulating). */
async function checkFused(
  s: { M: number; N: number; K: number; swiglu?: boolean; accumulate?: boolean; alpha?: number; bType?: "bf16"; variant: "direct" | "tiled" },
  o: { bias?: boolean; residual?: boolean; norm?: boolean },
) {
  const { M, N, K } = s;
  const rows = s.swiglu ? 2 * N : N;
  const seed = M * 3 + N * 5 + K * 7;
  const x = randn(M * K, seed, 2);
  const w = round(randn(rows * K, seed + 1, 0.5), s.bType);
  const c0 = randn(M * N, seed + 2);
  const bias = o.bias ? randn(rows, seed + 3) : undefined;
  const residual = o.residual ? randn(M * N, seed + 4) : undefined;
  const norm = o.norm ? { w: randn(K, seed + 5), eps: 1e-5 } : undefined;
  const g = { a: toGpu(x), b: toGpuAs(w, s.bType), c: toGpu(c0), bias: bias && toGpu(bias), residual: residual && toGpu(residual), normWeight: norm && toGpu(norm.w) };
  matmul(g, { ...s, transB: true, normEps: norm?.eps });
  const got = await fromGpu(g.c);
  for (const b of Object.values(g)) if (b) release(b);
  return relError(got, fusedLinearRef(x, w, c0, s, { bias, residual, norm }));
}

for (const variant of [MAIN, OTHER] as const) {
  test(`matmul ${variant} fused forms: RMSNorm prologue, SwiGLU epilogue, residual, over f32 and bf16 W; odd and aligned shapes (rel ≤ ${TOL})`, async () => {
    // The other kernel (slow to compile on lavapipe) gets one aligned shape spanning several tiles and the
    // combined cases, which still run every fused path.
    const shapes: [number, number, number][] = variant === MAIN ? [[1, 1, 1], [3, 5, 7], [17, 33, 9], [8, 12, 16], [20, 140, 36], [130, 70, 41]] : [[132, 68, 40]];
    for (const [M, N, K] of shapes) {
      const all: [string, Parameters<typeof checkFused>[0], Parameters<typeof checkFused>[1]][] = [
        ["norm", { M, N, K, variant }, { norm: true }],
        ["norm + bias (qkv)", { M, N, K, variant }, { norm: true, bias: true }],
        ["residual + bias (o_proj)", { M, N, K, variant }, { residual: true, bias: true }],
        ["accumulate (x += a·Wᵀ)", { M, N, K, variant, accumulate: true }, {}],
        ["swiglu", { M, N, K, variant, swiglu: true }, {}],
        ["norm + swiglu + bias, α (gate/up)", { M, N, K, variant, swiglu: true, alpha: 0.5 }, { norm: true, bias: true }],
        ["swiglu + residual + accumulate", { M, N, K, variant, swiglu: true, accumulate: true }, { residual: true }],
        ["norm + swiglu + bias, bf16 W (frozen gate/up)", { M, N, K, variant, swiglu: true, bType: "bf16" }, { norm: true, bias: true }],
        ["norm + bias, bf16 W (frozen qkv)", { M, N, K, variant, bType: "bf16" }, { norm: true, bias: true }],
        ["residual + bias, bf16 W (frozen o_proj)", { M, N, K, variant, bType: "bf16" }, { residual: true, bias: true }],
      ];
      for (const [what, s, o] of all.filter(([what]) => variant === MAIN || what.includes("+"))) {
        const err = await checkFused(s, o);
        if (!(err <= TOL)) throw new Error(`${variant} ${what} M=${M} N=${N} K=${K}: rel error ${err}`);
      }
    }
  }, COMPILE_MS);
}

test("fused forms: preconditions are errors naming the operand", () => {
  const a = acquire(256), b = acquire(256), c = acquire(256);
  expect(() => matmul({ a, b, c }, { M: 2, N: 2, K: 2, swiglu: true })).toThrow("matmul: swiglu needs transB");
  expect(() => matmul({ a, b, c, normWeight: b }, { M: 2, N: 2, K: 2, transA: true, transB: true })).toThrow("matmul: normWeight");
  expect(() => matmul({ a, b, c, residual: c }, { M: 2, N: 2, K: 2 })).toThrow("matmul: c must not be the same buffer as residual");
  expect(() => matmul({ a, b, c, bias: acquire(4) }, { M: 2, N: 2, K: 2, transB: true, swiglu: true })).toThrow("matmul: bias has 4 bytes, expected at least 16 (4 elements)");
});

test("shape errors name the argument", () => {
  const a = acquire(64), b = acquire(64), c = acquire(64);
  expect(() => matmul({ a, b, c }, { M: 0, N: 4, K: 4 })).toThrow("matmul: M must be an integer ≥ 1, got 0");
  expect(() => matmul({ a, b, c }, { M: 4, N: 4, K: 8 })).toThrow("matmul: a has 64 bytes, expected at least 128 (32 elements)");
  expect(() => matmul({ a, b, c: a }, { M: 2, N: 2, K: 2 })).toThrow("matmul: c must not be the same buffer as a");
  expect(() => matmul({ a, b, c }, { M: 2, N: 2, K: 2, lda: 1 })).toThrow("matmul: lda must be an integer ≥ 2, got 1");
  expect(() => matmul({ a, b, c }, { M: 2, N: 2, K: 2, variant: "fast" as never })).toThrow("variant");
});

test("lavapipe gets the direct kernel by default", () => {
  if (gpu().info.description.includes("llvmpipe")) expect(isCpuAdapter()).toBe(true);
});

{{ENABLE}}
// Matrix multiply, batched, f32 accumulation:
//
//   C[z] = α · op(A[z]) · op(B[z])  (+ bias, broadcast over rows)  (+ R[z], a residual)  (+ C[z] when accumulating)
//
//   op(A) [M, K]: A [M, K] row-major, or A [K, M] when TRANS_A
//   op(B) [K, N]: B [K, N] row-major, or B [N, K] when TRANS_B   (x·Wᵀ with W [out, in] as HF stores it)
//   C [M, N] f32, row stride ldc; bias [N] f32
//   batch z = wid.z: A, B, C start at offA + z·sA, offB + z·sB, offC + z·sC elements (stride 0 = broadcast);
//   the launcher uses offA/offB/offC/offBias when it splits an operand into binding windows.
//   R [M, N] f32 is laid out as C (offC, sC, ldc): out = x + a·Wᵀ of a residual block in one pass.
//
// Fused variants (override constants; the launcher checks their preconditions):
//   NORM (not TRANS_A): op(A) = RMSNorm(A)·diag(normW), the RMSNorm of each row of A over its K elements,
//     rstd = 1/sqrt(mean(A[m]²) + eps): A's blocks are scaled by normW [K] (loaded once per k step) and each
//     row's product by rstd (matmul_direct sums the squares from the blocks it loads; matmul_tiled re-reads
//     the row when it stores it).
//   SWIGLU (TRANS_B): B holds 2N rows [gate; up], and C[m, n] = silu(g)·u with g, u the products with rows n
//     and N + n (α, and bias [2N] laid out like B's rows, applied to g and u first; then R and C are added).
//
// Bindings: 0 params; 1 A (read); 2 B (read); 3 C (read_write); 4 bias (read), 5 R (read), 6 normW (read)
//   (4–6 are dummies when unused).
// A and B are stored as f32, f16 or bf16 (weights; read as f32). bf16 is packed two per u32 word (element 2j
// in the low half of word j, as in memory) and widened exactly by a shift (bf16at, bf16x4); its vec4 form
// reads one vec2<u32> per 4 elements. Template parameters (src/gpu/kernel.ts): ENABLE ("enable f16;" or ""),
//   A_ELEM/B_ELEM (f32, f16, u32, vec4<f32>, vec4<f16>, vec2<u32>) and A4/B4, the load expressions
//   of ldA4/ldB4. The vec4 form is used when the launcher has checked that every group of 4
//   along a contiguous dimension starts 16-byte aligned (ld, strides, offsets and that dimension all multiples of 4).
//
// The unit of work is a 4×4 block: blockA(m, k) holds op(A)[m..m+3, k..k+3] as 4 columns a_i = op(A)[m+i, k..k+3];
// blockB(k, n) holds op(B)[k..k+3, n..n+3] as 4 columns b_kk = op(B)[k+kk, n..n+3]; the product of row m+i with
// those 4 columns of C is the mat-vec blockB · a_i (16 FMAs). Loads are vec4 along the stored contiguous dimension
// and the block is transposed in registers when the layout stores the other one. Rows/columns past M/N are clamped
// to valid ones (their results are never stored); k past K reads as zero, so any M, N, K ≥ 1 works.
//
// Two entry points, the same math, picked by the launcher (src/kernels/matmul.ts):
//   matmul_tiled (GPUs): 16×16 invocations, each an RT×4 block of C, so a BM×BN = 128×64 tile per workgroup;
//     K is walked in steps of BK = 16, the A and B tiles staged as 4×4 blocks in workgroup memory (12 KiB), one
//     block per invocation per step, then every invocation reads its RT/4 A blocks and 1 B block per 4 k (with
//     SWIGLU a second B tile holds the up rows: 16 KiB of workgroup memory).
//   matmul_direct (CPU Vulkan: lavapipe/llvmpipe): WG = 32 invocations along N, each a TM×(4·TG) = 8×8 block of
//     C (two groups of 4 columns, 4·WG apart, so neighbouring invocations read neighbouring 16 bytes; with SWIGLU
//     the second group is the up rows of the same 4 columns, so a workgroup covers 4·WG columns of C), no
//     workgroup memory. llvmpipe runs a workgroup on one CPU thread, 8 invocations per SIMD vector; it turns every
//     barrier into a coroutine switch and every workgroup-memory load inside a loop into a per-lane scalar loop,
//     so the tiled kernel runs at half this speed there. The TM rows are the same for the whole workgroup, so A is
//     read at dynamically uniform addresses (a scalar load + broadcast) and only B per lane: 32 lane-loads per
//     256 FMAs per invocation and 4 k. 8×8 (64 vec-registers of accumulators) measured best against 8×4, 16×4,
//     4×16, 12×8, 16×8 and 8×12 on 1024³; WG 32, 64, 128 are within noise (32 wastes least on N = 896, 1152).

struct Params {
  M: u32, N: u32, K: u32, flags: u32,     // flags: 1 = accumulate into C, 2 = add bias, 4 = add R
  lda: u32, ldb: u32, ldc: u32, alpha: f32,
  sA: u32, sB: u32, sC: u32, offBias: u32,
  offA: u32, offB: u32, offC: u32, eps: f32,   // eps: NORM's RMSNorm epsilon
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override NORM: bool = false;
override SWIGLU: bool = false;
override WG: u32 = 32;      // matmul_direct: invocations per workgroup
const TM = 8u;              // matmul_direct: rows of C per invocation (multiple of 4)
const TG = 2u;              // matmul_direct: groups of 4 columns per invocation, 4·WG columns apart
const RT = 8u;              // matmul_tiled: rows of C per invocation (multiple of 4)
const BK = 16u;             // matmul_tiled: k per workgroup-memory step (multiple of 4)
const BM = 16u * RT;        // matmul_tiled: tile rows
const BN = 64u;             // matmul_tiled: tile columns (16 invocations × 4)

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<{{A_ELEM}}>;
@group(0) @binding(2) var<storage, read> B: array<{{B_ELEM}}>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> R: array<f32>;
@group(0) @binding(6) var<storage, read> normW: array<f32>;

// Elements i..i+3 as f32 (i % 4 == 0 in the vec4 form; the scalar form clamps i+1..i+3 into the binding).
fn ldA4(i: u32) -> vec4<f32> { return {{A4}}; }
fn ldB4(i: u32) -> vec4<f32> { return {{B4}}; }
fn bf16at(w: u32, i: u32) -> f32 { return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }
fn bf16x4(w: vec2<u32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(vec4<u32>(w.x << 16u, w.x & 0xffff0000u, w.y << 16u, w.y & 0xffff0000u));
}
fn lastA(i: u32) -> u32 { return min(i, arrayLength(&A) - 1u); }
fn lastB(i: u32) -> u32 { return min(i, arrayLength(&B) - 1u); }

// Start of the last group of 4 along a contiguous dimension of length n (clamps a group into range).
fn last4(n: u32) -> u32 { return (n - 1u) & ~3u; }
// Which of k..k+3 are < K: the last block of a K that is not a multiple of 4 reads clamped (valid) elements
// and zeroes them in both operands, so garbage never meets the sum (not even 0·inf).
fn kmask(k: u32) -> vec4<bool> { return vec4(k) + vec4(0u, 1u, 2u, 3u) < vec4(P.K); }

// op(A)[m..m+3, k..k+3] as columns a_i (over k), zero for k ≥ K.
fn blockA(base: u32, m: u32, k: u32) -> mat4x4<f32> {
  var t: mat4x4<f32>;
  if (TRANS_A) { // A [K, M]: rows k..k+3, each a group of 4 along m
    let r = P.K - 1u;
    let i = base + min(m, last4(P.M));
    t = transpose(mat4x4<f32>(ldA4(i + min(k, r) * P.lda), ldA4(i + min(k + 1u, r) * P.lda),
                              ldA4(i + min(k + 2u, r) * P.lda), ldA4(i + min(k + 3u, r) * P.lda)));
  } else {       // A [M, K]: rows m..m+3, each a group of 4 along k
    let r = P.M - 1u;
    let i = base + min(k, last4(P.K));
    t = mat4x4<f32>(ldA4(i + min(m, r) * P.lda), ldA4(i + min(m + 1u, r) * P.lda),
                    ldA4(i + min(m + 2u, r) * P.lda), ldA4(i + min(m + 3u, r) * P.lda));
  }
  let z = vec4(0.0);
  let keep = kmask(k);
  return mat4x4<f32>(select(z, t[0], keep), select(z, t[1], keep), select(z, t[2], keep), select(z, t[3], keep));
}

// op(B)[k..k+3, n..n+3] as columns b_kk (over n), zero for k ≥ K.
fn blockB(base: u32, k: u32, n: u32) -> mat4x4<f32> {
  var t: mat4x4<f32>;
  if (TRANS_B) { // B [N, K]: rows n..n+3, each a group of 4 along k
    let r = P.N - 1u;
    let i = base + min(k, last4(P.K));
    t = transpose(mat4x4<f32>(ldB4(i + min(n, r) * P.ldb), ldB4(i + min(n + 1u, r) * P.ldb),
                              ldB4(i + min(n + 2u, r) * P.ldb), ldB4(i + min(n + 3u, r) * P.ldb)));
  } else {       // B [K, N]: rows k..k+3, each a group of 4 along n
    let r = P.K - 1u;
    let i = base + min(n, last4(P.N));
    t = mat4x4<f32>(ldB4(i + min(k, r) * P.ldb), ldB4(i + min(k + 1u, r) * P.ldb),
                    ldB4(i + min(k + 2u, r) * P.ldb), ldB4(i + min(k + 3u, r) * P.ldb));
  }
  let z = vec4(0.0);
  let keep = kmask(k);
  return mat4x4<f32>(select(z, t[0], keep.x), select(z, t[1], keep.y), select(z, t[2], keep.z), select(z, t[3], keep.w));
}

// NORM: normW[k..k+3] (clamped into range; blockA zeroes columns ≥ K) and a block of op(A) with its
// column k + kk (element kk of every a_i) scaled by it.
fn normW4(k: u32) -> vec4<f32> {
  let c = min(k, last4(P.K));
  let r = P.K - 1u;
  return vec4(normW[c], normW[min(c + 1u, r)], normW[min(c + 2u, r)], normW[min(c + 3u, r)]);
}
fn scaleCols(a: mat4x4<f32>, w: vec4<f32>) -> mat4x4<f32> { return mat4x4<f32>(a[0] * w, a[1] * w, a[2] * w, a[3] * w); }

// NORM (matmul_tiled): 1/sqrt(mean(A[m, :]²) + eps) of row m (clamped to a valid row) of A [M, K].
fn rstdOf(base: u32, m: u32) -> f32 {
  let row = base + min(m, P.M - 1u) * P.lda;
  var ss = vec4(0.0);
  for (var k = 0u; k < P.K; k += 4u) {
    let a = select(vec4(0.0), ldA4(row + min(k, last4(P.K))), kmask(k));
    ss += a * a;
  }
  return inverseSqrt((ss.x + ss.y + ss.z + ss.w) / f32(P.K) + P.eps);
}

// α·acc (+ bias at column n of the bias row block `part`: 0, or 1 for SWIGLU's up rows).
fn scaled(acc: vec4<f32>, n: u32, part: u32) -> vec4<f32> {
  var v = P.alpha * acc;
  if ((P.flags & 2u) != 0u) {
    let b = P.offBias + part * P.N + n;
    v += vec4(bias[min(b, arrayLength(&bias) - 1u)], bias[min(b + 1u, arrayLength(&bias) - 1u)],
              bias[min(b + 2u, arrayLength(&bias) - 1u)], bias[min(b + 3u, arrayLength(&bias) - 1u)]);
  }
  return v;
}

fn silu(g: vec4<f32>) -> vec4<f32> { return g / (1.0 + exp(-g)); }

// C[z, m, n..n+3] = v (+ R) (+ C), storing only columns < N; m < M is the caller's check.
fn store(z: u32, m: u32, n: u32, v: vec4<f32>) {
  let row = P.offC + z * P.sC + m * P.ldc;
  for (var j = 0u; j < 4u; j++) {
    if (n + j < P.N) {
      var x = v[j];
      if ((P.flags & 4u) != 0u) { x += R[row + n + j]; }
      if ((P.flags & 1u) != 0u) { x += C[row + n + j]; }
      C[row + n + j] = x;
    }
  }
}

// The epilogue of the product block acc (and, for SWIGLU, accUp) of row m, columns n..n+3; rstd is NORM's.
fn finish(z: u32, m: u32, n: u32, acc: vec4<f32>, accUp: vec4<f32>, rstd: f32) {
  if (SWIGLU) {
    store(z, m, n, silu(scaled(acc * rstd, n, 0u)) * scaled(accUp * rstd, n, 1u));
  } else {
    store(z, m, n, scaled(acc * rstd, n, 0u));
  }
}

@compute @workgroup_size(WG)
fn matmul_direct(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let z = wid.z;
  let baseA = P.offA + z * P.sA;
  let baseB = P.offB + z * P.sB;
  let m0 = wid.y * TM;                            // uniform over the workgroup
  // Column group g of this invocation: n0 + 4·WG·g; with SWIGLU group 0 is gate and group 1 up of n0.
  let n0 = select(wid.x * WG * TG + lid, wid.x * WG + lid, SWIGLU) * 4u;
  var acc: array<vec4<f32>, TM * TG>;             // acc[g·TM + i]: row m0 + i, column group g
  var ss: array<f32, TM>;                         // NORM: Σ_k A[m0 + i, k]², from the blocks as they are loaded
  for (var k = 0u; k < P.K; k += 4u) {
    var b: array<mat4x4<f32>, TG>;
    if (SWIGLU) {
      b[0] = blockB(baseB, k, n0);
      b[1] = blockB(baseB + P.N * P.ldb, k, n0);
    } else {
      for (var g = 0u; g < TG; g++) { b[g] = blockB(baseB, k, n0 + 4u * WG * g); }
    }
    var w = vec4(1.0);
    if (NORM) { w = normW4(k); }                  // once per k, for all TM rows
    for (var i = 0u; i < TM; i += 4u) {
      var a = blockA(baseA, m0 + i, k);
      if (NORM) {
        ss[i] += dot(a[0], a[0]);
        ss[i + 1u] += dot(a[1], a[1]);
        ss[i + 2u] += dot(a[2], a[2]);
        ss[i + 3u] += dot(a[3], a[3]);
        a = scaleCols(a, w);
      }
      for (var g = 0u; g < TG; g++) {
        acc[g * TM + i] += b[g] * a[0];
        acc[g * TM + i + 1u] += b[g] * a[1];
        acc[g * TM + i + 2u] += b[g] * a[2];
        acc[g * TM + i + 3u] += b[g] * a[3];
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    if (m0 + i < P.M) {
      var rstd = 1.0;
      if (NORM) { rstd = inverseSqrt(ss[i] / f32(P.K) + P.eps); }   // not select(): it evaluates both sides
      if (SWIGLU) {
        finish(z, m0 + i, n0, acc[i], acc[TM + i], rstd);
      } else {
        for (var g = 0u; g < TG; g++) { finish(z, m0 + i, n0 + 4u * WG * g, acc[g * TM + i], vec4(0.0), rstd); }
      }
    }
  }
}

// Tiles in workgroup memory, 4×4 blocks: As[kb][rb] = blockA(m_tile + 4rb, k0 + 4kb), Bs[kb][cb] likewise.
var<workgroup> As: array<mat4x4<f32>, (BK / 4u) * (BM / 4u)>;
var<workgroup> Bs: array<mat4x4<f32>, (BK / 4u) * (BN / 4u)>;
var<workgroup> Bu: array<mat4x4<f32>, (BK / 4u) * (BN / 4u)>;   // SWIGLU: the up rows' tile

@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let z = wid.z;
  let baseA = P.offA + z * P.sA;
  let baseB = P.offB + z * P.sB;
  let mt = wid.y * BM;
  let nt = wid.x * BN;
  let tx = lid3.x;                     // columns nt + 4tx .. +3
  let ty = lid3.y;                     // rows mt + RT·ty .. +RT-1
  const NA = (BK / 4u) * (BM / 4u);
  const NB = (BK / 4u) * (BN / 4u);
  let NT = select(NA + NB, NA + 2u * NB, SWIGLU);
  var acc: array<vec4<f32>, RT>;
  var accUp: array<vec4<f32>, RT>;     // SWIGLU only
  for (var k0 = 0u; k0 < P.K; k0 += BK) {
    for (var t = lid; t < NT; t += 256u) {
      if (t < NA) {
        let kb = t / (BM / 4u);
        let rb = t % (BM / 4u);
        let k = k0 + 4u * kb;
        As[t] = blockA(baseA, mt + 4u * rb, k);
        if (NORM) { As[t] = scaleCols(As[t], normW4(k)); }
      } else if (t < NA + NB) {
        let kb = (t - NA) / (BN / 4u);
        let cb = (t - NA) % (BN / 4u);
        let k = k0 + 4u * kb;
        Bs[t - NA] = blockB(baseB, k, nt + 4u * cb);
      } else {
        let kb = (t - NA - NB) / (BN / 4u);
        let cb = (t - NA - NB) % (BN / 4u);
        let k = k0 + 4u * kb;
        Bu[t - NA - NB] = blockB(baseB + P.N * P.ldb, k, nt + 4u * cb);
      }
    }
    workgroupBarrier();
    for (var kb = 0u; kb < BK / 4u; kb++) {
      let b = Bs[kb * (BN / 4u) + tx];
      var bu = mat4x4<f32>();
      if (SWIGLU) { bu = Bu[kb * (BN / 4u) + tx]; }
      for (var rb = 0u; rb < RT / 4u; rb++) {
        let a = As[kb * (BM / 4u) + ty * (RT / 4u) + rb];
        acc[4u * rb] += b * a[0];
        acc[4u * rb + 1u] += b * a[1];
        acc[4u * rb + 2u] += b * a[2];
        acc[4u * rb + 3u] += b * a[3];
        if (SWIGLU) {
          accUp[4u * rb] += bu * a[0];
          accUp[4u * rb + 1u] += bu * a[1];
          accUp[4u * rb + 2u] += bu * a[2];
          accUp[4u * rb + 3u] += bu * a[3];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RT; i++) {
    let m = mt + ty * RT + i;
    if (m < P.M) {
      var rstd = 1.0;
      if (NORM) { rstd = rstdOf(baseA, m); }
      finish(z, m, nt + 4u * tx, acc[i], accUp[i], rstd);
    }
  }
}

// Rotary position embedding, Hugging Face "rotate half" convention (Llama, Qwen2, Phi-3), applied to
// the q and k heads of the fused q/k/v projection. For i < D/2, the pair (x1, x2) = (x[i], x[i + D/2])
// of every head of token (b, t) turns by
//     θ = f32(pos[b·T + t]) · inv_freq[i]        (an f32 product, as HF's inv_freq ⊗ position_ids)
//   forward:   x1' = x1·c − x2·s,   x2' = x2·c + x1·s    with c = m·cos θ, s = m·sin θ
//   backward:  the same with −θ (the transpose of m times a rotation), on dQ and dK.
// m is the attention factor that HF multiplies cos and sin by (LongRoPE's `attention_scaling`; 1 for
// plain RoPE and llama3 scaling).
// Positions are per token, i32 [B·T]: left-padded rows count from their first real token, and decode
// (T = 1) gives each row its own position.
// One thread per (token, i), WG = 256 (grid folded into y): sin and cos are computed once and applied
// to all Hq + Hkv heads of the token.
//
// Entries:
//   qkv_forward   from the fused projection qkv [B·T, (Hq + 2·Hkv)·D] (rows [q | k | v]): rotated q to q_out
//                 [B·T, Hq·D], rotated k and the copied v to k_out, v_out at element tok·kvStride + kvOffset
//                 of token tok's row (dense [B·T, Hkv·D]: kvStride = Hkv·D, kvOffset = 0; a decode step's
//                 KV-cache slot s of [B, Tmax, Hkv·D]: kvStride = Tmax·Hkv·D, kvOffset = s·Hkv·D, T = 1).
//   qkv_backward  the inverse layout change with −θ: dqkv [B·T, (Hq + 2·Hkv)·D] from dq, dk (rotated back,
//                 times m) and dv (copied), all dense.
// sin/cos: WGSL only specifies its builtins to 2^-11 absolute error on [−π, π], and θ reaches pos
// radians, so sincos() reduces θ by π/2 (Cody–Waite with a 4-part π/2 whose first three parts have
// ≤ 7 significant bits, exact products for |k| < 2^17) and evaluates Cephes' single-precision minimax
// polynomials on [−π/4, π/4]: absolute error < 1e-7 for |θ| < 2^17 (f32 emulation, test/kernels).
//
// Bindings: qkv_forward   0 params, 1 qkv, 2 q_out rw, 3 k_out rw, 4 v_out rw, 5 pos i32 [B·T], 6 inv_freq f32 [D/2]
//           qkv_backward  0 params, 1 dqkv rw, 2 dq, 3 dk, 4 dv, 5 pos, 6 inv_freq

const WG = 256u; // = WG in src/kernels/elementwise.ts (workgroup counts)

// n = B·T·half threads; sign 1 forward, −1 backward; scale = m; kvStride, kvOffset: qkv_forward's
// k_out/v_out placement (see above).
struct Params { n: u32, half: u32, Hq: u32, Hkv: u32, sign: f32, scale: f32, kvStride: u32, kvOffset: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> q_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> k_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_out: array<f32>;
@group(0) @binding(5) var<storage, read> pos: array<i32>;
@group(0) @binding(6) var<storage, read> inv_freq: array<f32>;

@group(0) @binding(1) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(2) var<storage, read> dq: array<f32>;
@group(0) @binding(3) var<storage, read> dk: array<f32>;
@group(0) @binding(4) var<storage, read> dv: array<f32>;

// (sin a, cos a) for an f32 angle a.
fn sincos(a: f32) -> vec2f {
  let j = round(a * 0.63661977236758134);     // nearest multiple of π/2
  var r = a - j * 1.578125;                    // π/2 = 1.578125 − 0.00732421875 − 4.4703484e-6 + 1.5893255e-8
  r = r + j * 0.00732421875;
  r = r + j * 4.470348358154297e-6;
  r = r - j * 1.5893254712295857e-8;           // r ∈ [−π/4, π/4] (a hair more when j rounds)
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (i32(j) & 3) {
    case 0: { return vec2f(s, c); }
    case 1: { return vec2f(c, -s); }
    case 2: { return vec2f(-s, -c); }
    default: { return vec2f(-c, s); }
  }
}

// (sin, cos) of token tok's angle θ for frequency i, times m, the sine times `sign` (−θ backward).
fn angle(tok: u32, i: u32) -> vec2f {
  let sc = sincos(f32(pos[tok]) * inv_freq[i]) * p.scale;
  return vec2f(p.sign * sc.x, sc.y);
}

// (x1, x2) turned by the angle whose (sin, cos) is sc.
fn rotate(x1: f32, x2: f32, sc: vec2f) -> vec2f { return vec2f(x1 * sc.y - x2 * sc.x, x2 * sc.y + x1 * sc.x); }

@compute @workgroup_size(WG)
fn qkv_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (e >= p.n) { return; }
  let tok = e / p.half;
  let i = e - tok * p.half;
  let sc = angle(tok, i);
  let D = 2u * p.half;
  let row = tok * (p.Hq + 2u * p.Hkv) * D;
  for (var h = 0u; h < p.Hq; h++) {
    let src = row + h * D + i;
    let r = rotate(qkv[src], qkv[src + p.half], sc);
    let o = (tok * p.Hq + h) * D + i;
    q_out[o] = r.x;
    q_out[o + p.half] = r.y;
  }
  let kv = tok * p.kvStride + p.kvOffset;
  for (var h = 0u; h < p.Hkv; h++) {
    let src = row + (p.Hq + h) * D + i;
    let r = rotate(qkv[src], qkv[src + p.half], sc);
    let o = kv + h * D + i;
    k_out[o] = r.x;
    k_out[o + p.half] = r.y;
    let vs = src + p.Hkv * D;
    v_out[o] = qkv[vs];
    v_out[o + p.half] = qkv[vs + p.half];
  }
}

@compute @workgroup_size(WG)
fn qkv_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (e >= p.n) { return; }
  let tok = e / p.half;
  let i = e - tok * p.half;
  let sc = angle(tok, i);
  let D = 2u * p.half;
  let row = tok * (p.Hq + 2u * p.Hkv) * D;
  for (var h = 0u; h < p.Hq; h++) {
    let o = (tok * p.Hq + h) * D + i;
    let r = rotate(dq[o], dq[o + p.half], sc);
    let dst = row + h * D + i;
    dqkv[dst] = r.x;
    dqkv[dst + p.half] = r.y;
  }
  for (var h = 0u; h < p.Hkv; h++) {
    let o = (tok * p.Hkv + h) * D + i;
    let r = rotate(dk[o], dk[o + p.half], sc);
    let dst = row + (p.Hq + h) * D + i;
    dqkv[dst] = r.x;
    dqkv[dst + p.half] = r.y;
    let vd = dst + p.Hkv * D;
    dqkv[vd] = dv[o];
    dqkv[vd + p.half] = dv[o + p.half];
  }
}

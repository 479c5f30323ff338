// Rotary position embedding, Hugging Face "rotate half" convention (Llama, Qwen2, Phi-3), in place on
// Q [B, T, Hq, D] and K [B, T, Hkv, D] as the projections produce them. For i < D/2, the pair
// (x1, x2) = (x[i], x[i + D/2]) of every head of token (b, t) turns by
//     θ = f32(pos[b·T + t]) · inv_freq[i]        (an f32 product, as HF's inv_freq ⊗ position_ids)
//   forward:   x1' = x1·c − x2·s,   x2' = x2·c + x1·s    with c = m·cos θ, s = m·sin θ
//   backward:  the same with −θ (the transpose of m times a rotation), on dQ and dK.
// m is the attention factor that HF multiplies cos and sin by (LongRoPE's `attention_scaling`; 1 for
// plain RoPE and llama3 scaling).
// Positions are per token, i32 [B·T]: left-padded rows count from their first real token, and decode
// (T = 1) gives each row its own position.
// One thread per (token, i), WG = 256 (grid folded into y): sin and cos are computed once and applied
// to all Hq + Hkv heads of the token.
// sin/cos: WGSL only specifies its builtins to 2^-11 absolute error on [−π, π], and θ reaches pos
// radians, so sincos() reduces θ by π/2 (Cody–Waite with a 4-part π/2 whose first three parts have
// ≤ 7 significant bits, exact products for |k| < 2^17) and evaluates Cephes' single-precision minimax
// polynomials on [−π/4, π/4]: absolute error < 1e-7 for |θ| < 2^17 (f32 emulation, test/kernels).
//
// Bindings: 0 params, 1 q rw, 2 k rw, 3 pos i32 [B·T], 4 inv_freq f32 [D/2]

const WG = 256u; // = WG in src/kernels/elementwise.ts (workgroup counts)

struct Params { n: u32, half: u32, Hq: u32, Hkv: u32, sign: f32, scale: f32 }   // n = B·T·half threads; scale = m

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<i32>;
@group(0) @binding(4) var<storage, read> inv_freq: array<f32>;

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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (e >= p.n) { return; }
  let tok = e / p.half;
  let i = e - tok * p.half;
  let sc = sincos(f32(pos[tok]) * inv_freq[i]);
  let c = sc.y * p.scale;
  let s = p.sign * (sc.x * p.scale);
  let D = 2u * p.half;
  for (var h = 0u; h < p.Hq; h++) {
    let o = (tok * p.Hq + h) * D + i;
    let x1 = q[o];
    let x2 = q[o + p.half];
    q[o] = x1 * c - x2 * s;
    q[o + p.half] = x2 * c + x1 * s;
  }
  for (var h = 0u; h < p.Hkv; h++) {
    let o = (tok * p.Hkv + h) * D + i;
    let x1 = k[o];
    let x2 = k[o + p.half];
    k[o] = x1 * c - x2 * s;
    k[o + p.half] = x2 * c + x1 * s;
  }
}

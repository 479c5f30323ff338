// SwiGLU, the gated MLP activation of Llama / Qwen2 / Phi-3, over [N, I] (N = B·T, I = intermediate):
//   forward:   h = silu(g) · u,                       silu(g) = g · σ(g)
//   backward:  dg = dh · u · σ(g) · (1 + g·(1 − σ(g))),   du = dh · silu(g)
// gate and up are two [N, I] tensors (Llama's gate_proj and up_proj: entries forward, backward), or
// the two halves of each row of one [N, 2I] tensor as the fused gate_up_proj produces, gate = columns
// [0, I), up = [I, 2I) (entries forward_fused, backward_fused; the gradient has the same layout).
// One thread per element e = n·I + i of the [n, I] rows bound (WG = 256, grid folded into y); the
// launcher dispatches once per binding window of rows when the tensors exceed one binding.
//
// Bindings: forward         1 h rw, 2 g, 3 u          forward_fused   1 h rw, 2 gu
//           backward        1 dg rw, 2 du rw, 3 dh, 4 g, 5 u
//           backward_fused  1 dgu rw, 2 dh, 3 gu

const WG = 256u; // = WG in src/kernels/elementwise.ts (workgroup counts)

struct Params { n: u32, I: u32 }   // n = elements of h in this dispatch (rows · I)

@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read_write> h: array<f32>;
@group(0) @binding(2) var<storage, read> g_f: array<f32>;
@group(0) @binding(3) var<storage, read> u_f: array<f32>;
@group(0) @binding(2) var<storage, read> gu_f: array<f32>;

@group(0) @binding(1) var<storage, read_write> dg: array<f32>;
@group(0) @binding(2) var<storage, read_write> du: array<f32>;
@group(0) @binding(3) var<storage, read> dh: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read_write> dgu: array<f32>;
@group(0) @binding(2) var<storage, read> dh_b: array<f32>;
@group(0) @binding(3) var<storage, read> gu: array<f32>;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }

// (dg, du) for one element.
fn grad(d: f32, gv: f32, uv: f32) -> vec2f {
  let s = sigmoid(gv);
  return vec2f(d * uv * s * (1.0 + gv * (1.0 - s)), d * gv * s);
}

fn index(wid: vec3u, nwg: vec3u, lid: vec3u) -> u32 { return (wid.x + wid.y * nwg.x) * WG + lid.x; }

// Element of a fused [rows, 2I] tensor holding gate element e (up is at + I).
fn fused(e: u32) -> u32 { return e + (e / p.I) * p.I; }

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = index(wid, nwg, lid);
  if (e >= p.n) { return; }
  let gv = g_f[e];
  h[e] = gv * sigmoid(gv) * u_f[e];
}

@compute @workgroup_size(WG)
fn forward_fused(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = index(wid, nwg, lid);
  if (e >= p.n) { return; }
  let k = fused(e);
  let gv = gu_f[k];
  h[e] = gv * sigmoid(gv) * gu_f[k + p.I];
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = index(wid, nwg, lid);
  if (e >= p.n) { return; }
  let r = grad(dh[e], g[e], u[e]);
  dg[e] = r.x;
  du[e] = r.y;
}

@compute @workgroup_size(WG)
fn backward_fused(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = index(wid, nwg, lid);
  if (e >= p.n) { return; }
  let k = fused(e);
  let r = grad(dh_b[e], gu[k], gu[k + p.I]);
  dgu[k] = r.x;
  dgu[k + p.I] = r.y;
}

// Seeded inverted dropout over a flat f32 array of n values: one thread per element, WG = 256,
// workgroups folded into y past 65,535 (element i = (wid.x + wid.y·nwg.x)·WG + lid.x).
//
//   out[i] = x[i] · (keep(seed, o + i) ? scale : 0)     keep = hash(seed, o + i) ≥ threshold
//
// hash is two rounds of the PCG output permutation (pcg_hash, Jarzynski & Olano 2020) over
// (o + i) ^ pcg_hash(seed): a pure function of (seed, element index), so the backward (the same
// kernel over dout with the same seed) and a recomputed forward see the same mask. threshold =
// round(p · 2³²) clamped to 2³² − 1, scale = 1 / (1 − p). The launcher binds windows of x and out
// (o = the window's first element) for tensors over one storage binding.
//
// Bindings: 0 params, 1 out (read_write), 2 x (read).

const WG = 256u; // = WG in src/kernels/launch.ts (workgroup counts)

struct Params { n: u32, o: u32, seed: u32, threshold: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (i >= p.n) { return; }
  let h = pcg_hash((p.o + i) ^ pcg_hash(p.seed));
  out[i] = select(0.0, x[i] * p.scale, h >= p.threshold);
}

// Log-softmax gathered at the targets (the fused classifier of llm.c), forward and backward; one
// workgroup per row. No [N, V] log-probability tensor is ever written.
//
//   z[n, v]      = logits[n, v] / τ_n                       (τ_n = temperature[n], each row its own)
//   lse[n]       = log Σ_v exp(z[n, v])
//   logprob[n]   = z[n, t_n] − lse[n]                       t_n = targets[n]; t_n < 0 (ignore) → 0
//   dlogits[n,v] = dlogprob[n] / τ_n · (1[v = t_n] − exp(z[n, v] − lse[n]))   (0 for ignored rows)
// A per-row temperature lets one pass score a sampled rationale at the sampler's τ and the answer
// after it at 1 (LaTRO's policy log-prob and self-reward). τ_n > 0 (the callers check it).
//
// Shapes: logits, dlogits [N, V] f32; targets [N] i32; temperature, logprob, lse, dlogprob [N] f32.
// Bindings: 0 params {rows, V, row0};
//   lsg_forward:          1 logits (read), 2 targets, 3 temperature, 4 logprob (write), 5 lse (write)
//   lsg_backward:         1 logits (read), 2 targets, 3 temperature, 4 lse, 5 dlogprob, 6 dlogits (write)
//   lsg_backward_inplace: 1 logits (read_write; overwritten by dlogits), 2 targets, 3 temperature,
//                         4 lse, 5 dlogprob
// logits/dlogits are bound as a window of `rows` rows starting at global row `row0` (the launcher
// splits [N, V] tensors above maxStorageBufferBindingSize); the [N] vectors are bound whole and
// indexed by row0 + row. A target ≥ V gives logprob NaN (a visible error rather than a wrong read).
// Work: WG threads per row (row = wid.x + wid.y · nwg.x); thread t visits v = t, t + WG, …
// (coalesced). Forward: one online pass (running max and rescaled sum of exp, one exp per element),
// then a fixed-order tree reduction of the (max, sum) pairs: deterministic. Backward: one pass,
// reading logits once and writing dlogits once (in place when asked: each element is read then
// written by the same thread).

struct Params {
  rows: u32,
  V: u32,
  row0: u32,
}

override WG: u32 = 256; // power of two

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> temperature: array<f32>;
// forward
@group(0) @binding(4) var<storage, read_write> logprob: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse_out: array<f32>;
// backward
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dlogprob: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;
// backward in place
@group(0) @binding(1) var<storage, read_write> logits_io: array<f32>;

const FLT_LOWEST = -3.4028234663852886e38; // a finite stand-in for −inf as the initial max

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

fn rescale(s: f32, m_old: f32, m_new: f32) -> f32 {
  return select(s * exp(m_old - m_new), 0.0, s == 0.0);
}

@compute @workgroup_size(WG)
fn lsg_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let base = row * P.V;
  let n = P.row0 + row;
  let tau = temperature[n];

  var m = FLT_LOWEST;
  var s = 0.0;
  for (var v = t; v < P.V; v += WG) {
    let z = logits[base + v] / tau;
    if (z > m) {
      s = s * exp(m - z) + 1.0;
      m = z;
    } else {
      s += exp(z - m);
    }
  }
  red_m[t] = m;
  red_s[t] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) {
      let m2 = max(red_m[t], red_m[t + k]);
      red_s[t] = rescale(red_s[t], red_m[t], m2) + rescale(red_s[t + k], red_m[t + k], m2);
      red_m[t] = m2;
    }
    workgroupBarrier();
  }

  if (t == 0u) {
    let l = red_m[0] + log(red_s[0]);
    let tgt = targets[n];
    var lp = 0.0;
    if (tgt >= i32(P.V)) {
      let nan_bits = 0x7fc00000u; // a runtime (not const-evaluated) NaN
      lp = bitcast<f32>(nan_bits);
    } else if (tgt >= 0) {
      lp = logits[base + u32(tgt)] / tau - l;
    }
    lse_out[n] = l;
    logprob[n] = lp;
  }
}

// g/τ · (1[v = tgt] − p_v) for one element; g = 0 on ignored rows.
fn grad(z: f32, v: u32, tgt: i32, l: f32, g_tau: f32) -> f32 {
  let p = exp(z - l);
  return g_tau * (select(0.0, 1.0, i32(v) == tgt) - p);
}

// The row's dlogprob/τ, zero for ignored (or invalid) targets.
fn row_scale(n: u32, tgt: i32, tau: f32) -> f32 {
  return select(0.0, dlogprob[n] / tau, tgt >= 0 && tgt < i32(P.V));
}

@compute @workgroup_size(WG)
fn lsg_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let base = row * P.V;
  let n = P.row0 + row;
  let tgt = targets[n];
  let l = lse[n];
  let tau = temperature[n];
  let g_tau = row_scale(n, tgt, tau);
  for (var v = t; v < P.V; v += WG) {
    dlogits[base + v] = grad(logits[base + v] / tau, v, tgt, l, g_tau);
  }
}

@compute @workgroup_size(WG)
fn lsg_backward_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                        @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let base = row * P.V;
  let n = P.row0 + row;
  let tgt = targets[n];
  let l = lse[n];
  let tau = temperature[n];
  let g_tau = row_scale(n, tgt, tau);
  for (var v = t; v < P.V; v += WG) {
    logits_io[base + v] = grad(logits_io[base + v] / tau, v, tgt, l, g_tau);
  }
}

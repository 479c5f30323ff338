{{ENABLE}}
// Token embedding: gather and its deterministic backward (no float atomics).
//   forward:  out[n, c] = W[ids[n], c]      ids i32 [N], W [V, C], out [N, C]; ids outside [0, V)
//             give zero rows. One thread per (n, c), WG = 256, grid folded into y. W may exceed one
//             storage binding (Qwen2.5: 151,936 × 896 × 4 = 544 MB), so the launcher binds W a window
//             of rows [row0, row0 + rows) per dispatch; each dispatch writes the tokens whose id falls
//             in its window (the first also writes the zero rows).
//   backward: dW[v, :] += Σ_{n : ids[n] = v} dout[n, :], every sum in increasing n, in two kernels:
//     rank:    sorted[#{m : (ids[m], m) < (ids[n], n)}] = n, a counting sort of the keys (id, n). The
//              keys are distinct, so the order is unique: no atomics, no ties. Thread n compares its key
//              with tiles of WG ids staged in workgroup memory: N² comparisons (67M at N = 8192).
//     scatter: thread (p, c), where sorted position p starts a run of equal ids v inside the bound dW
//              window, sums dout[sorted[q], c] over the run q = p, p+1, … (so in token order) and adds
//              it to dW[v, c]. ids outside [0, V) are skipped (ids = −1 leaves a token out). The
//              launcher zero-fills dW first unless accumulating.
//
// W's storage (forward only; a frozen table may stay in its checkpoint dtype): template W_ELEM and W_AT,
// the load of element j as f32: f32 (W[j]), f16 (f32(W[j]), ENABLE = "enable f16;"), or bf16 packed two per
// u32 word, element j in the low half of word j/2 for even j, widened exactly by a shift (bf16at).
//
// Bindings: forward  0 params, 1 out rw, 2 ids, 3 W (window)
//           rank     0 params, 1 sorted rw (u32 [N]), 2 ids
//           scatter  0 params, 1 dW rw (window), 2 sorted, 3 ids, 4 dout

const WG = 256u; // = WG in src/kernels/elementwise.ts (workgroup counts)

// n = N·C threads; W / dW window = rows [row0, row0 + rows); first: this dispatch zeroes invalid ids.
struct Params { n: u32, N: u32, C: u32, V: u32, row0: u32, rows: u32, first: u32 }

@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> ids_f: array<i32>;
@group(0) @binding(3) var<storage, read> W: array<{{W_ELEM}}>;

@group(0) @binding(1) var<storage, read_write> sorted_out: array<u32>;
@group(0) @binding(2) var<storage, read> ids_r: array<i32>;

@group(0) @binding(1) var<storage, read_write> dW: array<f32>;
@group(0) @binding(2) var<storage, read> sorted: array<u32>;
@group(0) @binding(3) var<storage, read> ids: array<i32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;

var<workgroup> tile: array<i32, WG>;

fn bf16at(w: u32, j: u32) -> f32 { return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (j & 1u) == 1u)); }

fn in_window(v: i32) -> bool {
  return v >= 0 && u32(v) < p.V && u32(v) >= p.row0 && u32(v) < p.row0 + p.rows;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (e >= p.n) { return; }
  let n = e / p.C;
  let c = e - n * p.C;
  let v = ids_f[n];
  if (in_window(v)) {
    let j = (u32(v) - p.row0) * p.C + c;
    out[e] = {{W_AT}};
  } else if (p.first != 0u && (v < 0 || u32(v) >= p.V)) {
    out[e] = 0.0;
  }
}

@compute @workgroup_size(WG)
fn rank(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let base = (wid.x + wid.y * nwg.x) * WG;
  if (base >= p.N) { return; }
  let n = base + lid.x;
  let me = ids_r[min(n, p.N - 1u)];
  var count = 0u;
  for (var m0 = 0u; m0 < p.N; m0 += WG) {
    tile[lid.x] = ids_r[min(m0 + lid.x, p.N - 1u)];
    workgroupBarrier();
    let len = min(WG, p.N - m0);
    for (var j = 0u; j < len; j++) {
      let o = tile[j];
      if (o < me || (o == me && m0 + j < n)) { count++; }
    }
    workgroupBarrier();
  }
  if (n < p.N) { sorted_out[count] = n; }
}

@compute @workgroup_size(WG)
fn scatter(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let e = (wid.x + wid.y * nwg.x) * WG + lid.x;
  if (e >= p.n) { return; }
  let q0 = e / p.C;
  let c = e - q0 * p.C;
  let v = ids[sorted[q0]];
  if (!in_window(v) || (q0 > 0u && ids[sorted[q0 - 1u]] == v)) { return; }
  var s = 0.0;
  for (var q = q0; q < p.N; q++) {
    let n = sorted[q];
    if (ids[n] != v) { break; }
    s += dout[n * p.C + c];
  }
  dW[(u32(v) - p.row0) * p.C + c] += s;
}

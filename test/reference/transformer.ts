// A plain float64 Llama-style transformer on the CPU: the reference the GPU model, its autograd and
// generation are checked against. Written for clarity, not speed (tiny shapes only).
//   weights: the model's parameter names (weights.ts parameterSpecs: q/k/v and gate/up fused) → Float64Array
//   (row-major, HF shapes); tokens: [B, T] left-padded.
export interface RefConfig {
  V: number;
  C: number;
  I: number;
  L: number;
  Hq: number;
  Hkv: number;
  D: number;
  eps: number;
  theta: number;
  tied: boolean;
  qkvBias: boolean;
}

export type RefWeights = Map<string, Float64Array>;

/** y[n, o] = Σ_i x[n, i] W[o, i] + b[o] */
function linear(x: Float64Array, N: number, In: number, w: Float64Array, Out: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(N * Out);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < In; i++) s += x[n * In + i] * w[o * In + i];
      y[n * Out + o] = s;
    }
  }
  return y;
}

function rmsnorm(x: Float64Array, N: number, C: number, w: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[n * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[n * C + c] = x[n * C + c] * r * w[c];
  }
  return y;
}

/** Hugging Face rotate-half RoPE on [N, H, D] rows at positions pos[n]. */
function rope(x: Float64Array, N: number, H: number, D: number, pos: Int32Array, theta: number): void {
  const half = D / 2;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      const o = (n * H + h) * D;
      for (let i = 0; i < half; i++) {
        const ang = pos[n] * Math.fround(1 / theta ** ((2 * i) / D));
        const [c, s] = [Math.cos(ang), Math.sin(ang)];
        const a = x[o + i];
        const b = x[o + i + half];
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}

export interface RefBatch {
  B: number;
  T: number;
  tokens: Int32Array;
  pad: number;
}

/** Per-position log-prob of the next token [B·T] (0 at the last position and at pad targets). */
export function refLogprobs(cfg: RefConfig, w: RefWeights, batch: RefBatch): Float64Array {
  const { B, T, tokens, pad } = batch;
  const { C, Hq, Hkv, D, V } = cfg;
  const N = B * T;
  const validStart = new Int32Array(B);
  const pos = new Int32Array(N);
  for (let b = 0; b < B; b++) {
    let t0 = 0;
    while (t0 < T && tokens[b * T + t0] === pad) t0++;
    validStart[b] = t0;
    for (let t = t0; t < T; t++) pos[b * T + t] = t - t0;
  }
  const g = (n: string) => {
    const x = w.get(n);
    if (!x) throw new Error(`reference: no weight ${n}`);
    return x;
  };
  let x = new Float64Array(N * C);
  const emb = g("model.embed_tokens.weight");
  for (let n = 0; n < N; n++) {
    const id = tokens[n] === pad ? 0 : tokens[n];
    for (let c = 0; c < C; c++) x[n * C + c] = emb[id * C + c];
  }
  for (let l = 0; l < cfg.L; l++) {
    const p = `model.layers.${l}.`;
    const h = rmsnorm(x, N, C, g(`${p}input_layernorm.weight`), cfg.eps);
    // The fused parameters' HF parts: rows [q; k; v] of qkv_proj, [gate; up] of gate_up_proj.
    const qkvW = g(`${p}self_attn.qkv_proj.weight`);
    const qkvB = w.get(`${p}self_attn.qkv_proj.bias`);
    const [QD, KD] = [Hq * D, Hkv * D];
    const rowsOf = (m: Float64Array, r0: number, r1: number, cols: number) => m.subarray(r0 * cols, r1 * cols);
    const q = linear(h, N, C, rowsOf(qkvW, 0, QD, C), QD, qkvB && rowsOf(qkvB, 0, QD, 1));
    const k = linear(h, N, C, rowsOf(qkvW, QD, QD + KD, C), KD, qkvB && rowsOf(qkvB, QD, QD + KD, 1));
    const v = linear(h, N, C, rowsOf(qkvW, QD + KD, QD + 2 * KD, C), KD, qkvB && rowsOf(qkvB, QD + KD, QD + 2 * KD, 1));
    rope(q, N, Hq, D, pos, cfg.theta);
    rope(k, N, Hkv, D, pos, cfg.theta);
    const a = new Float64Array(N * Hq * D);
    const scale = 1 / Math.sqrt(D);
    for (let b = 0; b < B; b++) {
      for (let hh = 0; hh < Hq; hh++) {
        const kh = Math.floor(hh / (Hq / Hkv));
        for (let i = validStart[b]; i < T; i++) {
          const qo = ((b * T + i) * Hq + hh) * D;
          const scores: number[] = [];
          for (let j = validStart[b]; j <= i; j++) {
            const ko = ((b * T + j) * Hkv + kh) * D;
            let s = 0;
            for (let d = 0; d < D; d++) s += q[qo + d] * k[ko + d];
            scores.push(s * scale);
          }
          const m = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - m));
          const z = e.reduce((s, y) => s + y, 0);
          for (let j = validStart[b]; j <= i; j++) {
            const vo = ((b * T + j) * Hkv + kh) * D;
            const pj = e[j - validStart[b]] / z;
            for (let d = 0; d < D; d++) a[qo + d] += pj * v[vo + d];
          }
        }
      }
    }
    const o = linear(a, N, Hq * D, g(`${p}self_attn.o_proj.weight`), C);
    x = x.map((xi, i) => xi + o[i]);
    const h2 = rmsnorm(x, N, C, g(`${p}post_attention_layernorm.weight`), cfg.eps);
    const gateUp = g(`${p}mlp.gate_up_proj.weight`);
    const gate = linear(h2, N, C, rowsOf(gateUp, 0, cfg.I, C), cfg.I);
    const up = linear(h2, N, C, rowsOf(gateUp, cfg.I, 2 * cfg.I, C), cfg.I);
    const m = gate.map((gi, i) => (gi / (1 + Math.exp(-gi))) * up[i]);
    const down = linear(m, N, cfg.I, g(`${p}mlp.down_proj.weight`), C);
    x = x.map((xi, i) => xi + down[i]);
  }
  const hf = rmsnorm(x, N, C, g("model.norm.weight"), cfg.eps);
  const logits = linear(hf, N, C, cfg.tied ? emb : g("lm_head.weight"), V);
  const out = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let t = validStart[b]; t < T - 1; t++) {
      const n = b * T + t;
      const row = logits.subarray(n * V, (n + 1) * V);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, y) => s + Math.exp(y - m), 0));
      out[n] = row[tokens[n + 1]] - lse;
    }
  }
  return out;
}

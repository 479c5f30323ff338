// The state of a batched decode: every layer's rotated keys and values [B, Tmax, Hkv·D], the rows'
// first real slots and positions, and the buffers one decode step writes (one token per row). All of
// it is allocated once, when the cache is made, so decode steps reuse the same buffers; the owner
// calls `dispose()`.
//
// Rows are left-padded to one prompt length, so every row has the same number of filled slots
// (`length`); row r attends to slots validStart[r] ≤ j < length, and its next token's position is
// length − validStart[r]. A prefill may fill the cache from fewer prompts than rows: with `repeats`
// K, prompt p fills rows p·K … p·K + K − 1 (the rloo_k samples of one prompt share its prefill).
// `keepRows` moves some rows to a smaller cache (generation drops the rows that have stopped); it
// keeps `planRows`, the batch the decode kernels are planned for, so every kept row's arithmetic, and
// with it its tokens and log-probs, is what it would have been in the full batch.
import { Tensor } from "../autograd/tensor.ts";
import { stridedCopy } from "../kernels/copy.ts";
import { embeddingForward } from "../kernels/embedding.ts";
import { upload } from "../gpu/recorder.ts";
import { checkSequenceLength, type ModelConfig } from "./config.ts";

/** What a decode step writes, [B, ·] per row. */
export interface DecodeScratch {
  /** The residual stream. */
  x: Tensor;
  /** An RMSNorm's output [B, C] (the final one; the layers' where not fused) and 1/rms [B] (unused). */
  h: Tensor;
  rstd: Tensor;
  /** The fused q/k/v projection [B, (Hq + 2·Hkv)·D]. */
  qkv: Tensor;
  /** Rotated queries [B, Hq·D] (the keys and values go to the cache). */
  q: Tensor;
  /** Attention output [B, Hq·D]. */
  a: Tensor;
  /** swiglu(gate, up) [B, I]. */
  m: Tensor;
  logits: Tensor;
  /** x·Aᵀ [B, r] of an adapted projection (LoRA models only). */
  lora?: Tensor;
  /** [gate | up] [B, 2I] before the SwiGLU when gate/up is adapted (LoRA models only). */
  gateUp?: Tensor;
}

export class KVCache {
  /** Per layer, [B, Tmax, Hkv·D]. */
  readonly keys: Tensor[];
  readonly values: Tensor[];
  /** [B] i32: each row's first real slot. */
  readonly validStart: Tensor;
  /** [B] i32: the position of each row's next token (uploaded before each decode step). */
  readonly positions: Tensor;
  readonly scratch: DecodeScratch;
  /** Filled slots (the same for every row). */
  length = 0;
  /**
   * Positions the longest row spans when every slot is filled (Tmax − min validStart): what LongRoPE
   * picks its factor set by, for the prefill and every decode step (README, "Phi-3.5 and LongRoPE").
   */
  ropeLength = 0;
  private readonly validStartHost: Int32Array;
  private readonly positionsHost: Int32Array;
  private readonly rowDim: number;
  /** Rows per prompt of the current prefill. */
  private repeats = 1;
  private disposed = false;

  constructor(
    private readonly config: ModelConfig,
    readonly B: number,
    readonly Tmax: number,
    /** LoRA rank of the model's adapters, for their decode scratch; none without LoRA. */
    private readonly loraRank?: number,
    /** Rows the decode kernels' work split is chosen for (default B; see the header). */
    readonly planRows = B,
  ) {
    for (const [k, v] of Object.entries({ B, Tmax, planRows })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`KVCache: ${k} must be a positive integer, got ${v}`);
    }
    checkSequenceLength(config, Tmax);
    const { numLayers: L, numKvHeads, numHeads, headDim: D, hiddenSize: C, intermediateSize: I, vocabSize: V } = config;
    this.rowDim = numKvHeads * D;
    const kept = (shape: number[], dtype: "f32" | "i32" = "f32") => new Tensor(shape, dtype).keep();
    this.keys = Array.from({ length: L }, () => kept([B, Tmax, this.rowDim]));
    this.values = Array.from({ length: L }, () => kept([B, Tmax, this.rowDim]));
    this.validStart = kept([B], "i32");
    this.positions = kept([B], "i32");
    this.validStartHost = new Int32Array(B);
    this.positionsHost = new Int32Array(B);
    this.scratch = {
      x: kept([B, C]),
      h: kept([B, C]),
      rstd: kept([B]),
      qkv: kept([B, (numHeads + 2 * numKvHeads) * D]),
      q: kept([B, numHeads * D]),
      a: kept([B, numHeads * D]),
      m: kept([B, I]),
      logits: kept([B, V]),
      ...(loraRank ? { lora: kept([B, loraRank]), gateUp: kept([B, 2 * I]) } : {}),
    };
  }

  /**
   * Starts a prefill of `T` slots from prompts whose first real tokens are `validStart` [B / repeats]:
   * row r takes prompt ⌊r / repeats⌋.
   */
  begin(validStart: Int32Array, T: number, repeats: number): void {
    this.checkLive("begin");
    if (!Number.isInteger(repeats) || repeats < 1 || validStart.length * repeats !== this.B) {
      throw new Error(`KVCache.begin: ${validStart.length} prompts × repeats ${repeats} do not fill the cache's ${this.B} rows`);
    }
    if (!Number.isInteger(T) || T < 1 || T > this.Tmax) throw new Error(`KVCache.begin: prompt length ${T} must be in [1, Tmax = ${this.Tmax}]`);
    for (let r = 0; r < this.B; r++) this.validStartHost[r] = validStart[Math.floor(r / repeats)];
    upload(this.validStart.buf, this.validStartHost);
    this.length = T;
    this.ropeLength = this.Tmax - Math.min(...validStart);
    this.repeats = repeats;
  }

  /** Prefill: layer `layer`'s keys and values [P·T, Hkv·D] (P = B / repeats) fill slots [0, T) of their rows. */
  store(layer: number, k: Tensor, v: Tensor): void {
    const P = this.B / this.repeats;
    const cols = this.length * this.rowDim;
    if (k.size !== P * cols || v.size !== P * cols) {
      throw new Error(`KVCache.store: keys [${k.shape}] and values [${v.shape}] are not [${P}·${this.length}, ${this.rowDim}]`);
    }
    for (let j = 0; j < this.repeats; j++) {
      const rows = { rows: P, cols, srcStride: cols, dstStride: this.repeats * this.Tmax * this.rowDim, dstOffset: j * this.Tmax * this.rowDim };
      stridedCopy(k.buf, this.keys[layer].buf, rows);
      stridedCopy(v.buf, this.values[layer].buf, rows);
    }
  }

  /** Decode: sets the positions of the token about to go to slot `length`. */
  beginStep(): void {
    this.checkLive("decode step");
    if (this.length >= this.Tmax) throw new Error(`KVCache: all ${this.Tmax} slots are filled`);
    for (let r = 0; r < this.B; r++) this.positionsHost[r] = this.length - this.validStartHost[r];
    upload(this.positions.buf, this.positionsHost);
  }

  /** Decode: the step's token is in slot `length`; the next goes after it. */
  endStep(): void {
    this.length++;
  }

  /**
   * A cache holding rows `rows` of this one (in that order) with their filled slots, planned for the
   * same batch (`planRows`); this cache is disposed. The rows are gathered on the device, whole.
   */
  keepRows(rows: readonly number[]): KVCache {
    this.checkLive("keepRows");
    if (rows.length === 0 || rows.some((r, i) => !Number.isInteger(r) || r < 0 || r >= this.B || (i > 0 && r <= rows[i - 1]))) {
      throw new Error(`KVCache.keepRows: rows must be increasing indices in [0, ${this.B}), got [${rows}]`);
    }
    const kept = new KVCache(this.config, rows.length, this.Tmax, this.loraRank, this.planRows);
    const ids = Tensor.fromArray(rows, [rows.length], "i32");
    // A row gather is the embedding kernel's forward over rows of Tmax·Hkv·D values.
    const shape = { N: rows.length, V: this.B, C: this.Tmax * this.rowDim };
    for (let l = 0; l < this.keys.length; l++) {
      embeddingForward(kept.keys[l].buf, ids.buf, this.keys[l].buf, shape);
      embeddingForward(kept.values[l].buf, ids.buf, this.values[l].buf, shape);
    }
    ids.release();
    rows.forEach((r, i) => (kept.validStartHost[i] = this.validStartHost[r]));
    upload(kept.validStart.buf, kept.validStartHost);
    kept.length = this.length;
    kept.ropeLength = this.ropeLength;
    this.dispose();
    return kept;
  }

  /** Releases every buffer of the cache. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [...this.keys, ...this.values, this.validStart, this.positions, ...Object.values(this.scratch)]) t.release();
  }

  private checkLive(what: string): void {
    if (this.disposed) throw new Error(`KVCache: ${what} after dispose()`);
  }
}

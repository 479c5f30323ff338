// Assembles the scored sequences x ⊕ z ⊕ y of one rollout batch, as the original's `train` does:
// queries (left-padded) ⊕ truncated rationales (right-padded) ⊕ answers (right-padded), then every
// pad moved to the left of its row (`pad_mask_rearrange`, the AssemblyScript glue), so each row ends
// with its answer and the rationale sits just before it. Columns that are pad in every row are then
// dropped (the original keeps them): a batch, and each micro-batch `selectRows` takes from it, is as
// long as its longest x ⊕ z ⊕ y, not qLen + response_length + the longest y. Leading pads change no
// log-prob (positions count from a row's first real token; attention ignores keys before it).
//
// Position t of a row holds token s[t]; the model's output at t − 1 scores s[t]. Hence for row i:
//   log π(z|x)   = Σ_{t ∈ z range} logprob[t − 1]
//   log π(y|x⊕z) = Σ_{t ∈ y range} logprob[t − 1]
// and the update's per-token loss weights sit at the same t − 1 positions.
import { padMaskRearrange } from "../glue/tokens.ts";

export interface AssembledBatch {
  /** [rows, len] token ids, left-padded. */
  tokens: Int32Array;
  rows: number;
  /** The longest row's real token count (so some row starts at column 0). */
  len: number;
  /** The pad id: every row is left-padded with it. */
  pad: number;
  /** Per row: z occupies [len − answerLen − rationaleLen, len − answerLen), y the last answerLen positions. */
  rationaleLen: Int32Array;
  answerLen: Int32Array;
}

/**
 * queries: [rows, qLen] left-padded; rationales: [rows, zLen] truncated (pads after the cut), with
 * rationaleLen[i] real tokens; answers: per row, the token ids of y (end token included).
 */
export function assembleSequences(
  queries: Int32Array,
  qLen: number,
  rationales: Int32Array,
  zLen: number,
  rationaleLen: Int32Array,
  answers: readonly Int32Array[],
  pad: number,
): AssembledBatch {
  const rows = answers.length;
  if (queries.length !== rows * qLen) throw new Error(`assembleSequences: queries has ${queries.length} ids, expected ${rows}×${qLen}`);
  if (rationales.length !== rows * zLen) throw new Error(`assembleSequences: rationales has ${rationales.length} ids, expected ${rows}×${zLen}`);
  const yLen = Math.max(...answers.map((a) => a.length));
  const len = qLen + zLen + yLen;
  const raw = new Int32Array(rows * len).fill(pad);
  const answerLen = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    if (queries[(i + 1) * qLen - 1] === pad) {
      throw new Error(`assembleSequences: query ${i} ends with pad ${pad}; queries must be left-padded with at least one real token`);
    }
    const row = i * len;
    raw.set(queries.subarray(i * qLen, (i + 1) * qLen), row);
    raw.set(rationales.subarray(i * zLen, i * zLen + rationaleLen[i]), row + qLen);
    raw.set(answers[i], row + qLen + rationaleLen[i]);
    answerLen[i] = answers[i].length;
  }
  return trimmed(padMaskRearrange(raw, rows, len, pad), rows, len, pad, Int32Array.from(rationaleLen), answerLen);
}

/** The batch without the leading columns that are pad in every row. */
function trimmed(tokens: Int32Array, rows: number, len: number, pad: number, rationaleLen: Int32Array, answerLen: Int32Array): AssembledBatch {
  let drop = len;
  for (let i = 0; i < rows && drop > 0; i++) {
    let p = 0;
    while (p < drop && tokens[i * len + p] === pad) p++;
    drop = p;
  }
  const kept = len - drop;
  const out = drop === 0 ? tokens : new Int32Array(rows * kept);
  if (drop > 0) for (let i = 0; i < rows; i++) out.set(tokens.subarray(i * len + drop, (i + 1) * len), i * kept);
  return { tokens: out, rows, len: kept, pad, rationaleLen, answerLen };
}

/** Per-row sums of token log-probs over the rationale and the answer ranges. */
export function sequenceLogprobs(b: AssembledBatch, logprobs: Float32Array): { rationale: Float64Array; answer: Float64Array } {
  const rationale = new Float64Array(b.rows);
  const answer = new Float64Array(b.rows);
  for (let i = 0; i < b.rows; i++) {
    const row = i * b.len;
    const yStart = b.len - b.answerLen[i];
    const zStart = yStart - b.rationaleLen[i];
    for (let t = zStart; t < yStart; t++) rationale[i] += logprobs[row + t - 1];
    for (let t = yStart; t < b.len; t++) answer[i] += logprobs[row + t - 1];
  }
  return { rationale, answer };
}

/** The loss gradient with respect to every position's log-prob: rationale / answer weight per row, else 0. */
export function tokenLossWeights(b: AssembledBatch, rationaleWeights: ArrayLike<number>, answerWeights: ArrayLike<number>): Float32Array {
  const w = new Float32Array(b.rows * b.len);
  for (let i = 0; i < b.rows; i++) {
    const row = i * b.len;
    const yStart = b.len - b.answerLen[i];
    const zStart = yStart - b.rationaleLen[i];
    for (let t = zStart; t < yStart; t++) w[row + t - 1] = rationaleWeights[i];
    for (let t = yStart; t < b.len; t++) w[row + t - 1] = answerWeights[i];
  }
  return w;
}

/**
 * Per position, the temperature its target is scored at: `temperature` where the target is a
 * rationale token (the distribution the sampler drew z from, so log π(z|x) is on-policy), 1 where
 * it is an answer token (the self-reward log π(y|x⊕z) and the SFT term) and elsewhere.
 */
export function tokenTemperatures(b: AssembledBatch, temperature: number): Float32Array {
  const tau = new Float32Array(b.rows * b.len).fill(1);
  for (let i = 0; i < b.rows; i++) {
    const yStart = b.len - b.answerLen[i];
    tau.fill(temperature, i * b.len + yStart - b.rationaleLen[i] - 1, i * b.len + yStart - 1);
  }
  return tau;
}

/** Real (non-pad) tokens per row: the row's x ⊕ z ⊕ y, right-aligned after its left pads. */
export function rowLengths(b: AssembledBatch): Int32Array {
  return Int32Array.from({ length: b.rows }, (_, i) => {
    let p = 0;
    while (p < b.len && b.tokens[i * b.len + p] === b.pad) p++;
    return b.len - p;
  });
}

/** Rows `idx` of the batch (a micro-batch), as long as its longest row. */
export function selectRows(b: AssembledBatch, idx: readonly number[]): AssembledBatch {
  const tokens = new Int32Array(idx.length * b.len);
  idx.forEach((r, j) => tokens.set(b.tokens.subarray(r * b.len, (r + 1) * b.len), j * b.len));
  const rationaleLen = Int32Array.from(idx, (r) => b.rationaleLen[r]);
  const answerLen = Int32Array.from(idx, (r) => b.answerLen[r]);
  return trimmed(tokens, idx.length, b.len, b.pad, rationaleLen, answerLen);
}

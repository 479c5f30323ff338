// llama2.c → HF conversion of stories260K: config, weights (q/k RoPE permutation checked by rotating
// both layouts), and the converted tokenizer.json against llama2.c's own encode algorithm.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openHfDir } from "../../src/model/hfdir.ts";
import { convertLlama2c, parseLlama2cVocab, readLlama2cHeader, type Llama2cVocab } from "../../src/model/llama2c.ts";
import { readTensors } from "../../src/model/safetensors.ts";
import { loadTokenizer, type Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { rng } from "../helpers.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/stories260k");
const BIN = join(FIXTURES, "stories260K.bin");
const TOK = join(FIXTURES, "tok512.bin");
const root = mkdtempSync(join(tmpdir(), "latro-llama2c-"));
const out = join(root, "stories260k-hf");
let tokenizer: Tokenizer;
let vocab: Llama2cVocab;

beforeAll(async () => {
  await convertLlama2c(BIN, TOK, out);
  tokenizer = await loadTokenizer(out);
  vocab = parseLlama2cVocab(await Bun.file(TOK).bytes(), 512, TOK);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("model", () => {
  test("config", async () => {
    const { config } = await openHfDir(out);
    expect(config).toMatchObject({
      architecture: "LlamaForCausalLM",
      vocabSize: 512,
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      maxPositionEmbeddings: 512,
      tieWordEmbeddings: true,
      bosTokenId: 1,
      eosTokenIds: [2],
      torchDtype: "float32",
    });
  });

  test("weights: copied unchanged except q/k, whose rows are permuted so rotate-half RoPE equals llama2.c's", async () => {
    const raw = new Float32Array((await Bun.file(BIN).arrayBuffer()).slice(28));
    const [V, dim, L, kv, hid] = [512, 64, 5, 32, 172];
    const at = { emb: 0, rmsAtt: V * dim, wq: V * dim + L * dim };
    const wk = at.wq + L * dim * dim;
    const w = new Map<string, Float32Array>();
    for await (const t of readTensors(out)) w.set(t.name, t.data); // the checkpoint's own tensors (HF names)
    expect(w.size).toBe(1 + 5 * 9 + 1);
    expect(w.has("lm_head.weight")).toBe(false);
    expect(w.get("model.embed_tokens.weight")).toEqual(raw.subarray(0, V * dim));
    expect(w.get("model.layers.1.input_layernorm.weight")).toEqual(raw.subarray(at.rmsAtt + dim, at.rmsAtt + 2 * dim));
    const w1 = wk + 2 * L * kv * dim + L * dim * dim + L * dim; // after wk, wv, wo, rms_ffn
    expect(w.get("model.layers.0.mlp.gate_proj.weight")).toEqual(raw.subarray(w1, w1 + hid * dim));

    // One position's q and k through both layouts: the rotated vectors must be the same numbers, reordered.
    const x = Float32Array.from({ length: dim }, (_, i) => Math.sin(i + 1));
    const matvec = (m: Float32Array, rows: number) => Float64Array.from({ length: rows }, (_, r) => m.subarray(r * dim, (r + 1) * dim).reduce((s, v, c) => s + v * x[c], 0));
    const pos = 7;
    const angle = (i: number) => pos * 10000 ** (-(2 * i) / 8);
    const ropePairs = (v: Float64Array) => {
      for (let h = 0; h < v.length / 8; h++) {
        for (let i = 0; i < 4; i++) {
          const [a, b, c, s] = [v[h * 8 + 2 * i], v[h * 8 + 2 * i + 1], Math.cos(angle(i)), Math.sin(angle(i))];
          [v[h * 8 + 2 * i], v[h * 8 + 2 * i + 1]] = [a * c - b * s, a * s + b * c];
        }
      }
      return v;
    };
    const ropeHalves = (v: Float64Array) => {
      for (let h = 0; h < v.length / 8; h++) {
        for (let i = 0; i < 4; i++) {
          const [a, b, c, s] = [v[h * 8 + i], v[h * 8 + i + 4], Math.cos(angle(i)), Math.sin(angle(i))];
          [v[h * 8 + i], v[h * 8 + i + 4]] = [a * c - b * s, a * s + b * c];
        }
      }
      return v;
    };
    for (const [name, start, rows] of [["q_proj", at.wq, dim], ["k_proj", wk, kv]] as const) {
      const llama2c = ropePairs(matvec(raw.subarray(start, start + rows * dim), rows));
      const hf = ropeHalves(matvec(w.get(`model.layers.0.self_attn.${name}.weight`)!, rows));
      for (let h = 0; h < rows / 8; h++) {
        for (let i = 0; i < 4; i++) {
          for (let j = 0; j < 2; j++) expect(hf[h * 8 + j * 4 + i]).toBeCloseTo(llama2c[h * 8 + 2 * i + j], 10);
        }
      }
    }
  });

  test("a truncated checkpoint or a mismatched tokenizer is refused", async () => {
    const cut = join(root, "cut.bin");
    await Bun.write(cut, (await Bun.file(BIN).bytes()).subarray(0, 1_000_000));
    await expect(readLlama2cHeader(cut)).rejects.toThrow(`${cut}: 1000000 bytes, but a llama2.c legacy checkpoint with this header`);
    await expect(readLlama2cHeader(cut)).rejects.toThrow(/has 1056540 \(truncated\?\)/);
    expect(() => parseLlama2cVocab(new Uint8Array(0), 512, "t.bin")).toThrow("t.bin: 0 bytes is too short for a llama2.c tokenizer");
    const bytes = await Bun.file(TOK).bytes();
    expect(() => parseLlama2cVocab(bytes, 500, "tok512.bin")).toThrow(/tok512.bin: \d+ bytes left after 500 tokens; does the tokenizer match the checkpoint's vocab_size\?/);
    expect(() => parseLlama2cVocab(bytes, 600, "tok512.bin")).toThrow("tok512.bin: truncated at token 512 of 600");
  });
});

/** llama2.c's encode (run.c): dummy-prefix space, code points or their bytes (+3), best-score merges. */
function llama2cEncode({ pieces, scores }: Llama2cVocab, text: string): number[] {
  const lookup = new Map(pieces.map((p, i) => [p, i]));
  const tokens: number[] = text.length ? [lookup.get(" ")!] : [];
  for (const ch of text) {
    const id = lookup.get(ch);
    if (id !== undefined) tokens.push(id);
    else for (const b of new TextEncoder().encode(ch)) tokens.push(b + 3);
  }
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestAt = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = lookup.get(pieces[tokens[i]] + pieces[tokens[i + 1]]);
      if (id !== undefined && scores[id] > best) [best, bestId, bestAt] = [scores[id], id, i];
    }
    if (bestAt < 0) return tokens;
    tokens.splice(bestAt, 2, bestId);
  }
}

/** Random-ish text: story words, vocabulary pieces glued together, punctuation, whitespace, non-ASCII. */
function randomText(seed: number): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const words = ["Once", "upon", "a", "time", "there", "was", "little", "girl", "named", "Lily", "She", "loved", "to", "play", "outside", "the", "park", "ball", "Tom", "said", "happy", "tree"];
  const odd = ["é", "ü", "ß", "中文", "日本", "😀", "🚀", "“", "”", "—", "…", "½", "\t", "\n", "  ", "’", "ñ", "Ω", "€", "\u0301", "x̂"];
  const punct = [".", ",", "!", "?", "\"", "'", ":", ";", "(", ")", "-", "0", "42", "3.14"];
  const parts: string[] = [];
  const n = 1 + Math.floor(r() * 25);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.5) parts.push(pick(words), " ");
    else if (k < 0.65) parts.push(pick(vocab.pieces.slice(259)).trim());
    else if (k < 0.8) parts.push(pick(punct));
    else parts.push(pick(odd));
  }
  return parts.join("");
}

describe("tokenizer.json reproduces llama2.c's tokenizer", () => {
  test("special tokens: bos added, eos stops, pad is <unk>", () => {
    expect(tokenizer.bos).toEqual({ token: "<s>", id: 1 });
    expect(tokenizer.eos).toEqual({ token: "</s>", id: 2 });
    expect(tokenizer.pad).toEqual({ token: "<unk>", id: 0 });
    expect(tokenizer.stopIds).toEqual([2]);
    expect(tokenizer.addBos).toBe(true);
    expect(tokenizer.vocabSize).toBe(512);
    expect(tokenizer.encode("")).toEqual([1]);
  });

  test("fixed strings", () => {
    const cases = ["Once upon a time, there was a little girl named Lily.", "Hello world", " leading space", "trailing space ", "a  b   c", "Lily's mom said, \"Lily, let's go to the park.\"", "x", "日本語 and émoji 😀", "\n\n"];
    for (const text of cases) {
      expect(tokenizer.encode(text, { addSpecialTokens: false })).toEqual(llama2cEncode(vocab, text));
      expect(tokenizer.encode(text)).toEqual([1, ...llama2cEncode(vocab, text)]);
    }
    expect(tokenizer.encode("Once upon a time", { addSpecialTokens: false }).map((id) => tokenizer.idToToken(id))).toEqual(["▁Once", "▁upon", "▁a", "▁time"]);
    expect(tokenizer.encode("中", { addSpecialTokens: false }).map((id) => tokenizer.idToToken(id))).toEqual(["▁", "<0xE4>", "<0xB8>", "<0xAD>"]);
  });

  test("400 random strings: same ids as llama2.c, and decode round-trips", () => {
    for (let seed = 0; seed < 400; seed++) {
      const text = randomText(seed);
      const ids = tokenizer.encode(text, { addSpecialTokens: false });
      expect({ text, ids }).toEqual({ text, ids: llama2cEncode(vocab, text) });
      expect(tokenizer.decode(ids)).toBe(text);
      expect(tokenizer.decode([1, ...ids], { skipSpecialTokens: true })).toBe(text);
    }
  });
});

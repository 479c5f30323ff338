// Stop ids and stop sequences of the built-in tokenizer (eos <|im_end|> 2046, pad <|pad|> 2047), and
// a stop sequence that the tokenizer splits into several tokens cutting a rationale where it starts.
import { beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { cutRationales } from "../../src/latro/rollout.ts";
import { stopTokenIds } from "../../src/latro/stops.ts";
import { loadTokenizer, type Tokenizer } from "../../src/tokenizer/tokenizer.ts";

const EOS = 2046;
const PAD = 2047;
let tok: Tokenizer;

beforeAll(async () => {
  tok = await loadTokenizer(join(import.meta.dir, "..", "..", "models", "latro-tiny"));
  expect([tok.eos?.id, tok.pad.id, tok.stopIds]).toEqual([EOS, PAD, [EOS]]);
});

const config = (o: { stopToken?: "eos" | "pad" | "both"; stopTokenIds?: number[] | null; stopSeqs?: string[] }) => ({
  stopToken: o.stopToken ?? "both",
  stopTokenIds: o.stopTokenIds ?? null,
  stopSeqs: o.stopSeqs ?? [],
});

test("stop_token eos / pad / both, and stop_token_ids, each with the end-of-turn id appended once", () => {
  expect(stopTokenIds(tok, config({ stopToken: "eos" })).ids).toEqual([EOS]);
  expect(stopTokenIds(tok, config({ stopToken: "pad" })).ids).toEqual([PAD, EOS]);
  expect(stopTokenIds(tok, config({ stopToken: "both" })).ids).toEqual([EOS, PAD]);
  expect(stopTokenIds(tok, config({ stopToken: "pad", stopTokenIds: [7, 9] })).ids).toEqual([7, 9, EOS]);
});

test("stop sequences are encoded without special tokens, empty and repeated ones dropped", () => {
  const { seqs } = stopTokenIds(tok, config({ stopSeqs: ["Answer:", "", "\nAnswer:", "Answer:"] }));
  expect(seqs).toEqual([tok.encode("Answer:", { addSpecialTokens: false }), tok.encode("\nAnswer:", { addSpecialTokens: false })]);
  expect(seqs[0].length).toBeGreaterThan(1); // "Answer:" is several tokens
});

test("a multi-token stop sequence cuts the rationale where it starts, also mid-text", () => {
  const { ids, seqs } = stopTokenIds(tok, config({ stopSeqs: ["Answer:", "\nAnswer:"] }));
  const text = tok.encode("so 3.\nAnswer: 3", { addSpecialTokens: false });
  const start = text.findIndex((_, p) => seqs[0].every((id, j) => text[p + j] === id));
  expect(start).toBeGreaterThan(0);
  // "\nAnswer:" is not found: BPE merged the newline with the "." before it, so only "Answer:" matches.
  expect(text.some((_, p) => seqs[1].every((id, j) => text[p + j] === id))).toBe(false);
  const L = text.length + 2;
  const responses = Int32Array.from([...text, EOS, PAD]);
  const cut = cutRationales(responses, 1, L, { stopTokenIds: ids, stopSeqs: seqs, pad: PAD });
  expect(cut.rationaleLen[0]).toBe(start);
  expect(cut.stopped[0]).toBe(1);
  expect(tok.decode(cut.tokens.subarray(0, start), { skipSpecialTokens: true })).toBe("so 3.\n");
});

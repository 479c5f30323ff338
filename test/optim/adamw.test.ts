// AdamW's weight decay follows Hugging Face's Trainer: every weight matrix and the embeddings decay,
// biases and norm weights do not.
import { expect, test } from "bun:test";
import { Tensor } from "../../src/autograd/tensor.ts";
import { AdamW, decaysWeight } from "../../src/optim/adamw.ts";
import { randn, setupGpu } from "../helpers.ts";

const DECAYED = [
  "model.embed_tokens.weight",
  "lm_head.weight",
  "model.layers.0.self_attn.q_proj.weight",
  "model.layers.3.self_attn.qkv_proj.weight", // Phi-3 fused
  "model.layers.0.mlp.down_proj.weight",
];
const NOT_DECAYED = [
  "model.layers.0.self_attn.q_proj.bias", // Qwen2
  "model.layers.0.self_attn.v_proj.bias",
  "model.layers.0.input_layernorm.weight",
  "model.layers.11.post_attention_layernorm.weight",
  "model.norm.weight",
];

test("decaysWeight: weights and embeddings decay; biases and norm weights do not", () => {
  for (const name of DECAYED) expect([name, decaysWeight(name)]).toEqual([name, true]);
  for (const name of NOT_DECAYED) expect([name, decaysWeight(name)]).toEqual([name, false]);
});

test("one AdamW step with zero gradients shrinks exactly the decayed tensors by (1 − lr·wd)", async () => {
  await setupGpu();
  const lr = 0.5, weightDecay = 0.1;
  const names = [...DECAYED, ...NOT_DECAYED];
  const values = names.map((_, i) => randn(7, i + 1));
  const params = names.map((name, i) => {
    const p = Tensor.fromArray(values[i], [7]).keep();
    p.name = name;
    p.grad = Tensor.fromArray(new Float32Array(7), [7]).keep();
    return p;
  });
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, maxGradNorm: 0 });
  opt.update(lr);
  for (let i = 0; i < names.length; i++) {
    const got = (await params[i].toArray()) as Float32Array;
    const factor = decaysWeight(names[i]) ? Math.fround(1 - lr * weightDecay) : 1;
    got.forEach((g, j) => expect([names[i], g]).toEqual([names[i], Math.fround(values[i][j] * factor)]));
  }
  opt.dispose();
  params.forEach((p) => (p.grad!.release(), p.release()));
});

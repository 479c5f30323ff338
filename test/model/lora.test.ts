import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scopeAsync } from "../../src/autograd/scope.ts";
import { backward, noGrad, zeroGrad } from "../../src/autograd/tape.ts";
import { Tensor } from "../../src/autograd/tensor.ts";
import { Rng } from "../../src/data/rng.ts";
import { upload } from "../../src/gpu/recorder.ts";
import { generate } from "../../src/generate/generate.ts";
import { leftPad } from "../../src/generate/prompts.ts";
import { tokenBatch } from "../../src/model/batch.ts";
import { KVCache } from "../../src/model/kv-cache.ts";
import { parseConfig } from "../../src/model/config.ts";
import { initModel } from "../../src/model/init.ts";
import { saveHfDir } from "../../src/model/hfdir.ts";
import { loadModel } from "../../src/model/load.ts";
import { initLora, LORA_TARGET_MODULES, type LoraConfig, loraSpecs, projectionWeight } from "../../src/model/lora.ts";
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loadAdapter, mergeAdapter, peftNames, readAdapterConfig, saveAdapter } from "../../src/model/peft.ts";
import { listTensors, readHeader } from "../../src/model/safetensors.ts";
import { Transformer } from "../../src/model/transformer.ts";
import { randn, relError, rng, setupGpu } from "../helpers.ts";
import { refLogprobs } from "../reference/transformer.ts";
import { tinyConfig, tinyModel } from "./tiny.ts";

const PAD = 0;
const ALL: LoraConfig = { r: 3, alpha: 5, dropout: 0, targetModules: [...LORA_TARGET_MODULES] };

function tokens(B: number, T: number, V: number, pads: number[], seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: B * T }, (_, i) => (i % T < pads[Math.floor(i / T)] ? PAD : 1 + Math.floor(r() * (V - 1))));
}

/** A frozen view of `model`'s weights (no gradients) carrying `lora` adapters with random B (seeded). */
async function adapted(model: Transformer, lora: LoraConfig, seed: number) {
  for (const p of model.parameters()) p.requiresGrad = false;
  const adapters = initLora(model.config, lora, seed);
  adapters.specs.forEach((s, i) => adapters.pairs.get(s.module)!.B.forEach((b, j) => upload(b.buf, Float32Array.from(randn(b.size, seed + 7 * i + j, 0.3)))));
  return new Transformer(model.config, model.params, adapters);
}

test("PEFT's initialisation: A ~ U(−1/√in, 1/√in), B = 0, seeded; bad configs are named", async () => {
  await setupGpu();
  const config = tinyConfig({ C: 64, I: 96 });
  const a = initLora(config, ALL, 1);
  const b = initLora(config, ALL, 1);
  expect(a.specs.length).toBe(2 * 7);
  expect(a.specs[0]).toEqual({ module: "model.layers.0.self_attn.q_proj", kind: 0, layer: 0, A: [3, 64], B: [64, 3], parts: [{ proj: "q_proj", rows: 64 }] });
  expect(a.specs[6]).toEqual({ module: "model.layers.0.mlp.down_proj", kind: 6, layer: 0, A: [3, 96], B: [64, 3], parts: [{ proj: "down_proj", rows: 64 }] });
  for (const s of a.specs) {
    const A = (await a.pairs.get(s.module)!.A.toArray()) as Float32Array;
    const bound = 1 / Math.sqrt(s.A[1]);
    expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(Array.from((await a.pairs.get(s.module)!.B[0].toArray()) as Float32Array).every((x) => x === 0)).toBe(true);
    expect(Array.from((await b.pairs.get(s.module)!.A.toArray()) as Float32Array)).toEqual(Array.from(A));
  }
  expect(initLora(config, { ...ALL, targetModules: ["v_proj", "q_proj"] }, 1).specs.map((s) => s.module)).toEqual([
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.v_proj",
    "model.layers.1.self_attn.q_proj",
    "model.layers.1.self_attn.v_proj",
  ]);
  expect(() => loraSpecs(config, { ...ALL, targetModules: ["qkv" as never] })).toThrow('lora_target_modules: unknown module "qkv"');
  expect(() => loraSpecs(config, { ...ALL, r: 0 })).toThrow("lora_r must be an integer ≥ 1, got 0");
  const phi = phiConfig();
  expect(loraSpecs(phi, ALL).map((s) => [s.module, s.B[0], s.parts.map((p) => p.proj).join("+")])).toEqual([
    ["model.layers.0.self_attn.qkv_proj", 32, "q_proj+k_proj+v_proj"],
    ["model.layers.0.self_attn.o_proj", 16, "o_proj"],
    ["model.layers.0.mlp.gate_up_proj", 48, "gate_proj+up_proj"],
    ["model.layers.0.mlp.down_proj", 16, "down_proj"],
  ]);
  expect(() => loraSpecs(phi, { ...ALL, targetModules: ["q_proj", "v_proj"] })).toThrow(
    "lora_target_modules: Phi3ForCausalLM fuses q_proj, k_proj, v_proj into qkv_proj, which PEFT adapts as one module; target all of them or none (got q_proj, v_proj)",
  );
  for (const t of [...a.parameters(), ...b.parameters()]) t.release();
});

test("a LoRA model's log-probs equal the float64 reference of the merged weights W + (α/r)·B·A; B = 0 is the base", async () => {
  await setupGpu();
  const { model, ref, weights } = await tinyModel({ qwen: true, seed: 4 });
  const [B, T] = [2, 7];
  const ids = tokens(B, T, ref.V, [0, 3], 5);
  const lora = { ...ALL, targetModules: ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"] as LoraConfig["targetModules"] };
  const policy = await adapted(model, lora, 7);
  const merged = new Map(weights);
  for (const s of policy.adapters!.specs) {
    const A = (await policy.adapters!.pairs.get(s.module)!.A.toArray()) as Float32Array;
    const Bm = (await policy.adapters!.pairs.get(s.module)!.B[0].toArray()) as Float32Array;
    // The projection's rows of its (possibly fused q/k/v or gate/up) weight.
    const { name, row0 } = projectionWeight(model.config, s.layer, s.parts[0].proj);
    const W = Float64Array.from(merged.get(name)!);
    const [out, r] = s.B;
    const inp = s.A[1];
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) for (let k = 0; k < r; k++) W[(row0 + o) * inp + i] += (lora.alpha / lora.r) * Bm[o * r + k] * A[k * inp + i];
    merged.set(name, W);
  }
  const lp = async (m: Transformer) => scopeAsync(async () => (await noGrad(() => m.logprobs(tokenBatch(ids, B, T, PAD))).toArray()) as Float32Array);
  expect(relError(await lp(policy), refLogprobs(ref, merged, { B, T, tokens: ids, pad: PAD }))).toBeLessThan(2e-5);
  expect(relError(await lp(policy.withoutAdapters()), refLogprobs(ref, weights, { B, T, tokens: ids, pad: PAD }))).toBeLessThan(2e-5);
  const fresh = new Transformer(model.config, model.params, initLora(model.config, lora, 8));
  expect(relError(await lp(fresh), refLogprobs(ref, weights, { B, T, tokens: ids, pad: PAD }))).toBeLessThan(2e-5);
});

test("decoding with adapters on a subset of q/k/v/o/gate/up/down (parts of the fused weights at their columns), and Phi-3's shared A, gives the forward pass's log-probs", async () => {
  await setupGpu();
  const { model } = await tinyModel({ qwen: true, Hq: 4, Hkv: 2, L: 2, V: 31, seed: 16 });
  const phi = initModel(phiConfig(), 5, 0.3);
  const cases: [Transformer, LoraConfig["targetModules"]][] = [
    [model, ["k_proj", "o_proj", "gate_proj"]],
    [model, ["q_proj", "v_proj", "up_proj", "down_proj"]],
    [phi, LORA_TARGET_MODULES],
  ];
  const prompts = [[5, 9, 3], [7, 4]];
  const { ids, len: Tp } = leftPad(prompts, PAD);
  const B = prompts.length;
  const next = [[11, 12, 13, 14], [21, 22, 23, 24]];
  const steps = next[0].length;
  for (const [i, [base, targetModules]] of cases.entries()) {
    const V = base.config.vocabSize;
    const policy = await adapted(base, { ...ALL, targetModules }, 30 + i);
    const cache = new KVCache(base.config, B, Tp + steps, ALL.r);
    const got: number[][] = [];
    await scopeAsync(async () => {
      let logits = policy.prefill(tokenBatch(ids, B, Tp, PAD), cache);
      for (let s = 0; ; s++) {
        const l = (await logits.toArray()) as Float32Array;
        got.push(next.map((row, r) => l[r * V + row[s]] - logSumExp(l.subarray(r * V, (r + 1) * V))));
        if (s + 1 === steps) break;
        const t = Tensor.fromArray(next.map((row) => row[s]), [B], "i32");
        logits = policy.decodeStep(t, cache);
        t.release();
      }
    });
    cache.dispose();
    const full = leftPad(prompts.map((p, r) => [...p, ...next[r]]), PAD);
    const lp = await scopeAsync(async () => (await noGrad(() => policy.logprobs(tokenBatch(full.ids, B, full.len, PAD))).toArray()) as Float32Array);
    for (let s = 0; s < steps; s++) {
      const want = Array.from({ length: B }, (_, r) => lp[r * full.len + full.len - steps - 1 + s]);
      expect(relError(got[s], want), `${base.config.architecture} ${targetModules.join(", ")}: step ${s}`).toBeLessThan(1e-5);
    }
    policy.adapters!.release();
  }
  phi.dispose();
});

const logSumExp = (row: Float32Array) => {
  const max = Math.max(...row);
  return max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
};

/**
 * Checks a LoRA model's adapter gradients against the chain rule of the merged model's weight
 * gradients dW: dA = s·Σ_parts B_jᵀ·dW_j, dB_j = s·dW_j·Aᵀ; and that the base gets none.
 */
async function checkChainRule(model: Transformer, V: number, seed: number) {
  const [B, T] = [2, 6];
  const ids = tokens(B, T, V, [0, 2], seed);
  const r = rng(seed + 1);
  const g = Float64Array.from({ length: B * T }, () => r() - 0.5);
  const policy = await adapted(model, ALL, seed + 2);
  await scopeAsync(async () => {
    const lp = policy.logprobs(tokenBatch(ids, B, T, PAD));
    backward(lp, Tensor.fromArray(g, lp.shape));
  });
  for (const p of model.parameters()) expect(p.grad).toBeUndefined();
  // The merged model, trained in full: its weight gradients dW.
  const mergedParams = new Map<string, Tensor>();
  for (const [name, p] of model.params) {
    const c = Tensor.fromArray((await p.toArray()) as Float32Array, p.shape).keep();
    c.name = name;
    c.requiresGrad = true;
    mergedParams.set(name, c);
  }
  mergeAdapter(model.config, mergedParams, policy.adapters!);
  const full = new Transformer(model.config, mergedParams);
  await scopeAsync(async () => {
    const lp = full.logprobs(tokenBatch(ids, B, T, PAD));
    backward(lp, Tensor.fromArray(g, lp.shape));
  });
  const s = policy.adapters!.scale;
  for (const spec of policy.adapters!.specs) {
    const pair = policy.adapters!.pairs.get(spec.module)!;
    const a = (await pair.A.toArray()) as Float32Array;
    const [rr, inp] = spec.A;
    const dA = new Float64Array(rr * inp);
    for (const [j, part] of spec.parts.entries()) {
      const b = (await pair.B[j].toArray()) as Float32Array;
      const { name, row0 } = projectionWeight(model.config, spec.layer, part.proj);
      const dW = ((await full.p(name).grad!.toArray()) as Float32Array).subarray(row0 * inp);
      const dB = new Float64Array(part.rows * rr);
      for (let o = 0; o < part.rows; o++) {
        for (let i = 0; i < inp; i++) {
          for (let k = 0; k < rr; k++) {
            dA[k * inp + i] += s * b[o * rr + k] * dW[o * inp + i];
            dB[o * rr + k] += s * dW[o * inp + i] * a[k * inp + i];
          }
        }
      }
      expect(relError((await pair.B[j].grad!.toArray()) as Float32Array, dB)).toBeLessThan(1e-4);
    }
    expect(relError((await pair.A.grad!.toArray()) as Float32Array, dA)).toBeLessThan(1e-4);
  }
  zeroGrad(full.parameters());
  zeroGrad(policy.trainableParameters());
  return policy;
}

function phiConfig() {
  return parseConfig(
    { architectures: ["Phi3ForCausalLM"], vocab_size: 37, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256 },
    "tiny phi3",
  );
}

test("LoRA gradients are the chain rule of the merged model's: dA = s·Bᵀ·dW, dB = s·dW·Aᵀ; the base gets none", async () => {
  await setupGpu();
  const { model, ref } = await tinyModel({ seed: 6, L: 1 });
  await checkChainRule(model, ref.V, 9);
});

test("Phi-3: fused qkv_proj / gate_up_proj adapters (one A, B's rows per part) follow the chain rule and save as PEFT's fused modules", async () => {
  await setupGpu();
  const model = initModel(phiConfig(), 3, 0.3);
  const policy = await checkChainRule(model, 37, 19);
  const dir = join(mkdtempSync(join(tmpdir(), "latro-peft-phi-")), "adapter");
  await saveAdapter(dir, policy.config, policy.adapters!, "/models/phi");
  expect((await Bun.file(join(dir, ADAPTER_CONFIG)).json()).target_modules).toEqual(["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]);
  const shapes = Object.fromEntries((await readHeader(join(dir, ADAPTER_WEIGHTS))).tensors.map((e) => [e.name, e.shape]));
  expect(shapes["base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight"]).toEqual([32, 3]);
  expect(shapes["base_model.model.model.layers.0.mlp.gate_up_proj.lora_A.weight"]).toEqual([3, 16]);
  const back = await loadAdapter(dir, policy.config);
  const want = policy.adapters!.parameters();
  for (const [i, t] of back.parameters().entries()) {
    expect(t.name).toBe(want[i].name);
    expect(Array.from((await t.toArray()) as Float32Array)).toEqual(Array.from((await want[i].toArray()) as Float32Array));
  }
});

test("frozen BF16 base: weight matrices stay bf16 on the GPU and give the same log-probs as the f32-widened load", async () => {
  await setupGpu();
  const { model } = await tinyModel({ qwen: true, seed: 12 });
  const dir = join(mkdtempSync(join(tmpdir(), "latro-bf16-")), "m");
  await saveHfDir(dir, {
    config: model.config,
    tensors: model.parameters().map((p) => ({ name: p.name!, shape: [...p.shape], dtype: "BF16" as const, data: async () => (await p.toArray()) as Float32Array })),
  });
  expect((await listTensors(dir)).find((e) => e.name === "model.embed_tokens.weight")?.dtype).toBe("BF16");
  const frozen = await loadModel(dir, { frozen: true });
  const f32 = await loadModel(dir);
  expect(frozen.p("model.layers.0.self_attn.qkv_proj.weight").dtype).toBe("bf16");
  expect(frozen.p("model.embed_tokens.weight").dtype).toBe("bf16");
  expect(frozen.p("model.layers.0.self_attn.qkv_proj.bias").dtype).toBe("f32");
  expect(frozen.p("model.norm.weight").dtype).toBe("f32");
  expect(frozen.parameters().every((p) => !p.requiresGrad)).toBe(true);
  const [B, T] = [2, 5];
  const ids = tokens(B, T, model.config.vocabSize, [0, 1], 13);
  const lp = async (m: Transformer) => scopeAsync(async () => (await noGrad(() => m.logprobs(tokenBatch(ids, B, T, PAD))).toArray()) as Float32Array);
  expect(relError(await lp(frozen), await lp(f32))).toBeLessThan(1e-6);
  // Generation reads the same bf16 weights and the adapters: greedy tokens equal the merged f32 model's.
  const lora = await adapted(frozen, ALL, 14);
  mergeAdapter(f32.config, f32.params, lora.adapters!);
  const prompt = tokens(B, 4, model.config.vocabSize, [0, 2], 15);
  const opts = { maxNewTokens: 6, temperature: 0, rng: new Rng(1), stopTokenIds: [], pad: PAD };
  const a = await generate(lora, prompt, B, 4, opts);
  const b = await generate(f32, prompt, B, 4, { ...opts, rng: new Rng(1) });
  expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
  expect(relError(a.logprobs, b.logprobs)).toBeLessThan(1e-4);
});

test("PEFT adapter directory: PEFT's names and config, and a round trip to the same adapters", async () => {
  await setupGpu();
  const { model } = await tinyModel({ seed: 16 });
  const lora: LoraConfig = { r: 2, alpha: 4, dropout: 0.05, targetModules: ["q_proj", "down_proj"] };
  const policy = await adapted(model, lora, 17);
  const dir = join(mkdtempSync(join(tmpdir(), "latro-peft-")), "adapter");
  await saveAdapter(dir, policy.config, policy.adapters!, "/models/base");
  const json = await Bun.file(join(dir, ADAPTER_CONFIG)).json();
  expect(json).toMatchObject({ peft_type: "LORA", task_type: "CAUSAL_LM", r: 2, lora_alpha: 4, lora_dropout: 0.05, target_modules: ["q_proj", "down_proj"], base_model_name_or_path: "/models/base", bias: "none" });
  expect(peftNames("model.layers.0.self_attn.q_proj").A).toBe("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  const names = (await readHeader(join(dir, ADAPTER_WEIGHTS))).tensors.map((e) => e.name).sort();
  expect(names).toContain("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
  expect(names.length).toBe(2 * 2 * 2);
  expect((await readAdapterConfig(dir)).baseModel).toBe("/models/base");
  const back = await loadAdapter(dir, model.config);
  for (const [a, b] of back.parameters().map((t, i) => [t, policy.adapters!.parameters()[i]] as const)) {
    expect(Array.from((await a.toArray()) as Float32Array)).toEqual(Array.from((await b.toArray()) as Float32Array));
  }
  await Bun.write(join(dir, ADAPTER_CONFIG), JSON.stringify({ ...json, target_modules: ["foo_proj"] }));
  expect(loadAdapter(dir, model.config)).rejects.toThrow('target_modules ["foo_proj"] are not supported');
});

// Evaluation of a model on a dataset split: greedy decoding (accuracy), and optionally k sampled
// completions per question voted by majority (maj@k self-consistency, as the paper reports maj@8).
// As the original's evaluation, completions stop at the tokenizer's stop ids (eos, end of turn, pad)
// and the answer is read from the text ("The answer is …", else the last number).
import type { Dataset } from "../data/example.ts";
import { Rng } from "../data/rng.ts";
import { generate } from "../generate/generate.ts";
import { encodeQuery, leftPad } from "../generate/prompts.ts";
import { repeatedPrompts } from "../generate/repeated-prompts.ts";
import type { Transformer } from "../model/transformer.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { type ExampleScore, type Score, scoreDataset, scoreExample } from "./score.ts";

export interface EvaluateOptions {
  batchSize: number;
  maxNewTokens: number;
  /** Samples per question for maj@k; 0 = greedy only. */
  majK?: number;
  majTemperature?: number;
  seed?: number;
  onBatch?: (done: number, total: number) => void;
  /** Each question's score as soon as its completions are in: phase "greedy", then "maj@k". */
  onExample?: (phase: string, index: number, score: ExampleScore) => void;
}

export interface Evaluation {
  greedy: Score;
  maj?: Score;
}

export async function evaluateModel(model: Transformer, tokenizer: Tokenizer, dataset: Dataset, o: EvaluateOptions): Promise<Evaluation> {
  const queries = dataset.examples.map((e) => encodeQuery(tokenizer, e));
  const rng = new Rng(o.seed ?? 0);
  const complete = async (k: number, temperature: number, phase: string): Promise<string[][]> => {
    let reported = 0;
    const rows = queries.flatMap((q) => Array<number[]>(k).fill(q));
    const texts: string[] = [];
    for (let r0 = 0; r0 < rows.length; r0 += o.batchSize) {
      const chunk = rows.slice(r0, r0 + o.batchSize);
      const { ids, len } = leftPad(chunk, tokenizer.pad.id);
      const { prompts, P, K } = repeatedPrompts(ids, chunk.length, len); // maj@k: one prefill per question
      const gen = await generate(model, prompts, P, len, {
        samplesPerPrompt: K,
        maxNewTokens: o.maxNewTokens,
        temperature,
        rng,
        stopTokenIds: [...tokenizer.stopIds, tokenizer.pad.id],
        pad: tokenizer.pad.id,
      });
      for (let b = 0; b < chunk.length; b++) {
        const row = gen.tokens.subarray(b * o.maxNewTokens, b * o.maxNewTokens + gen.lengths[b]);
        texts.push(tokenizer.decode(row, { skipSpecialTokens: true }));
      }
      o.onBatch?.(Math.min(r0 + o.batchSize, rows.length), rows.length);
      for (; o.onExample && (reported + 1) * k <= texts.length; reported++) {
        o.onExample(phase, reported, scoreExample(dataset.examples[reported], dataset.answerKind, texts.slice(reported * k, (reported + 1) * k)));
      }
    }
    return queries.map((_, i) => texts.slice(i * k, (i + 1) * k));
  };
  const greedy = scoreDataset(dataset, await complete(1, 0, "greedy"));
  const majK = o.majK ?? 0;
  return majK > 0 ? { greedy, maj: scoreDataset(dataset, await complete(majK, o.majTemperature ?? 0.7, `maj@${majK}`)) } : { greedy };
}

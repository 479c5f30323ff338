// `bun scripts/arith-table.ts DIR [TOKENIZER_DIR]`: the experiment's table (the paper's Table 2
// layout: base / SFT / LaTRO) from the evaluation files scripts/arith-experiment.sh writes to DIR:
// eval-base.jsonl, eval-sft-seed-S.jsonl and eval-latro-seed-S.jsonl (rows of `bun run eval
// --maj-k 8`: a "greedy" and a "maj@8" row per problem, then a summary). Per problem: greedy right,
// maj@8 right, the fraction of the 8 samples that are right (single-sample accuracy), whether any is
// (pass@8), and the samples' mean rationale length in tokens (TOKENIZER_DIR's tokenizer, default
// models/latro-tiny; the rationale is the text before the last "The answer is"). A row's value is the
// mean over problems of the per-problem value averaged over its seeds; ± is the standard error over
// the problems (sd/√n) of those averages. Every file of a row must cover the same problems. Then the
// changes SFT − base, LaTRO − base and LaTRO − SFT, paired by problem (± the standard error of the
// per-problem difference, smaller than either row's when the two are correlated); then each seed's
// row. The files may be gzipped (eval-….jsonl.gz, as results/ keeps them). Writes DIR/table.md and
// prints it.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { loadTokenizer } from "../src/tokenizer/tokenizer.ts";

interface Row {
  phase: string;
  id: string;
  responses: string[];
  correct: boolean;
  correctSamples: number;
}

const [dir, tokenizerDir = "models/latro-tiny"] = process.argv.slice(2);
if (!dir) throw new Error("usage: bun scripts/arith-table.ts DIR [TOKENIZER_DIR]");
const tokenizer = await loadTokenizer(tokenizerDir);
const METRICS = ["greedy", "maj@8", "one sample", "pass@8", "rationale tokens"] as const;

/** Per-problem values of each metric for one evaluation file, by problem id. */
function perProblem(file: string): Map<string, number[]> {
  const text = file.endsWith(".gz") ? gunzipSync(readFileSync(file)).toString("utf8") : readFileSync(file, "utf8");
  const rows: Row[] = text.trim().split("\n").map((l) => JSON.parse(l)).filter((r) => r.phase !== "summary");
  const greedy = new Map(rows.filter((r) => r.phase === "greedy").map((r) => [r.id, r]));
  const sampled = rows.filter((r) => r.phase === "maj@8");
  if (sampled.length === 0 || sampled.length !== greedy.size) throw new Error(`${file}: expected a greedy and a maj@8 row per problem, got ${greedy.size} and ${sampled.length}`);
  const rationaleTokens = (text: string) => {
    const cut = text.lastIndexOf("The answer is");
    return tokenizer.encode(cut < 0 ? text : text.slice(0, cut), { addSpecialTokens: false }).length;
  };
  return new Map(
    sampled.map((s) => {
      const g = greedy.get(s.id);
      if (!g) throw new Error(`${file}: problem ${s.id} has a maj@8 row but no greedy row`);
      const k = s.responses.length;
      const length = s.responses.reduce((n, r) => n + rationaleTokens(r), 0) / k;
      return [s.id, [Number(g.correct), Number(s.correct), s.correctSamples / k, Number(s.correctSamples > 0), length]];
    }),
  );
}

/** Per problem, each metric averaged over the files (seeds); every file covers the same problems. */
function averaged(files: string[]): Map<string, number[]> {
  const runs = files.map(perProblem);
  const ids = [...runs[0].keys()];
  for (const [i, run] of runs.entries()) {
    if (run.size !== ids.length || !ids.every((id) => run.has(id))) throw new Error(`${files[i]} covers other problems than ${files[0]}`);
  }
  return new Map(ids.map((id) => [id, METRICS.map((_, m) => runs.reduce((sum, run) => sum + run.get(id)![m], 0) / runs.length)]));
}

/** Mean ± standard error over problems (sd/√n) of each metric of per-problem values, as table cells. */
function cells(values: Map<string, number[]>, signed = false): string[] {
  return METRICS.map((metric, m) => {
    const xs = [...values.values()].map((v) => v[m]);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, xs.length - 1));
    const se = sd / Math.sqrt(xs.length);
    const sign = signed && mean >= 0 ? "+" : "";
    return metric === "rationale tokens" ? `${sign}${mean.toFixed(1)} ± ${se.toFixed(1)}` : `${sign}${(100 * mean).toFixed(1)}${signed ? "" : "%"} ± ${(100 * se).toFixed(1)}`;
  });
}

/** Per problem, a's values minus b's (both over the same problems). */
function difference(a: Map<string, number[]>, b: Map<string, number[]>): Map<string, number[]> {
  return new Map([...a].map(([id, v]) => {
    const w = b.get(id);
    if (!w) throw new Error(`problem ${id} is in one row's files but not in the other's`);
    return [id, v.map((x, m) => x - w[m])];
  }));
}

const seeded = (prefix: string) =>
  readdirSync(dir)
    .filter((f) => new RegExp(`^eval-${prefix}-seed-\\d+\\.jsonl(\\.gz)?$`).test(f))
    .sort()
    .map((f) => join(dir, f));
const base = ["eval-base.jsonl", "eval-base.jsonl.gz"].map((f) => join(dir, f)).filter(existsSync);
const table = [
  ["base", base],
  ["SFT", seeded("sft")],
  ["LaTRO", seeded("latro")],
] as const;
const lines = [`| model | seeds | problems | ${METRICS.join(" | ")} |`, `| --- | --- | --- | ${METRICS.map(() => "---").join(" | ")} |`];
const rows = new Map<string, Map<string, number[]>>();
for (const [name, files] of table) {
  if (files.length === 0) continue;
  const values = averaged([...files]);
  rows.set(name, values);
  lines.push(`| ${name} | ${files.length} | ${values.size} | ${cells(values).join(" | ")} |`);
}
// Changes, paired by problem (points; ± is the standard error of the per-problem difference).
for (const [a, b] of [["SFT", "base"], ["LaTRO", "base"], ["LaTRO", "SFT"]] as const) {
  const [x, y] = [rows.get(a), rows.get(b)];
  if (x && y) lines.push(`| ${a} − ${b} | | ${x.size} | ${cells(difference(x, y), true).join(" | ")} |`);
}
// Each seed on its own.
lines.push("", `| run | problems | ${METRICS.join(" | ")} |`, `| --- | --- | ${METRICS.map(() => "---").join(" | ")} |`);
for (const [name, files] of table) {
  for (const file of files) {
    const seed = file.match(/seed-(\d+)/)?.[1];
    const values = perProblem(file);
    lines.push(`| ${name}${seed ? ` seed ${seed}` : ""} | ${values.size} | ${cells(values).join(" | ")} |`);
  }
}
const text = `${lines.join("\n")}\n`;
writeFileSync(join(dir, "table.md"), text);
process.stdout.write(text);

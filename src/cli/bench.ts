// `bun run bench [--quick] [--only NAME] [--out FILE]`: every kernel and workload benchmark, as a table
// and a JSON file, with the adapter's name and features and the peer's figures side by side.
import { defineCommand, runMain } from "citty";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { describeGpu, initGpu } from "../gpu/device.ts";
import type { Bench, BenchRow } from "../bench/types.ts";
import { benchMatmul } from "../bench/matmul.ts";
import { benchAttention } from "../bench/attention.ts";
import { benchSoftmax } from "../bench/softmax.ts";
import { benchLayerOps } from "../bench/layer.ts";
import { benchGenerate } from "../bench/generate.ts";
import { benchLatro } from "../bench/latro.ts";
import { benchDispatch } from "../bench/dispatch.ts";
import { benchMemory } from "../bench/memory.ts";

const BENCHES: Record<string, Bench> = {
  matmul: benchMatmul,
  attention: benchAttention,
  softmax: benchSoftmax,
  layer: benchLayerOps,
  dispatch: benchDispatch,
  generate: benchGenerate,
  latro: benchLatro,
  memory: benchMemory,
};

function table(rows: BenchRow[]): string {
  const head = ["benchmark", "shape", "ms", "rate", "peer", "peer rate", "ratio", "timing"];
  const body = rows.map((r) => [
    r.name,
    r.shape,
    r.ms.toFixed(3),
    `${r.rate.toFixed(r.unit === "GB" ? 2 : 1)} ${r.unit}`,
    r.peer?.name ?? "",
    r.peer ? `${r.peer.rate.toFixed(1)} ${r.unit}` : "",
    r.peer ? `${(r.rate / r.peer.rate).toFixed(2)}x` : "",
    r.timing + (r.note ? ` (${r.note})` : ""),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

export const benchCommand = defineCommand({
  meta: { name: "bench", description: "Benchmark kernels and workloads (GFLOP/s, GB/s, tokens/s) beside a peer" },
  args: {
    quick: { type: "boolean", description: "small shapes only (seconds)", default: false },
    only: { type: "string", description: `comma-separated subset of: ${Object.keys(BENCHES).join(", ")}` },
    out: { type: "string", description: "JSON output file", default: "runs/bench.json" },
  },
  async run({ args }) {
    const g = await initGpu();
    const names = args.only ? args.only.split(",").map((s) => s.trim()) : Object.keys(BENCHES);
    for (const n of names) if (!BENCHES[n]) throw new Error(`--only: unknown benchmark "${n}"; expected one of ${Object.keys(BENCHES).join(", ")}`);
    console.log(describeGpu(g));
    const rows: BenchRow[] = [];
    for (const n of names) {
      console.error(`[bench] ${n}…`);
      const got = await BENCHES[n]({ quick: args.quick });
      console.log(`\n## ${n}\n${table(got)}`);
      rows.push(...got);
    }
    mkdirSync(dirname(args.out), { recursive: true });
    const adapter = { ...g.info, features: [...g.features], limits: g.limits };
    writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), adapter, quick: args.quick, rows }, null, 2));
    console.log(`\nwrote ${args.out}`);
  },
});

if (import.meta.main) runMain(benchCommand);

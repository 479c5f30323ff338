// The import graph of src/: imports point down the layers and nothing imports in a circle.
//
//   cli → latro / sft / bench / report → train → eval → generate → model / optim
//       → data / tokenizer / glue → autograd → kernels → gpu
//
// A folder may import its own files and any folder of a lower rank, never one of a higher rank; a
// folder-level cycle among folders of equal rank (or a file-level cycle anywhere) fails too.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/** Higher imports lower. Every folder of src/ must be listed. */
const RANK: Record<string, number> = {
  cli: 9,
  latro: 8,
  sft: 8,
  bench: 8,
  report: 8,
  train: 7,
  eval: 6,
  generate: 5,
  model: 4,
  optim: 4,
  data: 3,
  tokenizer: 3,
  glue: 3,
  autograd: 2,
  kernels: 1,
  gpu: 0,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

interface Import {
  to: string;
  /** `import type` / `export type`: erased at run time, so it cannot close a load-order cycle. */
  typeOnly: boolean;
}

/** Relative imports of a file (static, re-exports, side-effect and dynamic imports), resolved to paths. */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/^\s*(import|export)\b([^;]*?)from\s+"([^"]+)"|^\s*import\s+"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/gm)];
  return specs
    .map((m) => ({ spec: m[3] ?? m[4] ?? m[5], typeOnly: /^\s*type\b/.test(m[2] ?? "") }))
    .filter((m) => m.spec.startsWith("."))
    .map((m) => ({ to: resolve(dirname(file), m.spec), typeOnly: m.typeOnly }));
}

const folderOf = (file: string) => relative(SRC, file).split("/")[0];

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f).filter((i) => i.to.startsWith(SRC + "/"))]));
const name = (f: string) => relative(SRC, f);

/** The first cycle found in `edges` (as a closed path), or undefined. */
function findCycle<T>(nodes: Iterable<T>, edges: (n: T) => Iterable<T>): T[] | undefined {
  const state = new Map<T, 1 | 2>();
  const stack: T[] = [];
  const visit = (n: T): T[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const m of edges(n)) {
      if (state.get(m) === 1) return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of nodes) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

describe("import graph of src/", () => {
  test("every folder has a layer", () => {
    const unranked = [...new Set(files.map(folderOf))].filter((f) => !(f in RANK));
    expect(unranked).toEqual([]);
  });

  test("no import points up a layer", () => {
    const upward: string[] = [];
    for (const [from, imports] of graph) {
      for (const { to } of imports) {
        if (RANK[folderOf(to)] > RANK[folderOf(from)]) upward.push(`${name(from)} → ${name(to)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  test("no file imports itself in a circle (at run time)", () => {
    const cycle = findCycle(graph.keys(), (f) => (graph.get(f) ?? []).filter((i) => !i.typeOnly).map((i) => i.to));
    expect(cycle?.map(name).join(" → ")).toBeUndefined();
  });

  test("no folder imports itself in a circle", () => {
    const folders = new Map<string, Set<string>>();
    for (const [from, imports] of graph) {
      for (const { to } of imports) {
        if (folderOf(to) === folderOf(from)) continue;
        if (!folders.has(folderOf(from))) folders.set(folderOf(from), new Set());
        folders.get(folderOf(from))!.add(folderOf(to));
      }
    }
    const cycle = findCycle(Object.keys(RANK), (f) => folders.get(f) ?? []);
    expect(cycle?.join(" → ")).toBeUndefined();
  });

  test("datasets register without side-effect imports", () => {
    const sideEffects = files.flatMap((f) =>
      [...readFileSync(f, "utf8").matchAll(/^\s*import\s+"([^"]+)"/gm)].map((m) => `${name(f)} imports "${m[1]}" for its side effects`),
    );
    expect(sideEffects).toEqual([]);
  });
});

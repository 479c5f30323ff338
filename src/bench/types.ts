// What a benchmark reports: one row per (kernel, shape), with the peer's figure when one ran.
export interface BenchRow {
  /** Kernel or workload, e.g. "matmul NT f32". */
  name: string;
  /** Shape in the kernel's own terms, e.g. "M=1024 N=1024 K=1024". */
  shape: string;
  ms: number;
  /**
   * Work rate (GFLOP/s, GB/s, tokens/s, episodes/s), a cost per unit (µs/dispatch, dispatches/token),
   * or memory in GB (memory rows).
   */
  rate: number;
  unit: "GFLOP/s" | "GB/s" | "tokens/s" | "episodes/s" | "µs/dispatch" | "dispatches/token" | "GB";
  /** How the figure was obtained: GPU timestamps, wall clock, the memory plan, or the buffer pool's peak. */
  timing: "timestamp" | "wall" | "plan" | "pool";
  /** The peer measured on the same adapter in the same run (e.g. tfjs-webgpu), when there is one. */
  peer?: { name: string; ms: number; rate: number };
  note?: string;
}

export interface BenchOptions {
  /** Small shapes only: a quick run that checks every benchmark works. */
  quick: boolean;
}

export type Bench = (opts: BenchOptions) => Promise<BenchRow[]>;

// Shared prefill for callers that sample each prompt several times: rows [n, len] that come in runs
// of K identical rows (rollouts repeat each prompt rloo_k times, maj@k evaluation k times) become the
// P = n / K distinct prompts and K, which `generate` takes as prompts and samplesPerPrompt and which
// give the same generation as the rows themselves.

/** The distinct prompts of rows [n, len] and the rows per prompt K (K = 1 when rows are not in runs). */
export function repeatedPrompts(rows: Int32Array, n: number, len: number): { prompts: Int32Array; P: number; K: number } {
  if (rows.length !== n * len) throw new Error(`repeatedPrompts: ${rows.length} ids for ${n} rows × ${len}`);
  const K = runLength(rows, n, len);
  const prompts = new Int32Array((n / K) * len);
  for (let p = 0; p < n / K; p++) prompts.set(rows.subarray(p * K * len, (p * K + 1) * len), p * len);
  return { prompts, P: n / K, K };
}

/** K when rows g·K … g·K + K − 1 are equal for every g, K being the length of the first run; else 1. */
function runLength(rows: Int32Array, n: number, len: number): number {
  const same = (a: number, b: number) => {
    for (let t = 0; t < len; t++) if (rows[a * len + t] !== rows[b * len + t]) return false;
    return true;
  };
  let k = 1;
  while (k < n && same(0, k)) k++;
  if (n % k !== 0) return 1;
  for (let r = 0; r < n; r++) if (!same(r - (r % k), r)) return 1;
  return k;
}

// Float64 references for kernels/logsoftmax_gather.wgsl. `temperature` is one τ for every row or τ_n per row.

const tauOf = (temperature: number | ArrayLike<number>, n: number) => (typeof temperature === "number" ? temperature : temperature[n]);

/** logprob[n] = logits[n, t]/τ_n − lse[n] (0 when t < 0), lse[n] = logsumexp(logits[n, :]/τ_n). */
export function logSoftmaxGatherRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  N: number,
  V: number,
  temperature: number | ArrayLike<number> = 1,
): { logprob: Float64Array; lse: Float64Array } {
  const logprob = new Float64Array(N);
  const lse = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const tau = tauOf(temperature, n);
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[n * V + v] / tau);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[n * V + v] / tau - m);
    lse[n] = m + Math.log(s);
    const t = targets[n];
    logprob[n] = t < 0 ? 0 : logits[n * V + t] / tau - lse[n];
  }
  return { logprob, lse };
}

/** dlogits[n, v] = dlogprob[n]/τ_n · (1[v = t] − softmax(logits[n]/τ_n)_v); 0 for ignored rows. */
export function logSoftmaxGatherBackwardRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  dlogprob: ArrayLike<number>,
  N: number,
  V: number,
  temperature: number | ArrayLike<number> = 1,
): Float64Array {
  const { lse } = logSoftmaxGatherRef(logits, targets, N, V, temperature);
  const d = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    const tau = tauOf(temperature, n);
    const t = targets[n];
    if (t < 0) continue;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logits[n * V + v] / tau - lse[n]);
      d[n * V + v] = (dlogprob[n] / tau) * ((v === t ? 1 : 0) - p);
    }
  }
  return d;
}

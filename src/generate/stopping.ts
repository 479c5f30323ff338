// When a generated row has stopped: when more tokens can no longer change where truncation
// (src/glue/tokens.ts `truncateResponses`) cuts it. The cut is the first position that holds a stop
// token or starts a complete stop sequence. It is fixed by the first `steps` tokens once
//   - a stop token is among them (generation pads the row after it), or
//   - a stop sequence lies complete among them, and no stop sequence starting before it is still open
//     (its tokens so far match and it runs past `steps`, so it may yet complete and cut earlier).

/** Whether the first `steps` tokens of `row` fix its truncation (see header). */
export function rowStopped(
  row: ArrayLike<number>,
  steps: number,
  stopTokenIds: readonly number[],
  stopSeqs: readonly (readonly number[])[],
): boolean {
  let open = false;
  for (let p = 0; p < steps; p++) {
    if (stopTokenIds.includes(row[p])) return true;
    for (const seq of stopSeqs) {
      let m = 0;
      while (m < seq.length && p + m < steps && row[p + m] === seq[m]) m++;
      if (m === seq.length) return !open;
      if (p + m === steps) open = true;
    }
  }
  return false;
}

#!/usr/bin/env bash
# The README's experiment: held-out greedy accuracy and maj@8 of the built-in base model on the `arith`
# setting that configs/arith.yaml trains on, then LaTRO with configs/arith.yaml for each seed, and the
# same evaluation of each trained policy.
# Usage: scripts/arith-experiment.sh [SEEDS...]   (default: 1 2 3). Results: runs/arith-experiment/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then seeds=("$@"); else seeds=(1 2 3); fi
out=runs/arith-experiment
dataset=$(sed -n 's/^dataset: *//p' configs/arith.yaml)
mkdir -p "$out"
evaluate() { # MODEL NAME
  bun run eval --model "$1" --dataset "$dataset" --split test --limit "${LIMIT:-100}" --maj-k 8 --max-new-tokens 64 \
    --batch-size 50 --out "$out/eval-$2.jsonl" | tail -1 | tee "$out/summary-$2.json"
}
evaluate models/latro-tiny base
for s in "${seeds[@]}"; do
  start=$(date +%s)
  bun run train --config configs/arith.yaml --seed "$s" --output-dir "$out/seed-$s" --overwrite-output-dir
  echo "{\"seed\": $s, \"train_seconds\": $(( $(date +%s) - start ))}" > "$out/time-seed-$s.json"
  evaluate "$out/seed-$s/checkpoint-$(ls "$out/seed-$s" | sed -n 's/^checkpoint-\([0-9]*\)$/\1/p' | sort -n | tail -1)" "seed-$s"
  bun run report "$out/seed-$s" >/dev/null
done

#!/usr/bin/env bash
# The README's experiment (the paper's Table 2 on the synthetic `arith` task): for each seed, LaTRO
# with configs/arith.yaml and the SFT baseline (`bun run sft` on the gold rationales of the same
# training prompts LaTRO draws, scripts/sft-prompts.ts, with the same number of optimizer updates,
# learning rate, warmup and clipping, a linear decay as LaTRO's); then the base model, each SFT model
# and each LaTRO policy are evaluated on the same first LIMIT (500) test problems of the config's
# dataset — greedy, and 8 samples at temperature 0.7 — and scripts/arith-table.ts writes the table:
# greedy accuracy, maj@8, single-sample accuracy, pass@8 and mean rationale length, each ± its
# standard error.
# Usage: scripts/arith-experiment.sh [SEEDS...]   (default: 1 2 3). Results: runs/arith-experiment/.
# Rerunning resumes: a finished step (an evaluation with its summary line, a training run with its
# time file) is kept and skipped; an unfinished one starts over. FRESH=1 removes earlier results first.
# SMOKE=1 checks the whole pipeline in minutes: 2 updates per run, 8 test problems, results in
# runs/arith-experiment-smoke/ (always fresh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then seeds=("$@"); else seeds=(1 2 3); fi
field() { sed -n "s/^$1: *//p" configs/arith.yaml; }
if [ "${SMOKE:-0}" = 1 ]; then
  out=runs/arith-experiment-smoke
  limit=8
  episodes=$(( $(field per_device_train_batch_size) * $(field gradient_accumulation_steps) * 2 ))
  FRESH=1
else
  out=runs/arith-experiment
  limit=${LIMIT:-500}
  episodes=$(field total_episodes)
fi
[ "${FRESH:-0}" = 1 ] && rm -rf "$out"
mkdir -p "$out"
config=$out/arith.yaml
sed "s/^total_episodes: .*/total_episodes: $episodes/" configs/arith.yaml > "$config"
model=$(field model)
model=${model:-models/latro-tiny}
dataset=$(field dataset)
max_new_tokens=$(( $(field response_length) + 16 ))

evaluate() { # MODEL NAME
  if grep -q '"phase":"summary"' "$out/eval-$2.jsonl" 2>/dev/null; then echo "eval-$2: done"; return; fi
  bun run eval --model "$1" --dataset "$dataset" --split test --limit "$limit" --maj-k 8 --maj-temperature "$(field temperature)" \
    --max-new-tokens "$max_new_tokens" --batch-size 256 --seed 0 --out "$out/eval-$2.jsonl" | tail -1
}
seconds_since() { echo $(( $(date +%s) - $1 )); }

evaluate "$model" base
for s in "${seeds[@]}"; do
  if [ ! -f "$out/time-seed-$s.json" ]; then
    start=$(date +%s)
    bun run train --config "$config" --seed "$s" --output-dir "$out/latro-seed-$s" --overwrite-output-dir
    latro_seconds=$(seconds_since "$start")
    prompts=$out/sft-prompts-seed-$s-train.jsonl
    plan=$(bun scripts/sft-prompts.ts --config "$config" --seed "$s" --out "$prompts")
    updates=$(echo "$plan" | sed 's/.*"updates":\([0-9]*\).*/\1/')
    per_update=$(echo "$plan" | sed 's/.*"promptsPerUpdate":\([0-9]*\).*/\1/')
    start=$(date +%s)
    bun run sft --model "$model" --dataset "jsonl:$out/sft-prompts-seed-$s-{split}.jsonl" --output-dir "$out/sft-seed-$s" \
      --overwrite-output-dir --num-train-epochs 1 --per-device-train-batch-size "$per_update" --learning-rate "$(field learning_rate)" \
      --warmup-ratio "$(field warmup_ratio)" --max-grad-norm "$(field max_grad_norm)" --seed "$s" --logging-steps 10
    sft_seconds=$(seconds_since "$start")
    sft_updates=$(grep -c '"loss"' "$out/sft-seed-$s/metrics.jsonl" || true)
    [ "$sft_updates" = "$updates" ] || { echo "SFT made $sft_updates updates, LaTRO $updates" >&2; exit 1; }
    echo "{\"seed\": $s, \"latro_updates\": $updates, \"sft_updates\": $sft_updates, \"latro_seconds\": $latro_seconds, \"sft_seconds\": $sft_seconds}" | tee "$out/time-seed-$s.json"
  fi
  last=$(ls "$out/latro-seed-$s" | sed -n 's/^checkpoint-\([0-9]*\)$/\1/p' | sort -n | tail -1)
  evaluate "$out/latro-seed-$s/checkpoint-$last" "latro-seed-$s"
  evaluate "$out/sft-seed-$s" "sft-seed-$s"
done
bun scripts/arith-table.ts "$out" "$model"

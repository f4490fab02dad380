#!/usr/bin/env bash
# Rebuild everything that ships: classifiers, then every zoo entry (trained, evaluated, model card), then index.
# Usage: scripts/build_zoo.sh [data-dir] [glob]   (about an hour on 2 CPU cores; see README for timings)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-${VAE_ZOO_DATA:-data}}"
ONLY="${2:-*}"
[[ -f classifiers/mnist/model.safetensors && -f classifiers/fashion-mnist/model.safetensors ]] \
  || python scripts/train_classifiers.py --data-dir "$DATA"
python train.py --zoo zoo.toml --only "$ONLY" --data-dir "$DATA" --no-progress

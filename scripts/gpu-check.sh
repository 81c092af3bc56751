#!/usr/bin/env bash
# The prepared GPU check, one command on a machine with a CUDA device (about 5 minutes):
#   bash scripts/gpu-check.sh [OUT_DIR]
# 1. every package's tests (the CLI's too), whose CUDA-marked ones run there (they skip on
#    CPU-only machines), then the CUDA-marked ones alone per package;
# 2. a few AMP training steps of the tiny preset on CUDA and an evaluation of the result;
# 3. the detector's speed table (CPU; the GPU's own numbers come from the training log).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp/relnet-gpu}}
mkdir -p "$out"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
# the sources themselves, no build step (the device machine may have no package index)
export PYTHONPATH=$(printf '%s:' "$PWD"/packages/*/src)${PYTHONPATH:-}
relnet() { python3 -m relnet_cli "$@"; }
# one pytest per package: each package's tests have a conftest of their own
for package in geometry attention heads dedup detector cli; do
    python3 -m pytest -q -rs "packages/$package/tests" 2>&1 | tail -n 5 | tee -a "$out/tests.txt"
done
: > "$out/cuda-tests.txt"
for package in attention heads dedup detector; do
    python3 -m pytest -q -m cuda "packages/$package/tests" 2>&1 | tail -n 3 | tee -a "$out/cuda-tests.txt"
done
relnet data synth --out "$out/synth" --train 64 --val 16
relnet train --data "$out/synth" --out "$out/run" --device cuda --max-steps 20 2>&1 | tail -n 20
tail -n 3 "$out/run/metrics.jsonl"
relnet eval "$out/run" --device cuda --dedup nms,soft-nms,e2e --json "$out/eval.json"
python3 packages/detector/benchmarks/bench_speed.py --markdown | tee "$out/speed.md"

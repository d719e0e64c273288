#!/usr/bin/env bash
# Every GPU figure the results ask for, in one run on a GPU host, beside the same host's CPU:
# the CUDA tests, the torch simulator's chunk-steps/s at 4,096 / 16,384 / 65,536 sessions,
# training speed per collector, and the time to beat RobustMPC on every validation folder with
# the current recipe (configs/dagger_all.toml; needs `abr traces split` run first, see there).
# Usage (from the repository root, with a CUDA build of torch in .venv): scripts/gpu_figures.sh OUT
set -euo pipefail
out=${1:-out/gpu}
mkdir -p "$out"
abr=.venv/bin/abr
.venv/bin/python -m pytest -m cuda -q | tee "$out/cuda_tests.txt"
$abr bench-sim --backend all --sessions 4096,16384,65536 --seconds 2 --json | tail -1 > "$out/sim.json"
$abr bench-train --device cuda --sessions 4096 --env-steps 400000 --collectors host,device --json \
  | tail -1 > "$out/train_speed_cuda.json"
$abr bench-train --device cpu --env-steps 40000 --collectors host,device --json \
  | tail -1 > "$out/train_speed_cpu.json"
$abr train --config configs/dagger_all.toml --device cuda --n-sessions 4096 --batch-size 4096 \
  --updates-per-step 4 --out "$out/run_cuda" --json | tail -1 > "$out/run_cuda.json"
$abr train --config configs/dagger_all.toml --device cpu --out "$out/run_cpu" --json \
  | tail -1 > "$out/run_cpu.json"
echo "figures in $out/"

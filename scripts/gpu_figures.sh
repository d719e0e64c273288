#!/usr/bin/env bash
# Every GPU figure the results ask for, in one run on a GPU host, beside the same host's CPU:
# the CUDA tests; training speed over sampled ladders (configs/any_ladder.toml), one video a
# batch against eight; the torch simulator's chunk-steps/s at 4,096 / 16,384 / 65,536 sessions;
# training speed per collector with the defaults; and, with --with-training, the time to beat
# RobustMPC on every validation folder with configs/dagger_all.toml (long). Both configs read the
# validation split: run `abr traces split` first, as they say.
# Usage (from the repository root, with a CUDA build of torch in .venv):
#   scripts/gpu_figures.sh OUT [--with-training]
# PYTHON=python3 scripts/gpu_figures.sh OUT runs another interpreter (abr as `python -m abr.cli`).
set -euo pipefail
out=${1:-out/gpu}
py=${PYTHON:-.venv/bin/python}
abr="$py -m abr.cli"
mkdir -p "$out"

failed=()
step() {  # step NAME COMMAND...: the command's last line (its JSON) into OUT/NAME, all of it shown;
    local name=$1  # a failed step is named at the end, and the others still run
    shift
    echo "== $name: $*"
    "$@" | tee /dev/stderr | tail -1 >"$out/$name" || failed+=("$name")
}

step cuda_tests.txt $py -m pytest -m cuda -q tests/dqn/test_cuda.py tests/sim/test_torch_simulator.py
for device in cuda cpu; do
    step "ladder_speed_$device.json" $abr bench-train --config configs/any_ladder.toml \
        --device $device --collectors host --videos-per-batch 1,8 --env-steps 30000 --json
done
step sim.json $abr bench-sim --backend all --sessions 4096,16384,65536 --seconds 2 --json
step train_speed_cuda.json $abr bench-train --device cuda --sessions 4096 --env-steps 400000 \
    --collectors host,device --json
step train_speed_cpu.json $abr bench-train --device cpu --env-steps 40000 \
    --collectors host,device --json
if [[ "${2:-}" == "--with-training" ]]; then
    step run_cuda.json $abr train --config configs/dagger_all.toml --device cuda \
        --n-sessions 4096 --batch-size 4096 --updates-per-step 4 --out "$out/run_cuda" --json
    step run_cpu.json $abr train --config configs/dagger_all.toml --device cpu \
        --out "$out/run_cpu" --json
fi
echo "figures in $out/"
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# Every GPU figure the results ask for, in one run on a GPU host (about 8 minutes), beside the
# same host's CPU: the CUDA tests; the shipped recipe's training speed (configs/default_model.toml)
# with the learner on the GPU and on the CPU; the same on the GPU with 8x the sessions and 8x the
# batches (large-batch updates, where a GPU should pay); and the policy's decision speed. The
# recipe reads the validation split: run `abr traces split` first, as its header says.
# Usage (from the repository root, with a CUDA build of torch in .venv):
#   scripts/gpu_figures.sh OUT
# PYTHON=python3 scripts/gpu_figures.sh OUT runs another interpreter (abr as `python -m abr.cli`).
set -euo pipefail
out=${1:-out/gpu}
py=${PYTHON:-.venv/bin/python}
abr="$py -m abr.cli"
recipe=configs/default_model.toml
mkdir -p "$out"

failed=()
step() {  # step NAME COMMAND...: the command's last line (its JSON) into OUT/NAME, all of it shown;
    local name=$1  # a failed step is named at the end, and the others still run
    shift
    echo "== $name: $*"
    "$@" | tee /dev/stderr | tail -1 >"$out/$name" || failed+=("$name")
}

step cuda_tests.txt $py -m pytest -m cuda -q tests/dqn/test_cuda.py
for device in cuda cpu; do
    step "recipe_speed_$device.json" $abr bench-train --config $recipe --device $device \
        --env-steps 40000 --json
done
step recipe_speed_cuda_large.json $abr bench-train --config $recipe --device cuda \
    --sessions 512 --env-steps 200000 --json
step policy_speed.json $abr bench-policy --policy onnx --batch-sizes 1,1024 --seconds 3 --json
echo "figures in $out/"
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi

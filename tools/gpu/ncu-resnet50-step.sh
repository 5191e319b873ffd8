#!/usr/bin/env bash
# tools/gpu/ncu-resnet50-step.sh [PRECISION [LBS]] - every kernel of two steady ResNet-50
# training steps timed by Nsight Compute (gpu__time_duration only, --clock-control none: the
# clocks stay as found), wattscale (CUDA graph as in training; WATTSCALE_CUDA_PROFILE_STEPS
# puts the range after start-up's algorithm timing) and PyTorch on the same card: eager, and
# for bf16 torch.compile (its --cuda-profile-steps after warm-up). One device call (carry
# [".debs"]; builds with tools/gpu/setup.sh unless WS_NO_BUILD=1). Defaults: bf16, LBS 256;
# WS_NCU_IMPLS="ws torch-eager torch-compile" (the default) picks which run.
# Writes $OUT/ncu-{ws,torch-eager,torch-compile}-P-L.csv.gz; summarise anywhere with
# `python3 tools/gpu/ncu_summary.py FILE --steps 2 --categories` (time per kernel kind).
# Why: WATTSCALE_PROFILE=1 times layers with a sync each (launch gaps included, no graph);
# this compares kernels with kernels.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT=${OUT:-/tmp/ncu-resnet50}; mkdir -p "$OUT"
prec=${1:-bf16}; lbs=${2:-256}
[ "${WS_NO_BUILD:-0}" = 1 ] || { source tools/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }; }
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "ncu-resnet50-step: Nsight Compute (ncu) not found" >&2; exit 2; }
ncu=("$NCU" --clock-control none --profile-from-start off --metrics gpu__time_duration.sum --csv --print-units base)
rc=0
impls=" ${WS_NCU_IMPLS:-ws torch-eager torch-compile} "
run() { # NAME COMMAND...
  local name=$1; shift
  [[ "$impls" == *" $name "* ]] || return 0
  timeout -k 10 300 "${ncu[@]}" "$@" > "$OUT/ncu-$name-$prec-$lbs.csv" 2> "$OUT/ncu-$name-$prec-$lbs.err" || rc=1
  tail -2 "$OUT/ncu-$name-$prec-$lbs.err"
  python3 tools/gpu/ncu_summary.py "$OUT/ncu-$name-$prec-$lbs.csv" --steps 2 --categories | head -12
  gzip -f "$OUT/ncu-$name-$prec-$lbs.csv"
}
WATTSCALE_CUDA_PROFILE_STEPS=12:2 run ws build-gpu/bin/wattscale train --model resnet50 --data synthetic \
  --synthetic-count 2000000 --device cuda --precision "$prec" --local-batch "$lbs" --steps 15 --timing-warmup-steps 5 \
  --eval-every 0 --checkpoint-every 0 --lr 0.1 --warmup-epochs 0 --schedule constant --log-every 1000000 \
  --out "$OUT/run-ws"
rm -f "$OUT/run-ws"/*.wstf
run torch-eager python3 bench/train/torch_resnet50.py --precision "$prec" --lbs "$lbs" --warmup 10 --steps 1 \
  --cuda-profile-steps 2
[ "$prec" = bf16 ] && run torch-compile python3 bench/train/torch_resnet50.py --precision "$prec" --lbs "$lbs" \
  --warmup 10 --steps 1 --cuda-profile-steps 2 --compile
exit $rc

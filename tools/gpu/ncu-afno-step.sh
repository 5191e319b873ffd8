#!/usr/bin/env bash
# tools/gpu/ncu-afno-step.sh [PRECISION...] - every kernel of two full-size FourCastNet training
# steps (LBS 2, eager, no CUDA graph) timed by Nsight Compute (gpu__time_duration only,
# --clock-control none: the clocks stay as found), one device call (carry [".debs"]).
# Writes $OUT/ncu-P.csv.gz per precision (default bf16); summarise on any machine with
# `python3 tools/gpu/ncu_summary.py $OUT/ncu-bf16.csv.gz` (time per kernel name, per step).
# Why: WATTSCALE_PROFILE=1 times ops, not the kernels inside them (cuFFT, cuBLAS).
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT=${OUT:-/tmp/ncu-afno}; mkdir -p "$OUT"
precs=("$@"); [ ${#precs[@]} -eq 0 ] && precs=(bf16)
source tools/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "ncu-afno-step: Nsight Compute (ncu) not found" >&2; exit 2; }
rc=0
for prec in "${precs[@]}"; do
  timeout -k 10 400 "$NCU" --clock-control none --metrics gpu__time_duration.sum --csv --print-units base \
    build-gpu/bin/wattscale train --model afno --data synthetic-weather:20x720x1440 --synthetic-count 16 \
    --device cuda --precision "$prec" --local-batch 2 --global-batch 2 --steps 2 --timing-warmup-steps 1 \
    --eval-every 0 --val-limit 1 --checkpoint-every 0 --optimizer adam --lr 5e-4 --lr-rule none \
    --warmup-epochs 0 --schedule constant --cuda-graph off --log-every 1000 --out "$OUT/run-$prec" \
    > "$OUT/ncu-$prec.csv" 2> "$OUT/ncu-$prec.err" || rc=1
  tail -3 "$OUT/ncu-$prec.err"; rm -f "$OUT/run-$prec"/*.wstf
  gzip -f "$OUT/ncu-$prec.csv"
done
exit $rc

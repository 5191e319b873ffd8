#!/usr/bin/env bash
# scripts/demo.sh BUILD_DIR - the main job until the study runner exists: measures a short
# workload (a GEMM load on the GPUs where CUDA and a GPU exist, else a CPU load) with
# `wattscale measure`, with an idle baseline, and writes out/demo/measure.{json,csv}.
set -euo pipefail
build=${1:-build}
out=out/demo
mkdir -p "$out"
ws="$build/bin/wattscale"
if [ -x "$build/bin/ws_gpu_burn" ] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  load=("$build/bin/ws_gpu_burn" 10)
else
  load=("$build/bin/ws_cpu_burn" 10)
fi
"$ws" measure --idle-seconds 2 --json "$out/measure.json" --csv "$out/measure.csv" -- "${load[@]}"
echo "wattscale demo: report in $out/measure.json, power series in $out/measure.csv" >&2

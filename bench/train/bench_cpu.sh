#!/usr/bin/env bash
# bench/train/bench_cpu.sh [BUILD] - CPU training throughput (a benchmark, not a test):
# ResNet-18 with the small stem on 28x28 single-channel inputs (Fashion-MNIST's shape) and
# ResNet-50 on 3x224x224, synthetic data, fp32, all cores. Prints samples/s from each run
# record: training samples over training time (evaluation is off). Results with machine and
# date go to docs/results.md.
set -euo pipefail
build=${1:-build}
ws=$build/bin/wattscale
out=$(mktemp -d)
run() {  # name, then train flags
  local name=$1; shift
  "$ws" train --quiet --data synthetic --eval-every 0 --checkpoint-every 0 --out "$out/$name" "$@"
  python3 - "$out/$name/run.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = sum(e["time_s"] for e in r["epochs"]); s = r["totals"]["samples"]
fl = 3 * r["model"]["forward_flop_per_sample"]
print(f"{sys.argv[2]:<34} {s:6.0f} samples in {t:7.2f} s = {s/t:8.2f} samples/s "
      f"({s/t*fl/1e9:6.1f} GFLOP/s at {fl/1e9:.3f} GFLOP/sample), LBS {r['config']['local_batch']}, "
      f"threads {r['config']['threads'] or 'all'}")
PY
}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) logical CPUs, $(date -u +%F)"
run resnet18-small-stem-28px-lbs64 --model resnet18 --synthetic-shape 1x28x28 --synthetic-classes 10 \
    --synthetic-count 2048 --global-batch 64 --steps 30
run resnet50-224px-lbs16 --model resnet50 --synthetic-shape 3x224x224 --synthetic-classes 1000 \
    --synthetic-count 160 --global-batch 16 --steps 6
rm -rf "$out"

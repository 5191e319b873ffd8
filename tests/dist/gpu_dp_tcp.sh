#!/usr/bin/env bash
# tests/dist/gpu_dp_tcp.sh - data parallelism on 2 GPUs of one machine with NCCL, the ranks
# joined by the tcp world (no MPI needed), one command for the GPU machine (not in ctest):
#   OUT=/tmp/dp bash tests/dist/gpu_dp_tcp.sh
# builds with tools/gpu/setup.sh, then trains ResNet-18 (fp32, --deterministic) for 30 steps
#  1. on 1 GPU at GBS 128 with --accum 2 (LBS 64),
#  2. on 2 GPUs, one rank each (ws_spawn, tcp:// rendezvous), LBS 64: the NCCL id travels
#     through the tcp world, gradients through ncclAllReduce,
# and compares the per-step losses (rtol 1e-4 over the first 10 steps, a first guess: NCCL's
# average and the accumulation round differently, and chaos grows that later; all 30 are
# printed) and that the record says backend tcp and 2 ranks. Logs and records under $OUT.
# Exit 0 when all holds, 77 with fewer than 2 GPUs.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT=${OUT:-/tmp/gpu-dp-tcp}
mkdir -p "$OUT"
source tools/gpu/setup.sh || exit 1
n=$(nvidia-smi -L 2>/dev/null | wc -l)
[ "$n" -ge 2 ] || { echo "needs 2 GPUs, found $n: skipped"; exit 77; }
ws=build-gpu/bin/wattscale
spawn=build-gpu/tests/ws_spawn
common=(train --device cuda --precision fp32 --deterministic --model resnet18 --data synthetic --global-batch 128
        --steps 30 --lr 0.1 --seed 5 --eval-every 0 --quiet --watchdog 300)
"$ws" "${common[@]}" --local-batch 64 --accum 2 --out "$OUT/one" --step-log "$OUT/one.csv" \
  > "$OUT/one.log" 2>&1 || { tail -20 "$OUT/one.log"; echo "FAIL: 1 GPU"; exit 1; }
WATTSCALE_LOG=info "$spawn" 2 --timeout 500 -- "$ws" "${common[@]}" --local-batch 64 --out "$OUT/two" \
  --step-log "$OUT/two.csv" > "$OUT/two.log" 2>&1 || { tail -30 "$OUT/two.log"; echo "FAIL: 2 GPUs over tcp"; exit 1; }
python3 - "$OUT" <<'PY'
import json, sys
t = sys.argv[1]
def rows(f): return [tuple(map(float, l.split(","))) for l in open(f)]
a, b = rows(f"{t}/one.csv"), rows(f"{t}/two.csv")
assert len(a) == len(b) == 30, (len(a), len(b))
diffs = [abs(x[2] - y[2]) / abs(x[2]) for x, y in zip(a, b)]
print("relative loss difference per step:", " ".join(f"{d:.1e}" for d in diffs))
r = json.load(open(f"{t}/two/run.json"))
print("world:", r["world"])
assert r["world"]["size"] == 2 and r["world"]["backend"] == "tcp", r["world"]
assert max(diffs[:10]) <= 1e-4, "losses differ in the first 10 steps"
print("2 GPUs over a tcp world follow 1 GPU with --accum 2: PASS")
PY

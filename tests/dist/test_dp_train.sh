#!/usr/bin/env bash
# tests/dist/test_dp_train.sh WATTSCALE FAKE_NVML - data-parallel training on the CPU with MPI:
#  1. `mpirun -np 2` gives the same per-step losses as one process at the same GBS (one
#     process with --accum 2 sees the same micro-batches, so the same batch-norm statistics);
#     tolerance 1e-5 relative: the gradients differ only in the order of fp32 sums.
#  2. the samples of an epoch are GBS x steps on 2 ranks (each seen once: the sampler test
#     proves the union of the ranks' batches is the global batch).
#  3. with two ranks on one node and a fake NVML GPU at 100 W, the energy is counted once.
#  4. killing one rank ends the job with a non-zero status within 60 s.
# Exit 77 (skipped) where the build or the machine has no MPI.
set -uo pipefail
ws=$1; fake=$2
command -v mpirun >/dev/null || { echo "no mpirun: skipped"; exit 77; }
"$ws" --version | grep -q "^mpi *yes" || { echo "built without MPI: skipped"; exit 77; }
mpi=(mpirun --oversubscribe -np 2)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
common=(train --model resnet18 --width 4 --data synthetic --synthetic-shape 3x16x16 --synthetic-classes 5
        --synthetic-count 640 --global-batch 32 --steps 20 --lr 0.2 --seed 3 --threads 1 --quiet
        --eval-every 0 --watchdog 120)

# 1 and 2
"$ws" "${common[@]}" --local-batch 16 --accum 2 --out "$tmp/one" --step-log "$tmp/one.csv" || fail "single process"
"${mpi[@]}" "$ws" "${common[@]}" --local-batch 16 --out "$tmp/two" --step-log "$tmp/two.csv" || fail "mpirun -np 2"
python3 - "$tmp" <<'PY' || exit 1
import json, sys
t = sys.argv[1]
def rows(f): return [tuple(map(float, l.split(","))) for l in open(f)]
a, b = rows(f"{t}/one.csv"), rows(f"{t}/two.csv")
assert len(a) == len(b) == 20, (len(a), len(b))
worst = max(abs(x[2] - y[2]) / abs(x[2]) for x, y in zip(a, b))
print(f"20 steps: worst relative loss difference 1 process (accum 2) vs 2 ranks: {worst:.3g}")
assert worst <= 1e-5, "losses differ"
r = json.load(open(f"{t}/two/run.json"))
assert r["world"]["size"] == 2 and r["config"]["local_batch"] == 16, r["world"]
assert r["totals"]["samples"] == 20 * 32, r["totals"]["samples"]
assert r["totals"]["updates"] == 20
PY

# 3: energy counted once per node
cat > "$tmp/nvml.conf" <<CONF
gpu name="Fake GPU" uuid=GPU-dp-0 counter=yes counter_period_ms=100 power_mw=100000
CONF
WATTSCALE_NVML_LIBRARY=$fake WATTSCALE_FAKE_NVML_CONFIG=$tmp/nvml.conf \
  "${mpi[@]}" -x WATTSCALE_NVML_LIBRARY -x WATTSCALE_FAKE_NVML_CONFIG \
  "$ws" "${common[@]}" --local-batch 16 --out "$tmp/energy" || fail "mpirun with fake NVML"
python3 - "$tmp/energy/run.json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
gpu = r["totals"]["energy_by_domain_j"]["gpu"]
devices = [d for d in r["energy"]["devices"] if d["kind"] == "gpu"]
assert len(devices) == 1, devices
t = devices[0]["duration_s"]  # the meter's window
print(f"2 ranks, 1 fake GPU at 100 W: {gpu:.1f} J over {t:.2f} s metered, {len(devices)} GPU listed")
assert len(r["energy"]["nodes"]) == 1
# once: 100 W x the metered time, within two 100 ms counter periods (20 J); twice would be ~200 W
assert abs(gpu - 100 * t) <= 25, (gpu, t)
# the epoch's energy is split by phase from the power samples; training is mostly compute
ph = r["epochs"][0]["energy_by_phase_j"]
print("energy by phase, J:", {k: round(v, 2) for k, v in ph.items()})
assert ph["compute"] > 0 and ph["data"] >= 0 and ph["allreduce_wait"] >= 0, ph
assert ph["compute"] > ph["allreduce_wait"], ph
PY

# 4: a rank killed mid-run ends the job
"${mpi[@]}" "$ws" train --model resnet18 --width 4 --data synthetic --synthetic-shape 3x16x16 --synthetic-classes 5 \
  --synthetic-count 640 --global-batch 32 --epochs 1000 --threads 1 --quiet --eval-every 0 --watchdog 30 \
  --out "$tmp/kill" > "$tmp/kill.log" 2>&1 &
job=$!
for _ in $(seq 100); do
  victim=$(pgrep -f -- "--out $tmp/kill" | while read -r p; do [ "$p" != "$job" ] && ps -o comm= -p "$p" | grep -q wattscale && echo "$p"; done | tail -1)
  [ -n "$victim" ] && break
  sleep 0.2
done
[ -n "$victim" ] || fail "no rank to kill"
sleep 2
t0=$(date +%s)
kill -9 "$victim"
for _ in $(seq 120); do kill -0 $job 2>/dev/null || break; sleep 0.5; done
if kill -0 $job 2>/dev/null; then kill -9 $job; fail "job still running 60 s after a rank was killed"; fi
wait $job; rc=$?
echo "killed rank $victim: the job ended after $(( $(date +%s) - t0 )) s with status $rc"
[ $rc -ne 0 ] || fail "job exited 0 after a rank was killed"
echo "4 passed, 0 failed"

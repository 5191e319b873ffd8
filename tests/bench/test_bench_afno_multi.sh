#!/usr/bin/env bash
# tests/bench/test_bench_afno_multi.sh WATTSCALE FAKE_NVML - bench/afno/bench_afno_multi_gpu.sh
# on the CPU (--small --device cpu: ranks stand for GPUs), so that the one command the GPU
# machine runs is checked where there is no GPU:
#  1. bad flags exit 2 with a message naming the flag, before anything runs;
#  2. wattscale on 1 and 2 MPI ranks at LBS 1 and 2, under a fake NVML with two GPUs at a
#     constant 300 W and 80 W: summary.json has the four points with samples/s, the scaling
#     efficiency (1 at N=1), GBS = LBS x N, and the machine's J/sample that the two fake GPUs
#     imply (380 W / samples/s, 5%: the meter's windows are short); on 2 ranks (every GPU
#     used) "J/sample of the GPUs used" equals it; on 1 rank of the CPU (no GPU of its own)
#     it is n/a; summary.md has the table. PyTorch's side runs only where torch is installed
#     (not in CI): it is then checked to have the same four points.
# Exit 77 (skipped) where the build or the machine has no MPI.
set -uo pipefail
ws=$1; fake=$2
command -v mpirun >/dev/null || { echo "no mpirun: skipped"; exit 77; }
"$ws" --version | grep -q "^mpi *yes" || { echo "built without MPI: skipped"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
bench=$here/../../bench/afno/bench_afno_multi_gpu.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 1. bad flags
for args in "--gpus 0" "--lbs two" "--precision fp16" "--device tpu" "--bogus" "--max-seconds" \
            "--device cpu --precision bf16"; do
  # shellcheck disable=SC2086
  OUT=$tmp/bad bash "$bench" $args --ws "$ws" > "$tmp/bad.log" 2>&1
  rc=$?
  [ $rc -eq 2 ] || fail "'$args' exited $rc, not 2: $(cat "$tmp/bad.log")"
  grep -q "bench_afno_multi_gpu: " "$tmp/bad.log" || fail "'$args': no message: $(cat "$tmp/bad.log")"
  [ -e "$tmp/bad" ] && fail "'$args' wrote results"
done
OUT=$tmp/bad bash "$bench" --small --device cpu --ws "$tmp/no-such-wattscale" > "$tmp/bad.log" 2>&1
[ $? -eq 2 ] && grep -q "no-such-wattscale is missing" "$tmp/bad.log" || fail "a missing --ws: $(cat "$tmp/bad.log")"

# 2. the CPU run, with energy from a fake NVML
printf 'gpu power_mw=300000 counter_period_ms=0\ngpu power_mw=80000 counter_period_ms=0\n' > "$tmp/nvml.conf"
WATTSCALE_NVML_LIBRARY=$fake WATTSCALE_FAKE_NVML_CONFIG=$tmp/nvml.conf OUT=$tmp/out \
  bash "$bench" --small --device cpu --ws "$ws" --gpus "1 2" --lbs "1 2" --ws-steps 12 > "$tmp/run.log" 2>&1 ||
  fail "the CPU run exited $?: $(tail -20 "$tmp/run.log")"
grep -q "^| 2 | 2 | 4 | wattscale | completed" "$tmp/out/summary.md" || fail "summary.md lacks 2 ranks, LBS 2: $(cat "$tmp/out/summary.md")"
python3 - "$tmp/out/summary.json" <<'PY' || fail "summary.json: see above"
import json, sys
j = json.load(open(sys.argv[1]))
ws = {(r["gpus"], r["lbs"]): r for r in j["rows"] if r["impl"] == "wattscale"}
bad = []
if sorted(ws) != [(1, 1), (1, 2), (2, 1), (2, 2)]:
    bad.append(f"points {sorted(ws)}")
if j["machine_gpus"] != 2:
    bad.append(f"machine_gpus {j['machine_gpus']}")
for (n, lbs), r in sorted(ws.items()):
    sps, jm = r.get("samples_per_s"), r.get("j_per_sample_machine")
    if not (sps and sps > 0 and r["status"] == "completed" and r["gbs"] == n * lbs and r["steps"] == 12):
        bad.append(f"{n}x{lbs}: {r}")
        continue
    if n == 1 and not abs(r["scaling_efficiency"] - 1) <= 1e-12:
        bad.append(f"{n}x{lbs}: efficiency {r['scaling_efficiency']}")
    if n == 2 and not abs(r["scaling_efficiency"] - sps / (2 * ws[(1, lbs)]["samples_per_s"])) <= 1e-9:
        bad.append(f"{n}x{lbs}: efficiency {r['scaling_efficiency']}")
    if not (jm is not None and abs(jm * sps - 380.0) <= 0.05 * 380.0):
        bad.append(f"{n}x{lbs}: J/sample {jm} x samples/s {sps} is not 380 W")
    used = r.get("j_per_sample_used")
    if n == 2 and used != jm:
        bad.append(f"{n}x{lbs}: used {used} != machine {jm}")
    if n == 1 and used is not None:
        bad.append(f"{n}x{lbs}: used {used} without a GPU of its own")
torch = {(r["gpus"], r["lbs"]) for r in j["rows"] if r["impl"] != "wattscale" and r.get("samples_per_s")}
try:
    import torch as _  # noqa: F401
    if torch != set(ws):
        bad.append(f"PyTorch's points {sorted(torch)}")
except ImportError:
    if torch:
        bad.append(f"PyTorch rows without torch: {sorted(torch)}")
for b in bad:
    print("summary.json:", b)
sys.exit(1 if bad else 0)
PY
python3 -c "import torch" 2>/dev/null || grep -q "PyTorch's side: skipped" "$tmp/out/summary.md" ||
  fail "summary.md does not say PyTorch's side was skipped"
echo "bench_afno_multi_gpu.sh on the CPU: flags, 4 points, energy and scaling columns: ok"

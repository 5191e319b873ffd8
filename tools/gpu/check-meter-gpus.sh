#!/usr/bin/env bash
# tools/gpu/check-meter-gpus.sh - on the GPU machine (1 or 2+ GPUs, carry: [".debs"]): that
# `wattscale train --device cuda` meters exactly the GPUs its ranks use (--meter-gpus used,
# the default) and every GPU with --meter-gpus all, and that `wattscale measure --gpus`
# selects by UUID. Builds with tools/gpu/setup.sh (skip with WS_NO_BUILD=1 when build-gpu/
# is there). Each check compares run.json's energy.gpu_metering with nvidia-smi's UUIDs.
# Logs and records under $OUT/meter-gpus/; prints one line per check; exits 1 when one fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/check-meter-gpus}/meter-gpus
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
export CUDA_DEVICE_ORDER=PCI_BUS_ID # CUDA indices = nvidia-smi's, for the expectations below
[ "${WS_NO_BUILD:-0}" = 1 ] || { source tools/gpu/setup.sh > "$out/setup.log" 2>&1 || { tail -20 "$out/setup.log"; exit 1; }; }
ws=build-gpu/bin/wattscale
mapfile -t uuids < <(nvidia-smi --query-gpu=uuid --format=csv,noheader | tr -d ' ')
n=${#uuids[@]}
[ "$n" -ge 1 ] || { echo "check-meter-gpus: nvidia-smi lists no GPU" >&2; exit 1; }
echo "GPUs: ${uuids[*]}" | tee "$out/gpus.txt"
failed=0
train=(train --model resnet18 --width 8 --data synthetic --synthetic-shape 3x64x64 --synthetic-classes 10
       --synthetic-count 4096 --device cuda --steps 40 --eval-every 0 --checkpoint-every 0 --log-every 20)
# check NAME JSON EXPECTED_METERED(comma list) EXPECTED_LEFT_OUT(comma list) MODE
check() {
  python3 - "$@" <<'PY' && echo "ok: $1" || { echo "FAILED: $1"; return 1; }
import json, sys
name, path, want, left, mode = sys.argv[1:6]
r = json.load(open(path))
gm = r["energy"]["gpu_metering"]
want, left = [u for u in want.split(",") if u], [u for u in left.split(",") if u]
got = gm["metered"]
got_left = [g["id"] for g in gm["left_out"]]
gpu_devs = [d for d in r["energy"]["devices"] if d["kind"] == "gpu"]
ok = gm["mode"] == mode and sorted(got) == sorted(want) and sorted(got_left) == sorted(left) and \
    len(gpu_devs) == len(want) and r["energy"]["nodes"][0]["gpus_metered"] == len(want)
ng = r["energy"]["nodes"][0]["gpus"]  # the node table's lists (every node's): the same on one node
ok = ok and ng["metered"] == got and [g["id"] for g in ng["left_out"]] == got_left
steady = r["totals"].get("steady") or {}
print(f"  {name}: mode {gm['mode']}, metered {got}, left out {got_left}, steady J/sample "
      f"{steady.get('j_per_sample')}, W {steady.get('mean_power_w')}")
sys.exit(0 if ok else 1)
PY
}
all=$(IFS=,; echo "${uuids[*]}")
# 1. one GPU, default used: its UUID only (the record's device.uuid is rank 0's CUDA UUID)
"$ws" "${train[@]}" --global-batch 64 --out "$out/used1" > "$out/used1.log" 2>&1 || { tail -5 "$out/used1.log"; failed=1; }
rest=$(IFS=,; echo "${uuids[*]:1}")
check "1 GPU, --meter-gpus used" "$out/used1/run.json" "${uuids[0]}" "$rest" used || failed=1
python3 -c "import json,sys; r=json.load(open('$out/used1/run.json')); sys.exit(r['device']['uuid'] != r['energy']['gpu_metering']['metered'][0])" ||
  { echo "FAILED: CUDA's UUID (device.uuid) is not the metered NVML UUID"; failed=1; }
# 2. one GPU, all: every GPU
"$ws" "${train[@]}" --global-batch 64 --meter-gpus all --out "$out/all1" > "$out/all1.log" 2>&1 || { tail -5 "$out/all1.log"; failed=1; }
check "1 GPU, --meter-gpus all" "$out/all1/run.json" "$all" "" all || failed=1
# 3. measure --gpus: the first GPU only; an unknown UUID fails with 125
"$ws" measure --gpus "${uuids[0]}" --json "$out/measure.json" -- sleep 2 > "$out/measure.log" 2>&1 || failed=1
python3 -c "import json,sys; j=json.load(open('$out/measure.json')); sys.exit([d['id'] for d in j['devices'] if d['kind']=='gpu'] != ['${uuids[0]}'] or len(j['left_out']) != $n - 1)" &&
  echo "ok: measure --gpus" || { echo "FAILED: measure --gpus"; failed=1; }
"$ws" measure --gpus GPU-00000000-0000-0000-0000-000000000000 -- true > "$out/measure-bad.log" 2>&1
[ $? -eq 125 ] && grep -q GPU-00000000-0000-0000-0000-000000000000 "$out/measure-bad.log" && echo "ok: measure --gpus unknown" ||
  { echo "FAILED: measure --gpus unknown: $(cat "$out/measure-bad.log")"; failed=1; }
if [ "$n" -ge 2 ]; then
  # 4. CUDA_VISIBLE_DEVICES renumbers CUDA's devices: the meter still finds the second GPU by UUID
  CUDA_VISIBLE_DEVICES=1 "$ws" "${train[@]}" --global-batch 64 --out "$out/visible1" > "$out/visible1.log" 2>&1 ||
    { tail -5 "$out/visible1.log"; failed=1; }
  left=$(IFS=,; u=("${uuids[@]}"); unset 'u[1]'; echo "${u[*]}")
  check "CUDA_VISIBLE_DEVICES=1, used" "$out/visible1/run.json" "${uuids[1]}" "$left" used || failed=1
  # 5. two ranks (mpirun, NCCL): both GPUs gathered to local rank 0
  mpi=(mpirun --bind-to none -np 2 -x NCCL_NVLS_ENABLE); [ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
  "${mpi[@]}" "$ws" "${train[@]}" --global-batch 128 --out "$out/used2" > "$out/used2.log" 2>&1 || { tail -5 "$out/used2.log"; failed=1; }
  left=$(IFS=,; echo "${uuids[*]:2}")
  check "2 ranks, used" "$out/used2/run.json" "${uuids[0]},${uuids[1]}" "$left" used || failed=1
fi
exit $failed

#!/usr/bin/env bash
# bench/predict/h200_predictions.sh BUILD [OUT] - the prediction figures of docs/results.md,
# from the H200 run records kept in docs/data/h200-resnet50 (ResNet-50, one H200, bf16 and
# fp32 at LBS 64/128/256, 2026-12-01), on any machine with the CPU build (SQLite, GSL):
#   OUT/loo.txt, loo.json           leave-one-out: each run predicted from the others
#   OUT/extra.md                    LBS 1280 (bf16) and 640 (fp32) from all three runs each
#   OUT/gpus48.md, gpus48-*.json    1, 2, 4, 8 GPUs of one node, before any such run exists
# Extra flags for every predict call (e.g. --network FILE once the all-reduce is measured)
# come from $PREDICT_FLAGS.
set -euo pipefail
build=${1:?usage: bench/predict/h200_predictions.sh BUILD [OUT]}
out=${2:-${OUT:-predict-out}}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ws=$build/bin/wattscale
mkdir -p "$out"
rm -f "$out/h200.db"
"$ws" study ingest "$root/docs/data/h200-resnet50" --db "$out/h200.db" --study h200-resnet50 > /dev/null
# shellcheck disable=SC2086
"$ws" predict "$out/h200.db" --loo --json "$out/loo.json" ${PREDICT_FLAGS:-} > "$out/loo.txt"
table() { # table JSON TITLE: one Markdown row per prediction
  python3 - "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
def iv(v, k=1, f='%.4g'):
    if v['mid'] is None: return '-'
    if v['lo'] is None: return (f % (v['mid'] * k)) + ' (no interval)'
    return (f + ' [' + f + ', ' + f + ']') % (v['mid'] * k, v['lo'] * k, v['hi'] * k)
c = d['calibration']
print('| %s | GPUs | GBS | LBS | step ms [95%%] | samples/s [95%%] | all-reduce ms (exposed range) | J/sample [95%%] | GPU W | 100-step run s | run kJ |' % sys.argv[2])
print('|---|---:|---:|---:|---|---|---|---|---:|---:|---:|')
for p in d['predictions']:
    ex = p['exposed_allreduce_s']
    ar = '0' if not p['allreduce_s']['mid'] else '%.3g (%.3g-%.3g)' % (p['allreduce_s']['mid'] * 1e3, ex['lo'] * 1e3, ex['hi'] * 1e3)
    print('| %s | %d | %d | %d%s | %s | %s | %s | %s | %.0f | %.4g | %.4g |' % (
        c['precision'], p['gpus'], p['global_batch'], p['local_batch'], ' (extrapolated)' if p['lbs_extrapolated'] else '',
        iv(p['step_s'], 1e3), iv(p['samples_per_s'], 1, '%.0f'), ar, iv(p['j_per_sample']), p['gpu_power_w']['mid'],
        p['time_s']['mid'], p['energy_kwh']['mid'] * 3600))
PY
}
predict() { # predict NAME ARGS...
  local name=$1; shift
  # shellcheck disable=SC2086
  "$ws" predict "$out/h200.db" --steps 100 --gpus-per-node 8 --json "$out/$name.json" ${PREDICT_FLAGS:-} "$@" \
    > "$out/$name.txt"
}
predict x1280 --precision bf16 --gpus 1 --lbs 1280
predict x640 --precision fp32 --gpus 1 --lbs 640
{ table "$out/x1280.json" "extra"; table "$out/x640.json" "extra" | tail -n +3; } > "$out/extra.md"
predict gpus48-bf16-gbs256 --precision bf16 --gpus 1,2,4,8 --gbs 256
predict gpus48-bf16-lbs128 --precision bf16 --gpus 1,2,4,8 --lbs 128
predict gpus48-bf16-lbs256 --precision bf16 --gpus 1,2,4,8 --lbs 256
predict gpus48-fp32-lbs256 --precision fp32 --gpus 1,2,4,8 --lbs 256
{
  table "$out/gpus48-bf16-gbs256.json" "constant GBS 256"
  table "$out/gpus48-bf16-lbs128.json" "constant LBS 128" | tail -n +3
  table "$out/gpus48-bf16-lbs256.json" "constant LBS 256" | tail -n +3
  table "$out/gpus48-fp32-lbs256.json" "constant LBS 256" | tail -n +3
} > "$out/gpus48.md"
sed -n '/Assumptions/,$p' "$out/gpus48-bf16-lbs128.txt" > "$out/gpus48-assumptions.txt"
echo "written: $out/loo.txt $out/extra.md $out/gpus48.md $out/gpus48-assumptions.txt"

#!/usr/bin/env bash
# tests/analysis/test_predict_cli.sh WATTSCALE TEST_PREDICT ROOT - `wattscale predict`,
# `advise`, `calibrate allreduce` and the report's predicted curves, end to end:
#   - leave-one-out on the real H200 runs (docs/data/h200-resnet50): every run predicted,
#     step time within 10% and J/sample within 3% (what docs/results.md reports)
#   - a synthetic study from a known truth (test_predict write DIR): its report has the
#     predicted figures and tables/predictions.csv up to 512 GPUs, within 3% at the measured
#     points; advise finds a configuration to a target
#   - calibrate allreduce on timings from a known ring model, and predict --network with it
#   - bad flags, files and requests: refused with the reason and the right exit status
set -u
ws=$1
truth=$2
root=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect CODE PATTERN CMD...: exit status CODE and PATTERN in its output
  local code=$1 pat=$2; shift 2
  "$@" > "$tmp/out" 2>&1
  local got=$?
  [ "$got" = "$code" ] || fail "$* exited $got, want $code: $(tail -5 "$tmp/out")"
  grep -q -- "$pat" "$tmp/out" || fail "$*: no '$pat' in: $(tail -5 "$tmp/out")"
}

# ---- the H200 runs ----
"$ws" study ingest "$root/docs/data/h200-resnet50" --db "$tmp/h200.db" --study h200-resnet50 > "$tmp/log" 2>&1 ||
  fail "ingest: $(cat "$tmp/log")"
expect 0 "step time" "$ws" predict "$tmp/h200.db" --loo --json "$tmp/loo.json"
python3 - "$tmp/loo.json" <<'EOF' || fail "leave-one-out on the H200 runs"
import json, sys
d = json.load(open(sys.argv[1]))
assert d['schema'] == 'wattscale.loo/1', d['schema']
rows = d['rows']
assert len(rows) == 6, len(rows)
for r in rows:
    assert 'not_predicted' not in r, r
    e_step = abs(r['step_s']['mid'] / r['step_s_measured'] - 1)
    e_j = abs(r['j_per_sample']['mid'] / r['j_per_sample_measured'] - 1)
    assert e_step < 0.10 and e_j < 0.03, (r['run'], e_step, e_j)
EOF
# 4 and 8 GPUs of one node: the unmeasured network is named as an assumption
expect 0 "assumed: bus bandwidth 329 GB/s from facts.md" "$ws" predict "$tmp/h200.db" --precision bf16 \
  --gpus 1,4,8 --gpus-per-node 8 --lbs 256 --steps 1000 --json "$tmp/p.json"
python3 - "$tmp/p.json" <<'EOF' || fail "prediction JSON"
import json, sys
d = json.load(open(sys.argv[1]))
p = d['predictions']
assert [x['gpus'] for x in p] == [1, 4, 8]
assert not d['network']['intra_node']['measured']
assert p[0]['allreduce_s']['mid'] == 0 and p[2]['allreduce_s']['mid'] > p[1]['allreduce_s']['mid'] > 0
assert p[0]['host_energy'] == 'not counted'
assert p[2]['step_s']['lo'] < p[2]['step_s']['mid'] < p[2]['step_s']['hi']
EOF

# ---- refusals ----
expect 2 "usage: wattscale predict" "$ws" predict
expect 2 "no workload" "$ws" predict "$tmp/h200.db" --gpus 2 --lbs 64
expect 2 "give --lbs" "$ws" predict "$tmp/h200.db" --gpus 2 --steps 10
expect 2 "more than one precision" "$ws" predict "$tmp/h200.db" --gpus 2 --lbs 64 --steps 10
expect 2 "no finished run with precision \"fp64\"" "$ws" predict "$tmp/h200.db" --precision fp64 --gpus 2 --lbs 64 --steps 10
expect 2 "want auto, ring or tree" "$ws" predict "$tmp/h200.db" --algo nvls --gpus 2 --lbs 64 --steps 10
expect 2 "want a whole number" "$ws" predict "$tmp/h200.db" --gpus 2,x --lbs 64 --steps 10
expect 2 "samples per epoch unknown" "$ws" predict "$tmp/h200.db" --precision bf16 --gpus 2 --lbs 64 --epochs 1
expect 1 "no database at" "$ws" predict "$tmp/absent.db" --gpus 2 --lbs 64 --steps 10
expect 2 "give one of" "$ws" advise "$tmp/h200.db" --epochs 1 --steps 3
expect 2 "only: allreduce" "$ws" calibrate power x.json

# ---- calibrate allreduce on timings from a known ring model ----
python3 - "$tmp/timings.json" <<'EOF'
import json, sys
c, a, b = 9e-6, 3e-6, 1 / 400e9       # per call, per step, s/byte: 400 GB/s bus bandwidth
sets = []
for p in (2, 4, 8):
    pts = [{'bytes': n, 'time_s': c + 2 * (p - 1) * a + 2 * (p - 1) / p * n * b} for n in (2 ** k for k in range(10, 31))]
    sets.append({'gpus': p, 'nodes': 1, 'algo': 'Ring', 'points': pts})
json.dump({'schema': 'wattscale.allreduce-timings/1', 'gpu': 'Test GPU', 'library': 'NCCL test', 'sets': sets},
          open(sys.argv[1], 'w'))
EOF
expect 0 "400 GB/s bus" "$ws" calibrate allreduce "$tmp/timings.json" --out "$tmp/net.json"
python3 - "$tmp/net.json" <<'EOF' || fail "fitted model file"
import json, sys
d = json.load(open(sys.argv[1]))
i = d['intra_node']
assert d['schema'] == 'wattscale.allreduce-model/1' and i['measured'] and 'inter_node' not in d
assert abs(i['bus_gb_per_s'] / 400 - 1) < 1e-6 and abs(i['alpha_s'] / 3e-6 - 1) < 1e-4 and abs(i['call_s'] / 9e-6 - 1) < 1e-3, i
EOF
expect 0 "Intra-node link: measured: NCCL test all-reduce over 2, 4, 8 GPUs" "$ws" predict "$tmp/h200.db" \
  --precision bf16 --gpus 8 --lbs 256 --steps 100 --network "$tmp/net.json"
echo '{"schema": "wattscale.allreduce-timings/1", "sets": [{"gpus": 2, "nodes": 1, "points": []}]}' > "$tmp/bad.json"
expect 2 "must be a non-empty array" "$ws" calibrate allreduce "$tmp/bad.json"
expect 1 "wattscale.allreduce-model/1" "$ws" predict "$tmp/h200.db" --gpus 8 --lbs 256 --steps 100 --network "$tmp/timings.json"

# ---- a synthetic study from a known truth: report with predicted curves, advise ----
"$truth" write "$tmp/runs" || fail "test_predict write"
"$ws" study ingest "$tmp/runs" --db "$tmp/s.db" > "$tmp/log" 2>&1 || fail "ingest: $(cat "$tmp/log")"
"$ws" report "$tmp/s.db" --gpus-per-node 4 --no-figures > "$tmp/log" 2>&1 || fail "report: $(cat "$tmp/log")"
python3 - "$tmp/report" <<'EOF' || fail "predictions in the report"
import csv, os, sys
rep = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(rep, 'tables', 'predictions.csv'))))
for series in ('gbs512', 'lbs128'):
    mine = [r for r in rows if r['curve'] == series]
    gpus = [int(r['gpus']) for r in mine]
    assert gpus[0] == 1 and gpus[-1] == 512, (series, gpus)
    measured = [r for r in mine if r['measured_time_s_mean']]
    assert len(measured) == 4, (series, len(measured))
    for r in measured:
        for what in ('time_s', 'energy_kwh'):
            got, want = float(r[what]), float(r['measured_' + what + '_mean'])
            assert abs(got / want - 1) < 0.03, (series, r['gpus'], what, got, want)
    big = [r for r in mine if int(r['gpus']) > 4]
    assert all(int(r['nodes']) == int(r['gpus']) // 4 for r in big)
gbs = [r for r in rows if r['curve'] == 'gbs512']
assert all(int(r['global_batch']) == 512 for r in gbs) and gbs[-1]['local_batch'] == '1', gbs[-1]
for f in ('predicted_time_vs_gpus', 'predicted_energy_vs_gpus'):
    for ext in ('gp', 'dat'):
        assert os.path.getsize(os.path.join(rep, 'figures', f + '.' + ext)) > 0, f
md = open(os.path.join(rep, 'report.md')).read()
assert 'Predicted for series gbs512 at 512 GPUs' in md
EOF
expect 0 "Least energy:" "$ws" advise "$tmp/s.db" --target val_top1=0.5 --max-gpus 8 --gpus-per-node 4 --json "$tmp/a.json"
expect 2 "none of the" "$ws" advise "$tmp/s.db" --target val_top1=0.99 --max-gpus 8
echo "predict, advise, calibrate and the report's predictions: all checks passed"

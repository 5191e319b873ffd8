#!/usr/bin/env bash
# tests/study/test_study_fourcastnet.sh WATTSCALE CONFIG SWE_DIR - a FourCastNet study goes
# through `wattscale study plan`, `study run` and `report` as a ResNet study does: CONFIG
# (configs/fourcastnet-gpu-1.yaml) must plan as written; a CPU-sized copy of it (device cpu,
# a smaller AFNO, 3 GBS points, 1 repetition, 2 epochs, on the CI shallow-water set SWE_DIR)
# plans the samples its runs then train, runs, every run stores its skill (val_rmse_norm,
# val_acc), and the report uses the forecast metric (lower is better) in its findings, tables
# and CSV, and states its one-rank series as a throughput ratio.
set -u
ws=$1 config=$2 swe=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }
[ -d "$swe/train" ] || fail "no shallow-water data in $swe (the swe_ci_data fixture makes it)"

"$ws" study plan "$config" > "$tmp/plan-gpu.log" 2>&1 || fail "study plan $config"
grep -q "10 runs" "$tmp/plan-gpu.log" || fail "$config: expected 10 planned runs"

sed -e "s|swe:out/swe-32x64|swe:$swe|; s|device: cuda|device: cpu|" \
    -e 's|"256", --depth, "4"|"16", --depth, "1"|; s|epochs: 4|epochs: 2|; s|repetitions: 2|repetitions: 1|' \
    -e "s|out/fourcastnet-gpu-1|$tmp/fc|g" -e '/local_batch: 8,/d; /local_batch: 32,/d' \
    -e 's|^  type: local$|  type: local\n  cpu_threads: 1|' \
    "$config" > "$tmp/fc.yaml"
grep -q "device: cpu" "$tmp/fc.yaml" || fail "the CPU copy of $config was not made (the file changed?)"
"$ws" study plan "$tmp/fc.yaml" > "$tmp/plan-cpu.log" 2>&1 || fail "study plan of the CPU copy"
planned=$(sed -n 's/^total: 3 runs, \([0-9]*\) samples.*/\1/p' "$tmp/plan-cpu.log")
[ -n "$planned" ] && [ "$planned" -gt 0 ] || fail "study plan does not count the shallow-water samples"
WATTSCALE_LOG=info "$ws" study run "$tmp/fc.yaml" > "$tmp/run.log" 2>&1 || fail "study run"
grep -q "3 planned, 0 done before, 3 run now, 0 failed" "$tmp/run.log" || fail "study run: not 3 runs"
grep -q "val_rmse_norm" "$tmp/run.log" || fail "study run does not report the skill"

"$ws" report "$tmp/fc/study.db" --out "$tmp/rep" > "$tmp/report.log" 2>&1 || fail "report"
md=$tmp/rep/report.md
grep -q "| val_rmse_norm |" "$md" || fail "report.md: no val_rmse_norm column in the metric tables"
grep -Eq "val_rmse_norm (does not degrade|degrades beyond)" "$md" || fail "report.md: no accuracy-vs-GBS finding"
grep -q "below the best" "$md" && fail "report.md: RMSE is lower-is-better, yet 'below the best'"
grep -q "Series gbs (points): at a fixed 1 rank, throughput at GBS 64 / LBS 64 is" "$md" ||
  fail "report.md: a series at one rank should state a throughput ratio, not a speedup"
csv=$tmp/rep/tables/runs.csv
col=$(head -1 "$csv" | tr ',' '\n' | grep -n '^val_rmse_norm$' | cut -d: -f1)
[ -n "$col" ] || fail "runs.csv: no val_rmse_norm column"
n=$(tail -n +2 "$csv" | cut -d, -f"$col" | grep -Ec '^0\.[0-9]+')
[ "$n" -eq 3 ] || fail "runs.csv: $n of 3 runs have a val_rmse_norm in (0, 1)"
scol=$(head -1 "$csv" | tr ',' '\n' | grep -n '^samples$' | cut -d: -f1)
ran=$(tail -n +2 "$csv" | cut -d, -f"$scol" | awk '{s += $1} END {printf "%d", s}')
[ "$ran" -eq "$planned" ] || fail "study plan counted $planned samples, the runs trained $ran"
echo "ok: FourCastNet study planned, run (3 runs) and reported with val_rmse_norm"

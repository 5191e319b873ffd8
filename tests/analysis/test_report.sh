#!/usr/bin/env bash
# tests/analysis/test_report.sh MODE WATTSCALE - `wattscale report` end to end.
#   demo:    the reduced demo (scripts/demo.sh with tests/study/demo-ci.yaml: 1 and 2 ranks,
#            constant GBS and LBS, 2 repetitions), then its report's HTML, SVG, PNG, Markdown
#            and CSV files are checked (tests/analysis/check_report.py); without a sensor it
#            must say energy was not measured and draw no energy figure.
#   energy:  synthetic run folders with energy and power series (as a GPU machine leaves
#            them), ingested and reported: every figure, energy ones included, drawn and valid.
#   browser: both kinds of report opened in headless Chromium: every figure decoded
#            (body[data-figures-loaded] = N/N) and a screenshot taken (a valid PNG). Exits 77
#            (skip) where chromium is not installed (scripts/install-deps.sh browser).
set -u
mode=$1
ws=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$(dirname "$ws")/.." && pwd)
check="python3 $here/check_report.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
all_figures=energy_vs_device_hours,time_vs_gpus,speedup,efficiency,accuracy_vs_gbs,power_per_gpu_vs_lbs,power_over_time,pareto,slope_vs_samples
time_figures=time_vs_gpus,speedup,efficiency,accuracy_vs_gbs,pareto
energy_figures=energy_vs_device_hours,slope_vs_samples,power_over_time

synthetic_report() { # synthetic_report NAME [--no-energy]: runs, ingest, report into $tmp/NAME
  python3 "$here/make_energy_runs.py" "$tmp/$1/runs" "${2:-}" || fail "make_energy_runs.py failed"
  "$ws" study ingest "$tmp/$1/runs" --db "$tmp/$1/s.db" > "$tmp/$1.log" 2>&1 || fail "ingest: $(cat "$tmp/$1.log")"
  "$ws" report "$tmp/$1/s.db" >> "$tmp/$1.log" 2>&1 || fail "report: $(cat "$tmp/$1.log")"
}

case $mode in
demo)
  "$ws" --version | grep -q '^mpi *yes' || { echo "skip: no MPI in this build (the demo has 2-rank runs)"; exit 77; }
  WATTSCALE_DEMO_CONFIG=$root/tests/study/demo-ci.yaml WATTSCALE_DEMO_OUT=$tmp/demo \
    "$root/scripts/demo.sh" "$build" > "$tmp/demo.log" 2>&1 || fail "scripts/demo.sh failed: $(tail -20 "$tmp/demo.log")"
  grep -q "the report is $tmp/demo/report/report.html" "$tmp/demo.log" || fail "the demo did not say where the report is"
  grep -q "demo-ci: 6 planned, 0 done before, 6 run now, 0 failed" "$tmp/demo.log" || fail "$(grep 'study run:' "$tmp/demo.log")"
  report=$tmp/demo/report
  [ -f "$report/tables/runs.csv" ] || fail "no tables/runs.csv"
  # energy measured iff the runs' energy_kwh column has numbers (a machine with RAPL would)
  energy=$(python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print('yes' if all(x['energy_kwh'] for x in r) else 'no')" "$report/tables/runs.csv")
  if ! command -v gnuplot >/dev/null && [ -z "${WATTSCALE_GNUPLOT:-}" ]; then
    grep -q "gnuplot not found" "$report/report.html" || fail "without gnuplot the report must say so"
    echo "report (demo): checked without figures (no gnuplot here)"
    exit 0
  fi
  if [ "$energy" = no ]; then
    $check "$report" --figures "$time_figures" --no-figures "$energy_figures" --energy no || fail "demo report invalid"
  else
    $check "$report" --figures "$time_figures,energy_vs_device_hours" --energy yes || fail "demo report invalid"
  fi
  grep -q "6 runs stored" "$report/report.md" || fail "report.md does not count the runs"
  echo "report (demo): 6 runs, energy measured: $energy; HTML, SVG, PNG, Markdown and CSV valid"
  ;;
energy)
  command -v gnuplot >/dev/null || [ -n "${WATTSCALE_GNUPLOT:-}" ] || { echo "skip: no gnuplot"; exit 77; }
  synthetic_report energy
  $check "$tmp/energy/report" --figures "$all_figures" --energy yes || fail "energy report invalid"
  synthetic_report none --no-energy
  $check "$tmp/none/report" --figures "$time_figures" --no-figures "$energy_figures,power_per_gpu_vs_lbs" --energy no ||
    fail "no-energy report invalid"
  python3 - "$tmp/energy/report/tables/energy_fits.csv" <<'PY' || fail "energy fit not recovered"
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
lo, hi, slope = float(row['slope_lo95']), float(row['slope_hi95']), float(row['slope_kwh_per_device_hour'])
assert row['valid'] == '1' and int(row['n_runs']) == 15, row
assert 0.35 < slope < 0.45 and lo < slope < hi, row   # generated at 0.4 kWh per GPU-hour, 1% noise
PY
  echo "report (energy): all 9 figures drawn and valid; without energy the 5 time-based ones, and it says so"
  ;;
browser)
  chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
  [ -n "$chrome" ] || { echo "skip: no chromium (scripts/install-deps.sh browser)"; exit 77; }
  command -v gnuplot >/dev/null || [ -n "${WATTSCALE_GNUPLOT:-}" ] || { echo "skip: no gnuplot"; exit 77; }
  synthetic_report energy
  synthetic_report none --no-energy
  for r in energy:9 none:5; do
    name=${r%%:*} n=${r##*:}
    profile=$(mktemp -d)
    flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
           --disable-sync --no-first-run --user-data-dir="$profile" --virtual-time-budget=10000)
    timeout 120 "$chrome" "${flags[@]}" --dump-dom "file://$tmp/$name/report/report.html" > "$tmp/$name.dom" 2>"$tmp/$name.chrome.log"
    grep -q "data-figures-loaded=\"$n/$n\"" "$tmp/$name.dom" ||
      fail "$name: Chromium shows $(grep -o 'data-figures-loaded="[^"]*"' "$tmp/$name.dom" || echo 'no count of') figures, want $n/$n"
    timeout 120 "$chrome" "${flags[@]}" --hide-scrollbars --window-size=1280,2000 \
      --screenshot="$tmp/$name.png" "file://$tmp/$name/report/report.html" >/dev/null 2>>"$tmp/$name.chrome.log"
    rm -rf "$profile"
    $check --png "$tmp/$name.png" || fail "$name: the screenshot is not a valid PNG"
    [ "$(stat -c %s "$tmp/$name.png")" -gt 50000 ] || fail "$name: the screenshot is nearly empty"
  done
  echo "report (browser): Chromium shows 9/9 and 5/5 figures; screenshots valid"
  ;;
*) echo "usage: $0 demo|energy|browser WATTSCALE" >&2; exit 2 ;;
esac

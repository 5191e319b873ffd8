#!/usr/bin/env bash
# bench/data/swe_gpu_machine.sh - run THERE (the GPU machine, after `tools/gpu/fetch-debs.sh
# --force` here so that .debs/ holds FFTW): builds wattscale with HDF5 and FFTW, runs the
# weather-data tests, and times the shallow-water generator on its 16+ cores (OpenMP rows
# from 64x128 up) at 32x64, 64x128 and 180x360. Logs and the timing table go to $OUT.
#   device call: bash bench/data/swe_gpu_machine.sh      (carry: [".debs"])
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/swe-out}
mkdir -p "$OUT"
source tools/gpu/setup.sh || { echo "build failed: see $OUT/build.log"; exit 1; }
bin=build-gpu/bin/wattscale
$bin --version | tee "$OUT/version.txt"
(cd build-gpu && ctest -R "test_swe|test_fields|test_forecast_metrics|test_sampler|test_netcdf" --output-on-failure) \
  >"$OUT/ctest.log" 2>&1; echo "ctest rc=$?" | tee -a "$OUT/ctest.log"
{
  echo "grid threads samples wall_s"
  for spec in "32x64 0.25" "64x128 0.05" "180x360 0.01"; do
    set -- $spec
    d=$(mktemp -d)
    start=$(date +%s.%N)
    $bin data swe --out "$d" --grid "$1" --years "$2+0.005+0.005" --spinup-days 0 >"$OUT/swe-$1.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    echo "$1 ${OMP_NUM_THREADS:-$(nproc)} $(awk -v y="$2" 'BEGIN{printf "%d", y*1460+0.5+14}') $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') rc=$rc"
    rm -rf "$d"
  done
} | tee "$OUT/swe-timing.txt"

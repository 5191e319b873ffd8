#!/usr/bin/env bash
# bench/data/gpu_data_check.sh - the data layer's GPU-machine checks in one call (run THERE,
# from the repository root, with .debs/ carried; see tools/gpu/fetch-debs.sh):
#   1. builds with CUDA (tools/gpu/setup.sh -> build-gpu/),
#   2. runs the nvJPEG tests: test_nvjpeg (GPU path against the CPU path) and
#      test_nvjpeg_layout (our nvJPEG declarations against nvjpeg.h),
#   3. runs bench/data/bench_data.sh (threads 1..16: CPU decoder fp32 and uint8, nvJPEG,
#      torchvision's DataLoader) on a generated 5,000-image tree.
# Writes under $OUT: configure.log, build.log, gpu_tests.log, data_bench.{md,jsonl,log}.
set -uo pipefail
out=${OUT:-$(mktemp -d)}
export OUT=$out
mkdir -p "$out"
# shellcheck source=/dev/null
source tools/gpu/setup.sh || { echo "gpu_data_check: build failed (see $out/build.log)"; exit 1; }
(cd build-gpu && ctest -R 'nvjpeg' --output-on-failure) >"$out/gpu_tests.log" 2>&1
echo "nvJPEG tests: exit $? (log: gpu_tests.log)"; tail -15 "$out/gpu_tests.log"
bench/data/bench_data.sh build-gpu

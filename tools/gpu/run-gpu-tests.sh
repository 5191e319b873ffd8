#!/usr/bin/env bash
# tools/gpu/run-gpu-tests.sh - the GPU tests, on the GPU machine, in one command: builds with
# CUDA for sm_90 (tools/gpu/setup.sh, Debian packages from .debs/) and runs every test
# labelled gpu (CUDA operators against the CPU in every precision, ResNet-50 against the
# CPU, GPU training following the CPU's losses), then the CPU suite on the same build.
# Logs under $OUT (or /tmp). Exit status: ctest's.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT=${OUT:-/tmp}
source tools/gpu/setup.sh || exit 1
cd build-gpu
ctest -L gpu --output-on-failure -j 1 > "$OUT/gpu-tests.log" 2>&1; rc=$?
grep -E "^(ok  |FAIL)" "$OUT/gpu-tests.log" | grep -c "^ok" | sed 's/^/checks passed: /'
grep -E "^FAIL|tests passed|tests failed|Test #|worst relative" "$OUT/gpu-tests.log" | head -60
exit $rc

#!/usr/bin/env bash
# tools/gpu/setup.sh - run THERE (the GPU machine), sourced: unpacks the carried Debian
# packages from .debs/ into /tmp/wsdeps, points the build at them, and builds wattscale
# with CUDA for sm_90 into build-gpu/.
#   source tools/gpu/setup.sh        (then build-gpu/bin/wattscale ... works)
set -eo pipefail
ws_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
deps=/tmp/wsdeps
mkdir -p "$deps"
for f in "$ws_root"/.debs/*.deb; do dpkg -x "$f" "$deps"; done
export CMAKE_PREFIX_PATH="$deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export WATTSCALE_SKIP_DEPS=1
export NCCL_NVLS_ENABLE=0   # NVLink multicast must stay off on these machines
cmake -S "$ws_root" -B "$ws_root/build-gpu" -DCMAKE_BUILD_TYPE=Release -DWS_WITH_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_LIBRARY_ARCHITECTURE=x86_64-linux-gnu >"${OUT:-/tmp}/configure.log" 2>&1 \
  || { tail -40 "${OUT:-/tmp}/configure.log"; return 1 2>/dev/null || exit 1; }
cmake --build "$ws_root/build-gpu" -j "$(nproc)" >"${OUT:-/tmp}/build.log" 2>&1 \
  || { tail -40 "${OUT:-/tmp}/build.log"; return 1 2>/dev/null || exit 1; }
set +e

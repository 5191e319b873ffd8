#!/usr/bin/env bash
# scripts/install-deps.sh - installs the Debian packages wattscale needs that are missing.
# As root it runs apt-get; otherwise it prints the exact apt-get line and fails.
# usage: scripts/install-deps.sh [build|test|demo]   (what the packages are for; default test)
#        scripts/install-deps.sh browser   also Debian's chromium, for the headless check of the
#        report (tests/analysis/test_report.sh; it skips where chromium is absent)
# WATTSCALE_SKIP_DEPS=1 skips it (machines where the libraries come another way, e.g. the
# GPU machine, where tools/gpu/unpack-debs.sh provides them).
set -euo pipefail
[ "${WATTSCALE_SKIP_DEPS:-0}" = 1 ] && exit 0
purpose=${1:-test}

build_pkgs=(cmake make gcc pkg-config libcjson-dev zlib1g-dev libopenblas-dev libopenmpi-dev openmpi-bin libsqlite3-dev
            libhdf5-dev libfftw3-dev libnetcdf-dev libjpeg62-turbo-dev)
test_pkgs=(libcmocka-dev dataset-fashion-mnist)
demo_pkgs=()
build_pkgs+=(libyaml-dev libgsl-dev)   # study files; statistics and fits of wattscale report
test_pkgs+=(gnuplot-nox python3)       # report figures; the report tests' file checks
browser_pkgs=(chromium)
pkgs=("${build_pkgs[@]}")
case "$purpose" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  demo) pkgs+=("${test_pkgs[@]}" "${demo_pkgs[@]}") ;;
  browser) pkgs+=("${test_pkgs[@]}" "${browser_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|demo]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "wattscale: missing packages ${missing[*]}, and no apt-get here: install them by other means" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "wattscale: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "wattscale: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# tools/gpu/fetch-debs.sh - run HERE (a Debian machine with network to its mirror):
# downloads the Debian packages the GPU machine lacks into .debs/ (git-ignored), so that a
# device call can carry them (carry: [".debs"]) and tools/gpu/setup.sh unpacks them there.
# The GPU machine (Ubuntu 24.04) has no cJSON, cmocka, sqlite3.h (also GSL, libyaml, gnuplot) and
# cannot install from a registry; these Debian 12 builds run there (its glibc is newer).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .debs
cd .debs
pkgs=(libcjson1 libcjson-dev libcmocka0 libcmocka-dev libsqlite3-0 libsqlite3-dev
      libfftw3-single3 libfftw3-double3 libfftw3-dev)   # FFTW: the CPU AFNO (fftw3f) and the shallow-water generator (HDF5 is there)
pkgs+=(libyaml-0-2 libyaml-dev)   # study files (wattscale study plan/run/status); GSL and gnuplot stay here
[ -n "$(ls ./*.deb 2>/dev/null)" ] && [ "${1:-}" != "--force" ] && { echo "fetch-debs: .debs/ already filled"; exit 0; }
apt-get update -qq >/dev/null 2>&1 || true
apt-get download "${pkgs[@]}"
ls -la

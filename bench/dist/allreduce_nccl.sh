#!/usr/bin/env bash
# bench/dist/allreduce_nccl.sh BUILD [OUT] - NCCL all-reduce timings for the prediction's
# network model (analysis/allreduce.h), on a GPU machine with 2 or more GPUs, in one call:
#   - NCCL_ALGO=Ring over 2, 4, ... and all visible GPUs of this node, 1 KiB to 1 GiB: the
#     sets the model is fitted to (OUT/allreduce-ring.json)
#   - NCCL_ALGO=Tree, the same sizes, as a check of the tree form (OUT/allreduce-tree.json)
#   - nvidia-smi's GPUs and topology beside them, logs, and the fit where this build has GSL
#     (OUT/allreduce-model.json); else fit it where GSL is (the CPU machine):
#       wattscale calibrate allreduce OUT/allreduce-ring.json --out allreduce-model.json
# NCCL_NVLS_ENABLE=0 always (NVLink multicast stays off on these machines). OUT defaults to
# $OUT, else ./allreduce-out. Between nodes (the inter-node figures), one rank per GPU:
#   mpirun -np 16 --map-by ppr:8:node -x NCCL_NVLS_ENABLE=0 -x NCCL_ALGO=Ring \
#     BUILD/bin/ws_allreduce_nccl --out inter.json
set -euo pipefail
build=${1:?usage: bench/dist/allreduce_nccl.sh BUILD [OUT]}
out=${2:-${OUT:-allreduce-out}}
bin=$build/bin/ws_allreduce_nccl
[ -x "$bin" ] || { echo "no $bin: configure $build with CUDA and NCCL and build ws_allreduce_nccl" >&2; exit 1; }
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit --format=csv > "$out/gpus.csv" 2>&1 || true
nvidia-smi topo -m > "$out/topo.txt" 2>&1 || true
echo "== ring (the model's fit)"
NCCL_ALGO=Ring "$bin" --out "$out/allreduce-ring.json" 2>&1 | tee "$out/ring.log"
echo "== tree (a check)"
NCCL_ALGO=Tree "$bin" --out "$out/allreduce-tree.json" 2>&1 | tee "$out/tree.log" || echo "tree sets failed: see $out/tree.log"
if "$build/bin/wattscale" calibrate allreduce "$out/allreduce-ring.json" --out "$out/allreduce-model.json" \
    > "$out/calibrate.txt" 2>&1; then
  cat "$out/calibrate.txt"
else
  echo "not fitted here ($(tail -1 "$out/calibrate.txt")): on a machine with GSL run"
  echo "  wattscale calibrate allreduce $out/allreduce-ring.json --out allreduce-model.json"
fi

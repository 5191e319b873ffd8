#!/usr/bin/env bash
# scripts/demo.sh BUILD_DIR - the main job until the study runner (its own issue) exists:
#  1. measures a 10 s load with an idle baseline (`wattscale measure`): a GEMM load on the
#     GPUs where CUDA and a GPU exist, else a CPU load;
#  2. trains a small ResNet on 5% of Fashion-MNIST for 2 epochs at GBS 64, on 1 rank and,
#     where MPI exists, on 2 ranks (constant GBS), each writing a run record with time,
#     accuracy and energy (where a sensor exists; marked as not measured where none does).
# Training runs on the CPU until the CUDA backend exists. Output under out/demo/.
set -euo pipefail
build=${1:-build}
out=out/demo
mkdir -p "$out"
ws="$build/bin/wattscale"
if [ -x "$build/bin/ws_gpu_burn" ] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  load=("$build/bin/ws_gpu_burn" 10)
else
  load=("$build/bin/ws_cpu_burn" 10)
fi
echo "== 1. wattscale measure: 10 s load after 2 s of idle" >&2
"$ws" measure --idle-seconds 2 --json "$out/measure.json" --csv "$out/measure.csv" -- "${load[@]}"

train=(train --model resnet18 --width 8 --data fashion-mnist --data-fraction 0.05 --global-batch 64
       --epochs 2 --lr 0.4 --schedule cosine --warmup-epochs 0.5 --seed 1)
echo "== 2a. wattscale train on 1 rank" >&2
"$ws" "${train[@]}" --out "$out/train-1rank"
if command -v mpirun >/dev/null && "$ws" --version | grep -q "^mpi *yes"; then
  echo "== 2b. the same global batch on 2 ranks (mpirun -np 2)" >&2
  mpi=(mpirun --oversubscribe -np 2)
  [ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
  "${mpi[@]}" "$ws" "${train[@]}" --local-batch 32 --threads 1 --out "$out/train-2ranks"
else
  echo "== 2b. skipped: this build or machine has no MPI" >&2
fi
echo "wattscale demo: measurement in $out/measure.json; run records in $out/train-*/run.json" >&2

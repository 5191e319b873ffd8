#!/usr/bin/env bash
# tools/gpu/run-multi-gpu.sh [PHASE...] - the multi-GPU work of issues #5, #9 and #10 on a
# machine with 2 or more GPUs, in one device call (carry: [".debs"]). Builds with
# tools/gpu/setup.sh, then runs the phases asked for (default: all, in this order):
#   check     the GPU tests (ctest -L gpu) and the 2-GPU NCCL training check over the tcp
#             world (tests/dist/gpu_dp_tcp.sh)
#   allreduce NCCL all-reduce timings for the prediction's network model
#             (bench/dist/allreduce_nccl.sh; fit them here afterwards with
#             `wattscale calibrate allreduce OUT/allreduce/allreduce-ring.json --out net.json`)
#   scaling   wattscale (mpirun + NCCL) against PyTorch DDP, ResNet-50 bf16 and fp32, constant
#             GBS 256 and constant LBS 256 on 1, 2, 4, 8 GPUs as the machine has them
#             (bench/dist/bench_scaling_gpu.sh; about 1 min per point)
#   study     the study for this machine's size: configs/gpu-1.yaml on one GPU (~5 min),
#             configs/gpu-2.yaml on 2-3 GPUs,
#             configs/gpu-8-resnet50-bf16.yaml on 8 (for 4, edit its gpus: lists first);
#             ingest and report its database on the CPU machine (the GPU machine has no GSL)
#   afno      full-size FourCastNet on 1 and 2 GPUs, wattscale (mpirun + NCCL) against PyTorch
#             DDP (torchrun), fp32 and bf16 (torch.compile on 2 GPUs), LBS 1 and 2 per GPU
#             (bench/afno/bench_afno_multi_gpu.sh, its flags from WS_AFNO_ARGS; ~7.5 min)
# Everything goes under $OUT/<phase>/ and, because a device call returns few files, into
# $OUT/multi-gpu.tar.gz as well. NCCL_NVLS_ENABLE=0 throughout. Budget: check ~4 min after
# the build, allreduce ~1 min, scaling ~12 min on 2 GPUs, study ~10 min (2 GPUs), afno ~7.5 min.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT=${OUT:-/tmp/multi-gpu}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0
phases=("$@"); [ ${#phases[@]} -eq 0 ] && phases=(check allreduce scaling study afno)
source tools/gpu/setup.sh || exit 1
n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') || n=0
echo "$n GPUs"; nvidia-smi topo -m > "$OUT/topo.txt" 2>&1
[ "$n" -ge 2 ] || echo "warning: $n GPU(s): the multi-GPU parts will skip"
rc=0
for p in "${phases[@]}"; do
  echo "== phase $p ($(date -u +%H:%M:%S))"
  mkdir -p "$OUT/$p"
  case $p in
    check)
      (cd build-gpu && ctest -L gpu --output-on-failure -j 1 > "$OUT/check/gpu-tests.log" 2>&1) || rc=1
      grep -E "tests passed|tests failed" "$OUT/check/gpu-tests.log"
      OUT=$OUT/check/dp-tcp bash tests/dist/gpu_dp_tcp.sh > "$OUT/check/dp-tcp.log" 2>&1
      s=$?; [ $s -ne 0 ] && [ $s -ne 77 ] && rc=1; tail -5 "$OUT/check/dp-tcp.log" ;;
    allreduce)
      [ "$n" -ge 2 ] && { bash bench/dist/allreduce_nccl.sh build-gpu "$OUT/allreduce" > "$OUT/allreduce/run.log" 2>&1 || rc=1; tail -5 "$OUT/allreduce/run.log"; } ;;
    scaling)
      OUT=$OUT/scaling bash bench/dist/bench_scaling_gpu.sh > "$OUT/scaling/run.log" 2>&1 || rc=1
      cat "$OUT/scaling/scaling.md" 2>/dev/null ;;
    study)
      cfg=configs/gpu-2.yaml; [ "$n" -le 1 ] && cfg=configs/gpu-1.yaml
      [ "$n" -ge 8 ] && cfg=configs/gpu-8-resnet50-bf16.yaml
      name=$(basename "$cfg" .yaml)
      build-gpu/bin/wattscale study run "$cfg" > "$OUT/study/run.log" 2>&1 || rc=1
      build-gpu/bin/wattscale study status "$cfg" 2>&1 | tail -3
      rsync -a --exclude="*.wstf" "out/$name" "$OUT/study/" 2>/dev/null || cp -r "out/$name" "$OUT/study/" ;;
    afno)
      eval "afno_args=(${WS_AFNO_ARGS:-})"
      OUT=$OUT/afno bash bench/afno/bench_afno_multi_gpu.sh "${afno_args[@]}" > "$OUT/afno/run.log" 2>&1 || rc=1
      cat "$OUT/afno/summary.md" 2>/dev/null; grep -E "^bench_afno_multi_gpu|^== [0-9]+ s in all" "$OUT/afno/run.log" ;;
    *) echo "unknown phase $p (check allreduce scaling study afno)" >&2; rc=2 ;;
  esac
done
tar -C "$OUT" --exclude=multi-gpu.tar.gz --exclude="*.wstf" -czf /tmp/multi-gpu.tar.gz . && mv /tmp/multi-gpu.tar.gz "$OUT/"
exit $rc

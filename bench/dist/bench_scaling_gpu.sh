#!/usr/bin/env bash
# bench/dist/bench_scaling_gpu.sh [--gpus "1 2 4 8"] [--precision P]... [--series S]... [--reps N]
# - data-parallel ResNet-50 scaling on the GPUs of one machine, wattscale (MPI + NCCL, one rank
# per GPU) against PyTorch DDP (torchrun, NCCL) on the same cards in the same call: issue #5's
# 2-GPU comparison and issue #10's 4/8-GPU series. Run on the GPU machine after
# `source tools/gpu/setup.sh` (which builds build-gpu/ with MPI and NCCL).
#   series gbs256: constant global batch 256 (LBS 256/N); series lbs256: constant LBS 256
#   (GBS 256 N). Synthetic ImageNet-shaped samples generated on each GPU, as both programs
#   do; a steady window of about 8 s after 15 warm-up steps; samples/s from wall time,
#   J/sample from the NVML energy counters of the GPUs used, on both sides (wattscale:
#   --meter-gpus used, its meter reads its ranks' GPUs by UUID; PyTorch: each rank its own).
# NCCL_NVLS_ENABLE=0 always (NVLink multicast stays off on the lent machines). GPU counts above
# what nvidia-smi lists are skipped with a note. Results: $OUT/ws-*/run.json, $OUT/ddp-*.json,
# $OUT/*.log and $OUT/scaling.md (printed).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/bench-scaling}
mkdir -p "$out"
ws=build-gpu/bin/wattscale
export NCCL_NVLS_ENABLE=0
gpus_list="1 2 4 8"; precs=(); series=(); reps=1
while [ $# -gt 0 ]; do
  case "$1" in
    --gpus) gpus_list=$2; shift ;;
    --precision) precs+=("$2"); shift ;;
    --series) series+=("$2"); shift ;;
    --reps) reps=$2; shift ;;
    *) echo "bench_scaling_gpu.sh: unknown flag $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#precs[@]} -eq 0 ] && precs=(bf16 fp32)
[ ${#series[@]} -eq 0 ] && series=(gbs256 lbs256)
[ -x "$ws" ] || { echo "bench_scaling_gpu.sh: $ws missing: run 'source tools/gpu/setup.sh' first" >&2; exit 1; }
have=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') || have=0
[ "$have" -ge 1 ] || { echo "bench_scaling_gpu.sh: no GPU listed by nvidia-smi" >&2; exit 1; }
mpi=(mpirun --bind-to none); [ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,clocks.sm,temperature.gpu --format=csv | tee "$out/gpu.csv"
nvidia-smi topo -m > "$out/topo.txt" 2>&1
for prec in "${precs[@]}"; do
  rate=6000; [ $prec = fp32 ] && rate=900     # expected samples/s per GPU, to size the windows
  for s in "${series[@]}"; do
    for n in $gpus_list; do
      if [ "$n" -gt "$have" ]; then echo "== skip $s $n GPUs: this machine has $have"; continue; fi
      case $s in
        gbs256) gbs=256; lbs=$((256 / n)) ;;
        lbs256) lbs=256; gbs=$((256 * n)) ;;
        *) echo "unknown series $s (gbs256 or lbs256)" >&2; exit 2 ;;
      esac
      steps=$(( rate * 8 / lbs + 1 )); warm=15
      for r in $(seq 1 "$reps"); do
        tag=$prec-$s-g$n-r$r
        echo "== $tag: $n GPUs, GBS $gbs, LBS $lbs, $steps steps after $warm warm-up steps"
        timeout -k 10 600 "${mpi[@]}" -np "$n" -x NCCL_NVLS_ENABLE "$ws" train --model resnet50 --data synthetic \
          --synthetic-count 2000000 --device cuda --meter-gpus used --precision "$prec" --global-batch "$gbs" --local-batch "$lbs" \
          --steps $((steps + warm)) --timing-warmup-steps $warm --eval-every 0 --checkpoint-every 0 \
          --lr 0.1 --warmup-epochs 0 --schedule constant --out "$out/ws-$tag" --log-every 1000000 \
          > "$out/ws-$tag.log" 2>&1 || { echo "wattscale $tag failed:"; tail -5 "$out/ws-$tag.log"; }
        grep "steady state" "$out/ws-$tag.log"
        timeout 600 torchrun --standalone --nproc_per_node "$n" bench/dist/torch_ddp_resnet50.py \
          --precision "$prec" --lbs "$lbs" --warmup $warm --steps "$steps" --json "$out/ddp-$tag.json" \
          > "$out/ddp-$tag.log" 2>&1 || { echo "pytorch ddp $tag failed:"; tail -5 "$out/ddp-$tag.log"; }
        grep "pytorch-ddp" "$out/ddp-$tag.log"
      done
    done
  done
done
python3 bench/dist/summarize_scaling.py "$out" | tee "$out/scaling.md"

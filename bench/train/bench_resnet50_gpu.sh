#!/usr/bin/env bash
# bench/train/bench_resnet50_gpu.sh [--quick] [--no-compile] [--precision P]... [--lbs "L.."] [--compile-lbs "L.."]
# - ResNet-50 training on one GPU,
# wattscale against PyTorch on the same card in the same call (issue #4's benchmark).
# Run on the GPU machine after `source tools/gpu/setup.sh` (which builds build-gpu/).
# For each precision (bf16, fp32) and local batch (64, 128, 256), alternating: wattscale
# (--data synthetic: samples generated on the GPU every step), PyTorch eager, and for bf16
# torch.compile (--lbs: other local batches); each measured over a steady window after warm-up steps (samples/s from
# wall time, J/sample from the NVML energy counter). --quick: LBS 256 only, shorter
# windows. Results: $OUT/ws-*/run.json, $OUT/torch-*.json, and $OUT/summary.md (printed).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/bench-resnet50}
mkdir -p "$out"
ws=build-gpu/bin/wattscale
quick=0; compile=1; precs=(); compile_lbs="64 128 256"; lbs_arg=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-compile) compile=0 ;;
    --precision) precs+=("$2"); shift ;;
    --compile-lbs) compile_lbs=$2; shift ;;
    --lbs) lbs_arg=$2; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#precs[@]} -eq 0 ] && precs=(bf16 fp32)
lbs_list=(64 128 256); [ $quick = 1 ] && lbs_list=(256)
[ -n "$lbs_arg" ] && read -ra lbs_list <<< "$lbs_arg"
# steady windows of about 8 s (5 s with --quick) at the expected rates (~5000 img/s bf16,
# ~1000 img/s fp32 on an H100/H200): steps = rate x seconds / LBS
steps_for() { local rate=$1 lbs=$2 secs=8; [ $quick = 1 ] && secs=5; echo $(( rate * secs / lbs + 1 )); }
nvidia-smi --query-gpu=name,uuid,driver_version,power.limit,clocks.sm,temperature.gpu --format=csv | tee "$out/gpu.csv"
for prec in "${precs[@]}"; do
  rate=6000; [ $prec = fp32 ] && rate=900
  for lbs in "${lbs_list[@]}"; do
    steps=$(steps_for $rate $lbs); warm=15
    echo "== $prec LBS $lbs: $steps steps after $warm warm-up steps"
    "$ws" train --model resnet50 --data synthetic --synthetic-count 2000000 --device cuda --precision $prec \
      --local-batch $lbs --steps $((steps + warm)) --timing-warmup-steps $warm --eval-every 0 --checkpoint-every 0 \
      --lr 0.1 --warmup-epochs 0 --schedule constant --out "$out/ws-$prec-$lbs" --log-every 1000000 \
      2> "$out/ws-$prec-$lbs.log" || { echo "wattscale $prec $lbs failed:"; tail -5 "$out/ws-$prec-$lbs.log"; }
    grep "steady state" "$out/ws-$prec-$lbs.log"
    python3 bench/train/torch_resnet50.py --precision $prec --lbs $lbs --warmup $warm --steps $steps \
      --json "$out/torch-eager-$prec-$lbs.json" 2> "$out/torch-eager-$prec-$lbs.log" || tail -5 "$out/torch-eager-$prec-$lbs.log"
    if [ $compile = 1 ] && [ $prec = bf16 ] && [[ " $compile_lbs " == *" $lbs "* ]]; then
      timeout 300 python3 bench/train/torch_resnet50.py --precision $prec --lbs $lbs --warmup $warm --steps $steps --compile \
        --json "$out/torch-compile-$prec-$lbs.json" 2> "$out/torch-compile-$prec-$lbs.log" || tail -5 "$out/torch-compile-$prec-$lbs.log"
    fi
  done
done
python3 bench/train/summarize_gpu.py "$out" | tee "$out/summary.md"

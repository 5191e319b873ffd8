#!/usr/bin/env bash
# bench/afno/bench_afno_gpu.sh [--precision P]... [--lbs "1 2"] [--ws-steps N] [--torch-seconds S]
#                              [--max-seconds S]
# - FourCastNet (AFNO) training on one GPU, wattscale against PyTorch on the same card in the
# same call (issue #7's benchmark). Run on the GPU machine after `source tools/gpu/setup.sh`
# (which builds build-gpu/); at most about 7 minutes (--max-seconds 420 bounds the PyTorch
# runs that start late; each run has its own timeout besides).
# The full FourCastNet (720x1440, 20 channels, patch 8, embed 768, depth 12, 8 blocks: 74.7M
# parameters) for each precision (default fp32 bf16; tf32 on request: wattscale only, as
# bench_torch_afno.py has no tf32 mode) and local batch (1 2), alternating: wattscale on
# --data synthetic-weather:20x720x1440 (random fields, batches copied on the GPU from a pool:
# compute only, as PyTorch's random tensors on the GPU) for a fixed number of steps with the
# meter on (steady state after 3 warm-up steps: samples/s from wall time, J/sample from the
# NVML energy counter), then bench/afno/bench_torch_afno.py for the same precision and LBS
# (its own warm-up and timed window, budget-limited); for bf16 PyTorch runs both autocast
# eager (bf16) and torch.compile'd (bf16-compile) in one process, compile last: its warm-up
# (a minute or two) gets what is left of the time, and a compile that runs out of it is
# recorded as skipped with the reason, not as a failure. The summary compares wattscale with
# PyTorch's best (most samples/s) of the modes at the same precision and LBS. Both: Adam lr
# 5e-4, rel-L2 loss, no TF32 in fp32. Every run has a timeout, so a hang ends as a failure.
# Writes under $OUT (default /tmp/bench-afno): gpu.csv, ws-P-L/run.json and .log,
# torch-P-L/bench_torch_afno.json and .log, summary.json and summary.md (printed). Exits
# non-zero, naming each failed run, when any run failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/bench-afno}
mkdir -p "$out"
ws=build-gpu/bin/wattscale
precs=(); lbs_list=(1 2); ws_steps=24; torch_s=6; max_s=420
while [ $# -gt 0 ]; do
  case "$1" in
    --precision) precs+=("$2"); shift ;;
    --lbs) read -r -a lbs_list <<<"$2"; shift ;;
    --ws-steps) ws_steps=$2; shift ;;
    --torch-seconds) torch_s=$2; shift ;;
    --max-seconds) max_s=$2; shift ;;
    *) echo "bench_afno_gpu: unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#precs[@]} -eq 0 ] && precs=(fp32 bf16)
[ -x "$ws" ] || { echo "bench_afno_gpu: $ws is missing: run 'source tools/gpu/setup.sh' first" >&2; exit 2; }
"$ws" --version | grep -q "^cuda *yes" || { echo "bench_afno_gpu: $ws was built without CUDA" >&2; exit 2; }
"$ws" --version | grep -q "^fftw *yes" && "$ws" --version | grep -q "^hdf5 *yes" ||
  { echo "bench_afno_gpu: $ws lacks FFTW or HDF5, which the AFNO and its data need" >&2; exit 2; }
nvidia-smi --query-gpu=name,uuid,driver_version,power.limit,clocks.sm,temperature.gpu --format=csv | tee "$out/gpu.csv" ||
  { echo "bench_afno_gpu: nvidia-smi failed: no GPU?" >&2; exit 2; }
failed=()
warm=3
for prec in "${precs[@]}"; do
  for lbs in "${lbs_list[@]}"; do
    name=$prec-$lbs
    echo "== wattscale $prec LBS $lbs: $ws_steps steps after $warm warm-up steps"
    timeout -k 10 240 "$ws" train --model afno --data synthetic-weather:20x720x1440 --synthetic-count 4096 \
      --device cuda --precision "$prec" --local-batch "$lbs" --global-batch "$lbs" --steps $((ws_steps + warm)) \
      --timing-warmup-steps $warm --eval-every 0 --val-limit 1 --checkpoint-every 0 --optimizer adam --lr 5e-4 \
      --lr-rule none --warmup-epochs 0 --schedule constant --log-every 5 --out "$out/ws-$name" \
      2> "$out/ws-$name.log"
    rc=$?
    if [ $rc -ne 0 ]; then
      failed+=("wattscale $name (exit $rc$([ $rc = 124 ] && echo ': timed out'))"); tail -5 "$out/ws-$name.log"
    else
      grep "steady state" "$out/ws-$name.log"
    fi
    [ "$prec" = tf32 ] && continue # bench_torch_afno.py: fp32 (TF32 off), bf16 only
    modes=$prec; limit=150
    if [ "$prec" = bf16 ]; then
      # eager first, then compile with what is left of --max-seconds (60..300 s for the process)
      modes=bf16,bf16-compile; limit=$((max_s - SECONDS - 10))
      [ $limit -gt 300 ] && limit=300
      [ $limit -lt 60 ] && limit=60
    fi
    echo "== PyTorch $modes LBS $lbs (limit $limit s)"
    timeout -k 10 $limit python3 bench/afno/bench_torch_afno.py --modes "$modes" --lbs "$lbs" --seconds "$torch_s" \
      --warmup $warm --budget $((limit - 15)) --out "$out/torch-$name" > "$out/torch-$name.log" 2>&1
    rc=$?
    grep "lbs $lbs" "$out/torch-$name.log"
    # the modes that did not finish (a timeout) are recorded as skipped; a failure only when
    # the eager mode has no result
    python3 bench/afno/torch_outcome.py "$out/torch-$name/bench_torch_afno.json" "$modes" "$lbs" "$rc" "$limit"
    [ $? -ne 0 ] && { failed+=("torch $name (exit $rc$([ $rc = 124 ] && echo ': timed out'))"); tail -5 "$out/torch-$name.log"; }
  done
done
echo "== $SECONDS s in all"
python3 bench/afno/summarize_afno.py "$out" | tee "$out/summary.md" || failed+=("summary")
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench_afno_gpu: FAILED: ${failed[*]} (logs in $out)" >&2
  exit 1
fi
echo "bench_afno_gpu: done; $out/summary.md, $out/summary.json"

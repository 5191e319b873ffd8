#!/usr/bin/env bash
# bench/afno/bench_afno_multi_gpu.sh [--gpus "1 2"] [--precision P]... [--lbs "1 2"]
#     [--compile-gpus "N..."] [--ws-seconds S] [--ws-steps N] [--torch-seconds S] [--max-seconds S]
#     [--small] [--device cuda|cpu] [--ws BIN]
# - FourCastNet (AFNO) data-parallel training on 1..N GPUs of one machine, wattscale (mpirun,
# one rank per GPU, gradients all-reduced by NCCL) against PyTorch DDP (torchrun, NCCL:
# bench/afno/torch_ddp_afno.py) on the same cards in the same call: issue #7's two-GPU benchmark.
# Run on the GPU machine after `source tools/gpu/setup.sh` (build-gpu/ with CUDA, MPI, NCCL),
# or through `tools/gpu/run-multi-gpu.sh afno`. The full FourCastNet (720x1440, 20 channels,
# patch 8, embed 768, depth 12, 8 blocks) as in bench/afno/bench_afno_gpu.sh: random fields on
# the GPU (compute only), Adam lr 5e-4, rel-L2, fp32 without TF32, bf16 (wattscale: its bf16;
# PyTorch: autocast). For each GPU count, precision (default fp32 bf16) and local batch per GPU
# (default 1 2), alternating: wattscale for about --ws-seconds (5) of steady steps after 3
# warm-up steps (the step count from a rough expected rate per GPU; --ws-steps N fixes it),
# then PyTorch DDP eager for the same point (a --torch-seconds (5) window after its warm-up).
# torch.compile'd bf16 (68-77 s to compile per shape on one H200) runs last, at the GPU counts of
# --compile-gpus (default: the largest of --gpus that the machine has; bench_afno_gpu.sh has it
# on one GPU), largest local batch first, each only while at least 110 s of --max-seconds (450)
# are left; one that does not fit is recorded as skipped with the reason. No other run starts
# after --max-seconds either (noted in skipped.txt), so the whole stays under about 8 minutes.
# Every run under `timeout`, so a hang ends as a failure; NCCL_NVLS_ENABLE=0 always. GPU counts
# above what the machine has are skipped with a note. Energy: NVML counters of the GPUs used on
# both sides (wattscale: --meter-gpus used, its meter reads its ranks' GPUs by UUID; PyTorch:
# each rank its own GPU); PyTorch's rank 0 also reads every GPU of the machine
# (bench/afno/summarize_afno_multi.py says how the columns are made).
# --small --device cpu: a smoke test of this script and wattscale's side on the CPU (a small
# AFNO on a 4x64x128 grid, ranks as "GPUs", build/bin/wattscale, fp32, --meter-gpus all since
# CPU ranks use no GPU; PyTorch's side with gloo where torch is installed, else skipped with a note).
# Writes under $OUT (default /tmp/bench-afno-multi): gpu.csv, topo.txt, gN/ws-P-L/run.json and
# .log, gN/torch-P-L/ and gN/torch-bf16-compile-L/ (torch_ddp_afno.json and .log), skipped.txt
# (points not run or failed, and why), summary.json and summary.md (printed). Exits non-zero,
# naming each failed run, when any run failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/bench-afno-multi}
export NCCL_NVLS_ENABLE=0
gpus_list=(1 2); precs=(); lbs_list=(1 2); compile_gpus=(); compile_given=0
ws_seconds=5; ws_steps=0; torch_s=5; max_s=450; small=0; device=cuda; ws=
need() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "bench_afno_multi_gpu: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --gpus) need "$@"; read -r -a gpus_list <<<"$2"; shift ;;
    --precision) need "$@"; precs+=("$2"); shift ;;
    --lbs) need "$@"; read -r -a lbs_list <<<"$2"; shift ;;
    --compile-gpus) [ $# -ge 2 ] || need "$@"; read -r -a compile_gpus <<<"$2"; compile_given=1; shift ;;
    --ws-seconds) need "$@"; ws_seconds=$2; shift ;;
    --ws-steps) need "$@"; ws_steps=$2; shift ;;
    --torch-seconds) need "$@"; torch_s=$2; shift ;;
    --max-seconds) need "$@"; max_s=$2; shift ;;
    --small) small=1 ;;
    --device) need "$@"; device=$2; shift ;;
    --ws) need "$@"; ws=$2; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_afno_multi_gpu: unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "bench_afno_multi_gpu: $1 $2: a positive integer, please" >&2; exit 2; }; }
for n in "${gpus_list[@]}" "${compile_gpus[@]}"; do posint --gpus/--compile-gpus "$n"; done
for l in "${lbs_list[@]}"; do posint --lbs "$l"; done
[ ${#gpus_list[@]} -gt 0 ] && [ ${#lbs_list[@]} -gt 0 ] || { echo "bench_afno_multi_gpu: --gpus and --lbs need at least one value" >&2; exit 2; }
posint --max-seconds "$max_s"; posint --ws-seconds "$ws_seconds"; posint --torch-seconds "$torch_s"
[ "$ws_steps" = 0 ] || posint --ws-steps "$ws_steps"
case $device in
  cuda) [ -n "$ws" ] || ws=build-gpu/bin/wattscale ;;
  cpu) [ -n "$ws" ] || ws=build/bin/wattscale ;;
  *) echo "bench_afno_multi_gpu: --device $device: cuda or cpu" >&2; exit 2 ;;
esac
if [ ${#precs[@]} -eq 0 ]; then precs=(fp32 bf16); [ $device = cpu ] && precs=(fp32); fi
for p in "${precs[@]}"; do
  case $p in fp32|tf32|bf16) ;; *) echo "bench_afno_multi_gpu: --precision $p: fp32, tf32 or bf16" >&2; exit 2 ;; esac
  [ $device = cpu ] && [ $p != fp32 ] && { echo "bench_afno_multi_gpu: --device cpu computes fp32 only" >&2; exit 2; }
done
[ -x "$ws" ] || { echo "bench_afno_multi_gpu: $ws is missing: run 'source tools/gpu/setup.sh' first (or give --ws BIN)" >&2; exit 2; }
version=$("$ws" --version) || { echo "bench_afno_multi_gpu: $ws --version failed" >&2; exit 2; }
has() { grep -q "^$1 *yes" <<<"$version"; }
has mpi || { echo "bench_afno_multi_gpu: $ws was built without MPI (its data-parallel runs start with mpirun)" >&2; exit 2; }
has fftw && has hdf5 || { echo "bench_afno_multi_gpu: $ws lacks FFTW or HDF5, which the AFNO and its data need" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "bench_afno_multi_gpu: mpirun not found (OpenMPI: apt-get install openmpi-bin)" >&2; exit 2; }
torch_ok=1
python3 -c "import torch, torch.distributed" 2>/dev/null && command -v torchrun >/dev/null || torch_ok=0
mkdir -p "$out"
: > "$out/skipped.txt"
if [ $device = cuda ]; then
  has cuda && has nccl || { echo "bench_afno_multi_gpu: $ws was built without CUDA or NCCL" >&2; exit 2; }
  [ $torch_ok = 1 ] || { echo "bench_afno_multi_gpu: PyTorch (python3 -c 'import torch') or torchrun missing" >&2; exit 2; }
  have=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') || have=0
  [ "$have" -ge 1 ] || { echo "bench_afno_multi_gpu: nvidia-smi lists no GPU" >&2; exit 2; }
  nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,clocks.sm,temperature.gpu --format=csv | tee "$out/gpu.csv"
  nvidia-smi topo -m > "$out/topo.txt" 2>&1
else
  have=$(nproc); [ $torch_ok = 1 ] || echo "PyTorch's side: skipped (no torch here: a CPU smoke test)" | tee -a "$out/skipped.txt"
fi
# the compiled runs: by default at the largest GPU count asked for that the machine has
if [ $compile_given = 0 ]; then
  compile_gpus=($(printf '%s\n' "${gpus_list[@]}" | awk -v have="$have" '$1 <= have' | sort -n | tail -1))
fi
mpi=(mpirun --bind-to none); [ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
if [ $small = 1 ]; then  # bench_torch_afno.py's SMALL_CONFIG
  shape=4x64x128; model=(--patch 8 --embed 64 --depth 2 --afno-blocks 4); torch_small=(--small)
else
  shape=20x720x1440; model=(); torch_small=()
fi
ws_dev=(--device "$device" --meter-gpus used); [ $device = cpu ] && ws_dev=(--device cpu --threads 1 --meter-gpus all)
torch_dev=(); [ $device = cpu ] && torch_dev=(--device cpu)
warm=3; failed=()

# wattscale on N ranks at one point; its steady window of about --ws-seconds
run_ws() { # N PREC LBS
  local n=$1 prec=$2 lbs=$3 dir=$out/g$1/ws-$2-$3 steps=$ws_steps rate rc
  if [ "$steps" = 0 ]; then
    # rough samples/s per GPU on an H100/H200, only to size the window (a guess, not a result)
    case $prec in fp32) rate=6 ;; tf32) rate=9 ;; *) rate=25 ;; esac
    [ $device = cpu ] && rate=2
    steps=$(( (ws_seconds * rate + lbs - 1) / lbs )); [ $steps -lt 10 ] && steps=10
  fi
  echo "== wattscale $prec on $n GPU(s), LBS $lbs (GBS $((n * lbs))): $steps steps after $warm warm-up steps"
  timeout -k 10 240 "${mpi[@]}" -np "$n" -x NCCL_NVLS_ENABLE "$ws" train --model afno --data "synthetic-weather:$shape" \
    "${model[@]}" --synthetic-count 4096 "${ws_dev[@]}" --precision "$prec" --local-batch "$lbs" \
    --global-batch $((n * lbs)) --steps $((steps + warm)) --timing-warmup-steps $warm --eval-every 0 --val-limit 1 \
    --checkpoint-every 0 --optimizer adam --lr 5e-4 --lr-rule none --warmup-epochs 0 --schedule constant \
    --log-every 20 --watchdog 120 --out "$dir" > "$dir.log" 2>&1
  rc=$?
  rm -f "$dir"/*.wstf # the final checkpoint (0.9 GB at full size): not wanted here
  if [ $rc -ne 0 ]; then
    failed+=("wattscale g$n-$prec-$lbs (exit $rc$([ $rc = 124 ] && echo ': timed out'))"); tail -5 "$dir.log"
    echo "failed: wattscale $prec LBS $lbs on $n GPU(s) (exit $rc$([ $rc = 124 ] && echo ': timed out'); $dir.log)" >> "$out/skipped.txt"
  else
    grep "steady state" "$dir.log"
  fi
}

# PyTorch DDP on N GPUs: MODES at one LBS, under LIMIT seconds; REQUIRED: the modes that must
# have a result (a compiled mode that does not finish in time is recorded, not a failure)
run_torch() { # N MODES LBS LIMIT REQUIRED TAG
  local n=$1 modes=$2 lbs=$3 limit=$4 required=$5 dir=$out/g$1/torch-$6-$3 rc
  if [ $torch_ok = 0 ]; then return 0; fi
  echo "== PyTorch DDP $modes on $n GPU(s), LBS $lbs (limit $limit s)"
  timeout -k 10 "$limit" torchrun --standalone --nproc_per_node "$n" bench/afno/torch_ddp_afno.py --modes "$modes" \
    --lbs "$lbs" --seconds "$torch_s" --warmup $warm --budget $((limit - 15)) --idle-seconds 1 "${torch_small[@]}" \
    "${torch_dev[@]}" --out "$dir" > "$dir.log" 2>&1
  rc=$?
  grep "GPU(s) lbs $lbs" "$dir.log"
  python3 bench/afno/torch_outcome.py "$dir/torch_ddp_afno.json" "$modes" "$lbs" "$rc" "$limit" \
    --required "$required" --schema wattscale.bench_torch_ddp_afno/1 --gpus "$n" ||
    { failed+=("torch g$n-$modes-$lbs (exit $rc$([ $rc = 124 ] && echo ': timed out'))"); tail -5 "$dir.log"
      echo "failed: PyTorch DDP $modes LBS $lbs on $n GPU(s) (exit $rc; $dir.log)" >> "$out/skipped.txt"; }
}

for n in "${gpus_list[@]}"; do
  if [ "$n" -gt "$have" ]; then
    echo "$n GPUs: this machine has $have" | tee -a "$out/skipped.txt"; continue
  fi
  mkdir -p "$out/g$n"
  for prec in "${precs[@]}"; do
    for lbs in "${lbs_list[@]}"; do
      if [ $SECONDS -ge "$max_s" ]; then
        echo "$prec LBS $lbs on $n GPU(s): time budget (--max-seconds $max_s) spent" | tee -a "$out/skipped.txt"; continue
      fi
      run_ws "$n" "$prec" "$lbs"
      [ "$prec" = tf32 ] && continue # torch_ddp_afno.py: fp32 (TF32 off) and bf16 only
      run_torch "$n" "$prec" "$lbs" 150 "$prec" "$prec"
    done
  done
done

# torch.compile'd bf16 last: largest GPU count and LBS first, each with what is left of the budget
if printf '%s\n' "${precs[@]}" | grep -qx bf16 && [ $torch_ok = 1 ]; then
  for n in $(printf '%s\n' "${compile_gpus[@]}" | sort -rn); do
    [ "$n" -gt "$have" ] && continue
    mkdir -p "$out/g$n"
    for lbs in $(printf '%s\n' "${lbs_list[@]}" | sort -rn); do
      left=$((max_s - SECONDS)); [ $left -gt 300 ] && left=300
      if [ $left -lt 110 ]; then
        mkdir -p "$out/g$n/torch-bf16-compile-$lbs"
        python3 bench/afno/torch_outcome.py "$out/g$n/torch-bf16-compile-$lbs/torch_ddp_afno.json" bf16-compile "$lbs" 0 0 \
          --required "" --schema wattscale.bench_torch_ddp_afno/1 --gpus "$n" \
          --why "time budget: $left s left of --max-seconds $max_s, a compiled run needs about 110"
        echo "== PyTorch DDP bf16-compile on $n GPU(s), LBS $lbs: skipped (time budget: $left s left)"
        continue
      fi
      run_torch "$n" bf16-compile "$lbs" "$left" "" bf16-compile
    done
  done
fi
echo "== $SECONDS s in all"
python3 bench/afno/summarize_afno_multi.py "$out" | tee "$out/summary.md" || failed+=("summary")
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench_afno_multi_gpu: FAILED: ${failed[*]} (logs in $out)" >&2
  exit 1
fi
echo "bench_afno_multi_gpu: done; $out/summary.md, $out/summary.json"

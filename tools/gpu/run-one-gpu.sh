#!/usr/bin/env bash
# tools/gpu/run-one-gpu.sh [PHASE...] - the one-GPU work of issues #4, #6 and #7 in one device
# call (carry: [".debs"]). Builds with tools/gpu/setup.sh, then runs the phases asked for
# (default: tests afno-bench), each under $OUT/<phase>/:
#   tests       every GPU test (ctest -L gpu), one at a time            (~75 s on an H200);
#               WS_GPU_TESTS=REGEX runs only those matching (ctest -R)
#   afno-tests  only the AFNO GPU tests (ctest -L gpu -R afno)                   (~1 min)
#   afno-bench  full-size FourCastNet training, wattscale against PyTorch
#               (bench/afno/bench_afno_gpu.sh: fp32 and bf16, about 7 min; run it alone)
#   fc-study    shallow-water data at 32x64 (half a year), then
#               `wattscale study run configs/fourcastnet-gpu-1.yaml`; the database comes back
#               for `wattscale report` on the CPU machine (no GSL or gnuplot there) (~75 s)
#   afno-profile where the full-size FourCastNet's bf16 step goes: wattscale with
#               WATTSCALE_PROFILE=1 (per-op times) at LBS 1 and 2, and PyTorch autocast eager and
#               torch.compile under torch.profiler (kernel tables) at LBS 2      (~3.5 min)
#   afno-ws     full-size FourCastNet, wattscale only (no PyTorch): bf16 LBS 1 and 2, fp32 LBS 2,
#               24 steps after 3 warm-up, the steady samples/s and J/sample   (~1 min)
#   accum       why gradient accumulation is slow (docs/results.md, the one-GPU study):
#               ResNet-50 bf16, GBS 256 as 64 x 4, and LBS 64 with and without the CUDA
#               graph, 60 steps each                                              (~1.5 min)
#   conv-api    issue #4, cuDNN's legacy against its graph API for convolutions: the op tests
#               (test_ops_cuda: every conv shape with WATTSCALE_CUDNN_API legacy, graph and
#               auto), ResNet-50 LBS 256 fp32 (legacy, auto, legacy, auto; 30 steps) and bf16
#               (legacy, auto; 40 steps), PyTorch fp32 once beside them, then one fp32 auto
#               run with WATTSCALE_PROFILE=1 and DEBUG logs: each shape's choices land in
#               conv-api/conv-choices.txt, samples/s and process wall time (planning
#               included) in conv-api/summary.txt              (~4-5 min, estimated, not measured)
#   imagenet-e2e  issue #8's goal, decoding is not the bottleneck: an ImageNet-like tree of
#               25,600 JPEGs (10 x 2,560, ~500x375; 100 steps of 256 per epoch), then ResNet-50
#               bf16 LBS 256, 60 steps (steady window: the last 50) with synthetic data made
#               on the GPU, CPU decoding with 16 and 15 threads, nvJPEG, and 16 threads with
#               --upload-ahead off, in turn, twice; prints samples/s, J/sample and the data
#               phase's share of the steady window of each run, and the means (~4 min);
#               WS_E2E_VARIANTS="synthetic nvjpeg ..." runs only those
#   conv-choices  the convolution choices kept between runs (WATTSCALE_CONV_CHOICES): ResNet-50
#               fp32 and bf16 LBS 256 twice each on one fresh file (timed, then restored);
#               process wall time, device.conv_planning, samples/s (~2.5 min, estimated)
#   r50-fp32-small  issue #4's fp32 goal at the smaller batches: bench/train/bench_resnet50_gpu.sh
#               --precision fp32 --no-compile --lbs "64 128" (wattscale, PyTorch eager alternating)
#   r50-ncu     every kernel of two steady ResNet-50 bf16 LBS 256 steps, wattscale, PyTorch eager
#               and torch.compile, under Nsight Compute (tools/gpu/ncu-resnet50-step.sh)
# NCCL_NVLS_ENABLE=0 as everywhere. Everything also goes into $OUT/one-gpu.tar.gz; checkpoints
# (*.wstf) never come back (too large).
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT=${OUT:-/tmp/one-gpu}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0
phases=("$@"); [ ${#phases[@]} -eq 0 ] && phases=(tests afno-bench)
source tools/gpu/setup.sh || exit 1
ws=build-gpu/bin/wattscale
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,temperature.gpu --format=csv > "$OUT/gpu.csv" 2>&1
rc=0
for p in "${phases[@]}"; do
  echo "== phase $p ($(date -u +%H:%M:%S))"
  mkdir -p "$OUT/$p"
  case $p in
    tests|afno-tests)
      sel=(); [ $p = afno-tests ] && sel=(-R afno); [ $p = tests ] && [ -n "${WS_GPU_TESTS:-}" ] && sel=(-R "$WS_GPU_TESTS")
      (cd build-gpu && ctest -L gpu "${sel[@]}" -V -j 1 > "$OUT/$p/gpu-tests.log" 2>&1) || rc=1
      grep -E "tests passed|tests failed|\(Failed\)|\(Skipped\)|Passed" "$OUT/$p/gpu-tests.log" | tail -20 ;;
    afno-bench)
      OUT=$OUT/afno-bench bash bench/afno/bench_afno_gpu.sh > "$OUT/afno-bench/run.log" 2>&1 || rc=1
      tail -30 "$OUT/afno-bench/run.log" ;;
    fc-study)
      [ -d out/swe-32x64/train ] ||
        $ws data swe --out out/swe-32x64 --grid 32x64 --years 0.5+0.05+0.05 --seed 0 > "$OUT/fc-study/swe.log" 2>&1 \
        || { rc=1; tail -5 "$OUT/fc-study/swe.log"; continue; }
      $ws study run configs/fourcastnet-gpu-1.yaml > "$OUT/fc-study/run.log" 2>&1 || rc=1
      tail -12 "$OUT/fc-study/run.log"
      cp out/fourcastnet-gpu-1/study.db "$OUT/fc-study/" 2>/dev/null
      for d in out/fourcastnet-gpu-1/runs/*/; do cp "$d/run.json" "$OUT/fc-study/$(basename "$d").json" 2>/dev/null; done ;;
    afno-profile)
      for lbs in 1 2; do
        WATTSCALE_PROFILE=1 timeout -k 10 240 $ws train --model afno --data synthetic-weather:20x720x1440 \
          --synthetic-count 64 --device cuda --precision bf16 --local-batch $lbs --global-batch $lbs --steps 8 \
          --timing-warmup-steps 3 --eval-every 0 --val-limit 1 --checkpoint-every 0 --optimizer adam --lr 5e-4 \
          --lr-rule none --warmup-epochs 0 --schedule constant --log-every 1000 --out "$OUT/afno-profile/ws-lbs$lbs" \
          > "$OUT/afno-profile/ws-lbs$lbs.log" 2>&1 || rc=1
        rm -f "$OUT/afno-profile/ws-lbs$lbs"/*.wstf
        grep -A 22 "^profile of" "$OUT/afno-profile/ws-lbs$lbs.log" | head -24
      done
      timeout -k 10 300 python3 bench/afno/bench_torch_afno.py --modes bf16,bf16-compile --lbs 2 --seconds 3 \
        --warmup 3 --budget 280 --profile --out "$OUT/afno-profile/torch" > "$OUT/afno-profile/torch.log" 2>&1 || rc=1
      tail -4 "$OUT/afno-profile/torch.log"
      for f in "$OUT"/afno-profile/torch/profile_*.txt; do head -30 "$f"; done ;;
    afno-ws)
      for v in "bf16 1" "bf16 2" "fp32 2"; do
        set -- $v
        timeout -k 10 240 $ws train --model afno --data synthetic-weather:20x720x1440 --synthetic-count 4096 \
          --device cuda --precision $1 --local-batch $2 --global-batch $2 --steps 27 --timing-warmup-steps 3 \
          --eval-every 0 --val-limit 1 --checkpoint-every 0 --optimizer adam --lr 5e-4 --lr-rule none \
          --warmup-epochs 0 --schedule constant --log-every 1000 --out "$OUT/afno-ws/$1-$2" \
          > "$OUT/afno-ws/$1-$2.log" 2>&1 || rc=1
        rm -f "$OUT/afno-ws/$1-$2"/*.wstf
        echo "$1 LBS $2: $(grep 'steady state' "$OUT/afno-ws/$1-$2.log" || tail -3 "$OUT/afno-ws/$1-$2.log")"
      done ;;
    accum)
      for v in "64 4 auto" "64 1 off" "64 1 auto" "256 1 auto"; do
        set -- $v
        name=lbs$1-acc$2-graph$3
        $ws train --model resnet50 --data synthetic --synthetic-count 2000000 --device cuda --precision bf16 \
          --local-batch $1 --accum $2 --global-batch $(( $1 * $2 )) --cuda-graph $3 --steps 60 --timing-warmup-steps 10 \
          --eval-every 0 --checkpoint-every 0 --lr 0.1 --warmup-epochs 0 --schedule constant \
          --out "$OUT/accum/$name" --log-every 1000000 > "$OUT/accum/$name.log" 2>&1 || rc=1
        rm -f "$OUT/accum/$name"/*.wstf
        python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['totals']['steady']; print(sys.argv[2], *(f'{k} {s.get(k)}' for k in ('samples_per_s', 'j_per_sample', 'mean_power_w')))" \
          "$OUT/accum/$name/run.json" $name 2>&1 | tee -a "$OUT/accum/summary.txt"
      done
      WATTSCALE_PROFILE=1 $ws train --model resnet50 --data synthetic --synthetic-count 2000000 --device cuda \
        --precision bf16 --local-batch 64 --accum 4 --global-batch 256 --steps 20 --timing-warmup-steps 5 \
        --eval-every 0 --checkpoint-every 0 --lr 0.1 --warmup-epochs 0 --schedule constant \
        --out "$OUT/accum/profile" --log-every 1000000 > "$OUT/accum/profile.log" 2>&1 || rc=1
      rm -f "$OUT/accum/profile"/*.wstf ;;
    conv-api)
      d=$OUT/conv-api
      export WATTSCALE_CONV_CHOICES=off # every run times its shapes: planning cost is part of what this compares
      (cd build-gpu && ctest -R '^test_ops_cuda$' --output-on-failure > "$d/test_ops_cuda.log" 2>&1) || rc=1
      grep -E "^FAIL|checks failed|FATAL" "$d/test_ops_cuda.log" | tail -20
      r50=(--model resnet50 --data synthetic --synthetic-count 2000000 --device cuda --local-batch 256 --eval-every 0
           --checkpoint-every 0 --lr 0.1 --warmup-epochs 0 --schedule constant --log-every 1000000)
      i=0
      for v in "fp32 legacy" "fp32 auto" "fp32 legacy" "fp32 auto" "bf16 legacy" "bf16 auto"; do
        set -- $v; i=$((i + 1)); name=$i-$1-$2; steps=40; [ $1 = fp32 ] && steps=30 # ~20 timed fp32 steps: ~6 s
        t0=$(date +%s.%N)
        WATTSCALE_CUDNN_API=$2 $ws train "${r50[@]}" --precision $1 --steps $steps --timing-warmup-steps 10 \
          --out "$d/$name" > "$d/$name.log" 2>&1 || { rc=1; tail -5 "$d/$name.log"; }
        t1=$(date +%s.%N)
        rm -f "$d/$name"/*.wstf
        python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['totals']['steady']; print(sys.argv[2], 'samples_per_s', round(s['samples_per_s'], 1), 'j_per_sample', s.get('j_per_sample'), 'process_wall_s', round(float(sys.argv[4]) - float(sys.argv[3]), 1))" \
          "$d/$name/run.json" $name $t0 $t1 2>&1 | tee -a "$d/summary.txt"
      done
      python3 bench/train/torch_resnet50.py --precision fp32 --lbs 256 --warmup 10 --steps 30 \
        --json "$d/torch-fp32-256.json" 2> "$d/torch-fp32-256.log" | tee -a "$d/summary.txt" || rc=1
      WATTSCALE_PROFILE=1 WATTSCALE_LOG=debug WATTSCALE_CUDNN_API=auto $ws train "${r50[@]}" --precision fp32 \
        --steps 10 --timing-warmup-steps 3 --out "$d/profile" > "$d/profile.log" 2>&1 || rc=1
      rm -f "$d/profile"/*.wstf
      grep -E "conv [0-9]+x[0-9]+x" "$d/profile.log" > "$d/conv-choices.txt"
      grep -E "planned in" "$d/conv-choices.txt" | tail -1
      grep -cE "(fwd|dx|dx\+|dw): graph" "$d/conv-choices.txt" | sed 's/^/routes won by the graph API: /'
      unset WATTSCALE_CONV_CHOICES ;; # later phases use the file again
    conv-choices)
      # the convolution choices file: ResNet-50 fp32 and bf16 LBS 256, each run twice with one
      # fresh file (the first times every shape and keeps the choices, the second restores
      # them); process wall time, the record's device.conv_planning and steady samples/s
      d=$OUT/conv-choices
      r50=(--model resnet50 --data synthetic --synthetic-count 2000000 --device cuda --local-batch 256 --eval-every 0
           --checkpoint-every 0 --lr 0.1 --warmup-epochs 0 --schedule constant --log-every 1000000)
      for v in "fp32 1" "fp32 2" "bf16 1" "bf16 2"; do
        set -- $v; name=$1-run$2; steps=40; [ $1 = fp32 ] && steps=30
        t0=$(date +%s.%N)
        WATTSCALE_CONV_CHOICES=$d/choices.txt $ws train "${r50[@]}" --precision $1 --steps $steps \
          --timing-warmup-steps 10 --out "$d/$name" > "$d/$name.log" 2>&1 || { rc=1; tail -5 "$d/$name.log"; }
        t1=$(date +%s.%N)
        rm -f "$d/$name"/*.wstf
        python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['totals']['steady']; print(sys.argv[2], 'samples_per_s', round(s['samples_per_s'], 1), 'j_per_sample', s.get('j_per_sample'), 'process_wall_s', round(float(sys.argv[4]) - float(sys.argv[3]), 1), 'conv_planning', r['device']['conv_planning'])" \
          "$d/$name/run.json" $name $t0 $t1 2>&1 | tee -a "$d/summary.txt"
      done
      wc -l "$d/choices.txt" | tee -a "$d/summary.txt" ;;
    r50-fp32-small)
      OUT=$OUT/$p bash bench/train/bench_resnet50_gpu.sh --precision fp32 --no-compile --lbs "64 128" \
        > "$OUT/$p/run.log" 2>&1 || rc=1
      tail -12 "$OUT/$p/run.log" ;;
    r50-ncu)
      OUT=$OUT/$p WS_NO_BUILD=1 bash tools/gpu/ncu-resnet50-step.sh bf16 256 > "$OUT/$p/run.log" 2>&1 || rc=1
      cat "$OUT/$p/run.log" ;;
    imagenet-e2e)
      tree=/tmp/ws-e2e-tree
      if [ ! -d $tree/train ]; then
        build-gpu/bin/ws_make_jpeg_tree $tree --classes 10 --train 2560 --val 2 --threads "$(nproc)" \
          > "$OUT/$p/tree.log" 2>&1 || { rc=1; tail -5 "$OUT/$p/tree.log"; continue; }
      fi
      cat "$OUT/$p/tree.log" 2>/dev/null
      e2e=(train --model resnet50 --device cuda --precision bf16 --local-batch 256 --steps 60 --timing-warmup-steps 10
           --eval-every 0 --checkpoint-every 0 --lr 0.1 --warmup-epochs 0 --schedule constant --log-every 1000000)
      for round in 1 2; do
        for v in ${WS_E2E_VARIANTS:-synthetic cpu16 cpu15 nvjpeg cpu16-sync}; do
          case $v in
            synthetic)  f=(--data synthetic --synthetic-count 2000000) ;;
            cpu16)      f=(--data imagenet:$tree --data-threads 16 --upload-ahead on) ;;
            cpu15)      f=(--data imagenet:$tree --data-threads 15 --upload-ahead on) ;;
            nvjpeg)     f=(--data imagenet:$tree --data-threads 16 --decoder nvjpeg --upload-ahead on) ;;
            cpu16-sync) f=(--data imagenet:$tree --data-threads 16 --upload-ahead off) ;;
          esac
          $ws "${e2e[@]}" "${f[@]}" --out "$OUT/$p/$v-r$round" > "$OUT/$p/$v-r$round.log" 2>&1 \
            || { rc=1; tail -3 "$OUT/$p/$v-r$round.log"; }
          rm -f "$OUT/$p/$v-r$round"/*.wstf
        done
      done
      python3 - "$OUT/$p" <<'PY' 2>&1 | tee "$OUT/$p/summary.txt"
import glob, json, os, sys
d = sys.argv[1]
def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"
rows = {}
print("samples/s, J/sample, data share: the steady window; ahead (batches uploaded ahead) and waits: the whole run")
print(f"{'run':16} {'samples/s':>10} {'J/sample':>9} {'data share':>10} {'ahead':>9} {'upload wait s':>13} "
      f"{'loader wait s':>13} {'hidden wait s':>13}")
for f in sorted(glob.glob(f"{d}/*/run.json")):
    name = os.path.basename(os.path.dirname(f))
    r = json.load(open(f))
    s, data = r["totals"].get("steady") or {}, r.get("data") or {}
    if not s:
        print(f"{name:16} no steady window (status {r.get('status')})")
        continue
    share = s["data_s"] / s["time_s"]
    up = data.get("batches_uploaded")
    ahead = f"{data.get('batches_uploaded_ahead')}/{up}" if up is not None else "-"
    print(f"{name:16} {s['samples_per_s']:10.1f} {fmt(s.get('j_per_sample'), '.4f'):>9} {share:10.2%} {ahead:>9} "
          f"{fmt(data.get('upload_wait_s'), '.3f'):>13} {fmt(data.get('loader_wait_s'), '.3f'):>13} "
          f"{fmt(data.get('loader_wait_overlapped_s'), '.3f'):>13}")
    rows.setdefault(name.rsplit("-r", 1)[0], []).append((s["samples_per_s"], s.get("j_per_sample"), share))
def mean(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return sum(xs) / len(xs) if xs else None
print("means over the rounds (steady window: steps 11-60):")
base = mean([x[0] for x in rows.get("synthetic", [])])
for v, rs in rows.items():
    sps = mean([x[0] for x in rs])
    rel = f", {sps / base:.1%} of synthetic" if base else ""
    print(f"  {v:12} {sps:8.1f} samples/s, {fmt(mean([x[1] for x in rs]), '.4f')} J/sample, "
          f"data share {mean([x[2] for x in rs]):.2%}{rel} ({len(rs)} runs)")
PY
      ;;
    *) echo "unknown phase $p (tests afno-tests afno-bench afno-profile afno-ws fc-study accum conv-api conv-choices imagenet-e2e r50-fp32-small r50-ncu)" >&2; rc=2 ;;
  esac
done
# a device call returns only a few files: everything (less checkpoints) in one archive too
tar -C "$OUT" --exclude=one-gpu.tar.gz --exclude="*.wstf" -czf /tmp/one-gpu.tar.gz . && mv /tmp/one-gpu.tar.gz "$OUT/"
exit $rc

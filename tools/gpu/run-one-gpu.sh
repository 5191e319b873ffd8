#!/usr/bin/env bash
# tools/gpu/run-one-gpu.sh [PHASE...] - the one-GPU work of issues #4, #6 and #7 in one device
# call (carry: [".debs"]). Builds with tools/gpu/setup.sh, then runs the phases asked for
# (default: tests afno-bench), each under $OUT/<phase>/:
#   tests       every GPU test (ctest -L gpu), one at a time            (~75 s on an H200)
#   afno-tests  only the AFNO GPU tests (ctest -L gpu -R afno)                   (~1 min)
#   afno-bench  full-size FourCastNet training, wattscale against PyTorch
#               (bench/afno/bench_afno_gpu.sh: fp32 and bf16, about 7 min; run it alone)
#   fc-study    shallow-water data at 32x64 (half a year), then
#               `wattscale study run configs/fourcastnet-gpu-1.yaml`; the database comes back
#               for `wattscale report` on the CPU machine (no GSL or gnuplot there) (~75 s)
#   accum       why gradient accumulation is slow (docs/results.md, the one-GPU study):
#               ResNet-50 bf16, GBS 256 as 64 x 4, and LBS 64 with and without the CUDA
#               graph, 60 steps each                                              (~1.5 min)
#   imagenet-e2e  issue #8's goal, decoding is not the bottleneck: an ImageNet-like tree of
#               25,600 JPEGs (10 x 2,560, ~500x375; 100 steps of 256 per epoch), then ResNet-50
#               bf16 LBS 256, 60 steps (steady window: the last 50) with synthetic data made
#               on the GPU, CPU decoding with 16 and 15 threads, nvJPEG, and 16 threads with
#               --upload-ahead off, in turn, twice; prints samples/s, J/sample and the data
#               phase's share of the steady window of each run, and the means (~4 min)
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
      sel=(); [ $p = afno-tests ] && sel=(-R afno)
      (cd build-gpu && ctest -L gpu "${sel[@]}" --output-on-failure -j 1 > "$OUT/$p/gpu-tests.log" 2>&1) || rc=1
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
        for v in synthetic cpu16 cpu15 nvjpeg cpu16-sync; do
          case $v in
            synthetic)  f=(--data synthetic --synthetic-count 2000000) ;;
            cpu16)      f=(--data imagenet:$tree --data-threads 16) ;;
            cpu15)      f=(--data imagenet:$tree --data-threads 15) ;;
            nvjpeg)     f=(--data imagenet:$tree --data-threads 16 --decoder nvjpeg) ;;
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
    *) echo "unknown phase $p (tests afno-tests afno-bench fc-study accum imagenet-e2e)" >&2; rc=2 ;;
  esac
done
# a device call returns only a few files: everything (less checkpoints) in one archive too
tar -C "$OUT" --exclude=one-gpu.tar.gz --exclude="*.wstf" -czf /tmp/one-gpu.tar.gz . && mv /tmp/one-gpu.tar.gz "$OUT/"
exit $rc

#!/usr/bin/env bash
# bench/data/bench_data.sh [BUILD] - data-loading throughput on an ImageNet-like JPEG tree
# (a benchmark, not a test): images/s against the number of decode threads for wattscale's
# loader with the CPU decoder (fp32 NCHW, as the CPU backend trains, and uint8 NHWC, as a GPU
# backend uploads), with the nvJPEG decoder (uint8 NHWC on the GPU; where the build has CUDA
# and a GPU is present), and torchvision's DataLoader (ImageFolder, the same transforms, the
# same worker counts; where python3 has torchvision), all in one call on the same tree.
# Everything is training augmentation: RandomResizedCrop(224, scale) + flip + normalisation.
#
# Environment: OUT (results; default a temporary folder), TREE (default /tmp/ws-bench-tree,
# made with ws_make_jpeg_tree if missing: 10 classes x 500 images of ~500x375, quality 90),
# THREADS (default "1 2 4 8 16"), SCALE (default 0.08,1), BATCH (default 256).
# Writes OUT/data_bench.md (the table), OUT/data_bench.jsonl (one JSON line per point),
# OUT/data_bench.log (everything printed). About 3-4 minutes on 16 cores with a GPU.
set -uo pipefail
build=${1:-build}
out=${OUT:-$(mktemp -d)}
tree=${TREE:-/tmp/ws-bench-tree}
threads_list=${THREADS:-"1 2 4 8 16"}
scale=${SCALE:-0.08,1}
batch=${BATCH:-256}
mkdir -p "$out"
log=$out/data_bench.log
jsonl=$out/data_bench.jsonl
: >"$jsonl"
exec > >(tee -a "$log") 2>&1

bin=$build/bin
[ -x "$bin/ws_bench_loader" ] || { echo "bench_data: $bin/ws_bench_loader missing: build first (make, or tools/gpu/setup.sh)"; exit 1; }
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) logical CPUs, $(date -u +%FT%TZ)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [ ! -d "$tree/train" ]; then
  "$bin/ws_make_jpeg_tree" "$tree" --classes 10 --train 500 --val 0 || exit 1
fi
echo "tree: $tree ($(find "$tree/train" -name '*.JPEG' | wc -l) images, $(du -sh "$tree/train" | cut -f1))"

have_gpu=0
if "$bin/wattscale" --version 2>/dev/null | grep -q '^cuda *yes' && nvidia-smi -L >/dev/null 2>&1; then have_gpu=1; fi
have_torch=0
python3 -c "import torch, torchvision" 2>/dev/null && have_torch=1
echo "nvjpeg path: $([ $have_gpu = 1 ] && echo yes || echo 'no (no GPU or no CUDA build)'); torchvision: $([ $have_torch = 1 ] && echo yes || echo 'no (python3 lacks it)')"

point() {  # label, then the command; appends its JSON line
  local label=$1; shift
  local line
  if line=$("$@" 2>>"$out/data_bench.stderr" | tail -1) && [ "${line:0:1}" = "{" ]; then
    echo "$line" | sed "s/^{/{\"label\": \"$label\", /" >>"$jsonl"
    echo "  $label threads $t: $(echo "$line" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["images_per_s"], "img/s,", r["images_per_cpu_s"], "img per CPU-s")')"
  else
    echo "  $label threads $t: failed (see data_bench.stderr)"
  fi
}

for t in $threads_list; do
  images=$((1000 + 250 * t))
  echo "threads $t, $images images per point"
  point "wattscale-cpu-f32" "$bin/ws_bench_loader" "$tree" --threads "$t" --format f32 --batch "$batch" --images "$images" --scale "$scale"
  point "wattscale-cpu-u8" "$bin/ws_bench_loader" "$tree" --threads "$t" --format u8 --batch "$batch" --images "$images" --scale "$scale"
  [ $have_gpu = 1 ] && point "wattscale-nvjpeg-u8" "$bin/ws_bench_loader" "$tree" --threads "$t" --decoder nvjpeg --format u8 --batch "$batch" --images "$images" --scale "$scale"
  [ $have_torch = 1 ] && point "torchvision-f32" python3 "$(dirname "$0")/torch_loader.py" "$tree" --workers "$t" --batch "$batch" --images "$images" --scale "$scale"
done

python3 - "$jsonl" "$out/data_bench.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
labels = sorted({r["label"] for r in rows}, key=lambda s: (not s.startswith("wattscale"), s))
threads = sorted({r["threads"] for r in rows})
get = {(r["label"], r["threads"]): r for r in rows}
out = ["| threads | " + " | ".join(f"{l} img/s (per thread, per CPU-s)" for l in labels) + " |",
       "|---:|" + "---:|" * len(labels)]
for t in threads:
    cells = []
    for l in labels:
        r = get.get((l, t))
        cells.append("-" if not r else f"{r['images_per_s']:.0f} ({r['images_per_s_per_thread']:.0f}, {r['images_per_cpu_s'] or 0:.0f})")
    out.append(f"| {t} | " + " | ".join(cells) + " |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
echo "results: $out/data_bench.md, $jsonl, $log"

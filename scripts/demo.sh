#!/usr/bin/env bash
# scripts/demo.sh BUILD_DIR - the README's main command (`make demo`): runs the default study
# and writes its report.
#   - a machine with NVIDIA GPUs and a CUDA build: configs/gpu-1.yaml (one GPU) or
#     configs/gpu-2.yaml (two or more): ResNet-50, bf16, on the GPUs;
#   - otherwise configs/demo-cpu.yaml: ResNet-18 (width 8) on 10% of Fashion-MNIST, 1 and
#     2 ranks, constant GBS and constant LBS, 2 repetitions (about five minutes on 2 cores).
# Energy is measured where a sensor exists and marked as not measured where none does.
# WATTSCALE_DEMO_CONFIG=FILE picks another study, WATTSCALE_DEMO_OUT=DIR another output
# folder (default out/demo: study.db, runs/, report/). Killed, it resumes where it stopped.
set -euo pipefail
build=${1:-build}
ws="$build/bin/wattscale"
out=${WATTSCALE_DEMO_OUT:-out/demo}
config=${WATTSCALE_DEMO_CONFIG:-}
if [ -z "$config" ]; then
  gpus=0
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && "$ws" --version | grep -q '^cuda *yes'; then
    gpus=$(nvidia-smi -L | grep -c '^GPU' || true)
  fi
  if [ "$gpus" -ge 2 ]; then config=configs/gpu-2.yaml
  elif [ "$gpus" -ge 1 ]; then config=configs/gpu-1.yaml
  else config=configs/demo-cpu.yaml
  fi
fi
mkdir -p "$out"
echo "== wattscale demo: study $config (runs in $out/runs, database $out/study.db)" >&2
"$ws" study plan "$config" --db "$out/study.db" --runs-dir "$out/runs" >&2
"$ws" study run "$config" --db "$out/study.db" --runs-dir "$out/runs"
if ! "$ws" --version | grep -q '^gsl *yes'; then
  # the GPU machine has no GSL: the runs and the database are complete, the report is made elsewhere
  echo "wattscale demo: the study is done (database $out/study.db); this build has no GSL, so make the report" \
       "where one is: copy $out and run \`wattscale report $out/study.db\`" >&2
  exit 0
fi
echo "== wattscale demo: report" >&2
"$ws" report "$out/study.db" --out "$out/report"
echo "wattscale demo: the report is $out/report/report.html (figures embedded; summary $out/report/report.md," \
     "tables $out/report/tables/*.csv)" >&2

#!/usr/bin/env bash
# bench/energy/verify_meter_gpu.sh BUILD OUTDIR [SECONDS] - on the GPU machine: checks
# `wattscale measure` against independent readers and measures its overhead.
#  1. For 1 GPU and (where present) 2 GPUs: a steady SGEMM load (ws_gpu_burn) of SECONDS
#     (default 35) under `wattscale measure --interval 100`, bracketed by pynvml counter
#     reads, with nvidia-smi sampling power every 100 ms meanwhile; compare_meter.py
#     tabulates the three.
#  2. Overhead: the load alone, under the meter at 100 ms and at 10 ms, alternating, twice
#     each; the load's GEMM rate and the meter thread's CPU time are compared.
set -uo pipefail
build=$1; out=$2; secs=${3:-35}
ws=$build/bin/wattscale; burn=$build/bin/ws_gpu_burn
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
ngpus=$(nvidia-smi -L | wc -l)
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,clocks.max.sm --format=csv > "$out/gpus.csv"

# cost of one NVML call, idle and under load: the meter's CPU overhead is calls x this
echo "### NVML call cost (GPU 0, 200 calls each; idle, then under SGEMM load)"
"$build/bin/ws_nvml_call_cost" 200 | sed 's/^/idle   /'
"$burn" 8 1 > /dev/null & b=$!
sleep 2
"$build/bin/ws_nvml_call_cost" 200 | sed 's/^/loaded /'
wait $b
for n in 1 2; do
  [ "$n" -gt "$ngpus" ] && continue
  d=$out/gpu$n; mkdir -p "$d"
  nvidia-smi --query-gpu=index,uuid,timestamp,power.draw --format=csv,noheader,nounits -lms 100 > "$d/smi.csv" &
  smi=$!
  sleep 1
  python3 "$here/nvml_counter.py" "$d/before.json"
  "$ws" measure --interval 100 --json "$d/ws.json" --csv "$d/ws.csv" -- "$burn" "$secs" "$n" > "$d/burn.jsonl" 2> "$d/measure.txt"
  python3 "$here/nvml_counter.py" "$d/after.json"
  sleep 0.5
  kill $smi; wait $smi 2>/dev/null
  echo "### $n GPU(s), ${secs} s SGEMM load"
  cat "$d/measure.txt" | sed -n '/wattscale measure:/,$p'
  python3 "$here/compare_meter.py" "$d" "$n"
done

# overhead of the meter on the load's throughput (1 GPU, 20 s each, alternating)
o=$out/overhead; mkdir -p "$o"
for rep in 1 2; do
  "$burn" 20 1 | tail -1 > "$o/base_$rep.json"
  "$ws" measure --quiet --interval 100 --json "$o/m100_$rep.meter.json" -- "$burn" 20 1 | tail -1 > "$o/m100_$rep.json"
  "$ws" measure --quiet --interval 10 --json "$o/m10_$rep.meter.json" -- "$burn" 20 1 | tail -1 > "$o/m10_$rep.json"
done
python3 - "$o" <<'PY'
import json, sys, glob
o = sys.argv[1]
def rate(k): return [json.load(open(f))["tflop_per_s"] for f in sorted(glob.glob(f"{o}/{k}_[0-9].json"))]
def cpu(k): return [json.load(open(f))["meter"]["sampler_cpu_fraction_of_core"] for f in sorted(glob.glob(f"{o}/{k}_*.meter.json"))]
b = rate("base")
print("### meter overhead (1 GPU, SGEMM 8192, 20 s runs, alternating)")
print("| setting | TFLOP/s (runs) | vs no meter | meter thread CPU, % of one core |")
print("|---|---|---|---|")
print(f"| no meter | {', '.join(f'{x:.2f}' for x in b)} | - | - |")
mb = sum(b) / len(b)
for k, name in (("m100", "100 ms"), ("m10", "10 ms")):
    r = rate(k); c = cpu(k)
    print(f"| meter {name} | {', '.join(f'{x:.2f}' for x in r)} | {100*(sum(r)/len(r)/mb-1):+.2f}% | "
          f"{', '.join(f'{100*x:.3f}' for x in c)} |")
PY

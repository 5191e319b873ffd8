#!/usr/bin/env bash
# tests/train/test_train_cuda.sh WATTSCALE - training on the GPU follows the CPU reference.
# 20 steps of a small ResNet (resnet18 width 16, 32 px, LBS 32) from the same weights on the
# same samples (--synthetic-on-host: the CPU generator's numbers), SGD with momentum.
# Training an untrained ReLU network is chaotic: the CPU alone, run with 1 and with 2
# threads (the same forward, dW summed in another order), parted by 1.3% in loss after 20
# steps at the study's lr (measured 2026-12-01, lr 0.2 at GBS 256) and by 3.4e-4 at lr 0.02.
# So the test measures that envelope in the same run and uses lr 0.05:
#  1. fp32 (no TF32), eager and as a CUDA graph: step 1 (forward only) within 1e-5 of the
#     CPU; every later step within 1e-3 + 10 x the CPU-vs-CPU envelope at that step (a wrong
#     kernel parts the losses from step 2 on by far more);
#  2. bf16 and fp16 (dynamic loss scaling) within 5e-2 of the CPU's fp32 losses (their own
#     rounding, not a bound on our error); the records name the precision and the GPU;
#  3. gradient accumulation (GBS 32 as 8 x 4, batch norm over each micro-batch), eager and as
#     one CUDA graph per micro-batch, follows the CPU's accumulated run as in 1;
#  4. evaluation (128 samples, 4 batches) through the validation loader (fp32 NCHW batches,
#     uploaded and converted) scores within 1e-5 of the same batches loaded directly
#     (--eval-data direct): the same samples through the same forward. Both runs train 20
#     steps first: --deterministic (heuristic, untimed conv algorithms) makes that training
#     the same in both processes (timed choices differ between processes, and the scores
#     of two such trainings differed by 19% in top-1 on an H200, 2026-12-01).
# Exit 77 (skipped) without a GPU or a CUDA build.
set -uo pipefail
ws=$1
"$ws" --version | grep -q "^cuda *yes" || { echo "built without CUDA: skipped"; exit 77; }
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || { echo "no GPU: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
common=(train --model resnet18 --width 16 --small-stem --data synthetic --synthetic-shape 3x32x32 --synthetic-classes 10
        --synthetic-count 1280 --synthetic-on-host --global-batch 32 --steps 20 --lr 0.05 --warmup-epochs 0
        --schedule constant --seed 5 --quiet --eval-every 0)
"$ws" "${common[@]}" --device cpu --threads 1 --out "$tmp/cpu" --step-log "$tmp/cpu.csv" || fail "cpu run"
"$ws" "${common[@]}" --device cpu --threads 2 --out "$tmp/cpu2" --step-log "$tmp/cpu2.csv" || fail "cpu run, 2 threads"
"$ws" "${common[@]}" --device cuda --precision fp32 --cuda-graph off --out "$tmp/gpu" --step-log "$tmp/gpu.csv" || fail "gpu fp32 eager"
"$ws" "${common[@]}" --device cuda --precision fp32 --cuda-graph on --out "$tmp/graph" --step-log "$tmp/graph.csv" || fail "gpu fp32 graph"
acc=(--local-batch 8 --accum 4)
"$ws" "${common[@]}" "${acc[@]}" --device cpu --threads 1 --out "$tmp/cpuacc" --step-log "$tmp/cpuacc.csv" || fail "cpu accum"
"$ws" "${common[@]}" "${acc[@]}" --device cuda --precision fp32 --cuda-graph off --out "$tmp/gpuacc" \
  --step-log "$tmp/gpuacc.csv" || fail "gpu fp32 accum eager"
"$ws" "${common[@]}" "${acc[@]}" --device cuda --precision fp32 --out "$tmp/graphacc" \
  --step-log "$tmp/graphacc.csv" || fail "gpu fp32 accum graphs"
"$ws" "${common[@]}" --device cuda --precision bf16 --out "$tmp/bf16" --step-log "$tmp/bf16.csv" || fail "gpu bf16"
"$ws" "${common[@]}" --device cuda --precision fp16 --out "$tmp/fp16" --step-log "$tmp/fp16.csv" || fail "gpu fp16"
ev=(--device cuda --precision fp32 --cuda-graph off --deterministic --eval-every 1) # same training in both
"$ws" "${common[@]}" "${ev[@]}" --out "$tmp/evload" || fail "gpu evaluation through the loader"
"$ws" "${common[@]}" "${ev[@]}" --eval-data direct --out "$tmp/evdirect" || fail "gpu evaluation, direct"
python3 - "$tmp" <<'PY' || exit 1
import json, sys
t = sys.argv[1]
def scores(n): return [json.load(open(f"{t}/{n}/run.json"))["epochs"][-1][k] for k in ("val_loss", "val_top1", "val_top5")]
sl, sd = scores("evload"), scores("evdirect")
assert None not in sl + sd, (sl, sd)
worst = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(sl, sd))
print(f"validation through the loader {sl}, direct {sd}: worst relative difference {worst:.2e} (tolerance 1e-5)")
assert worst <= 1e-5, "validation through the loader scored differently"
def losses(f): return [float(l.split(",")[2]) for l in open(f)]
cpu, cpu2 = losses(f"{t}/cpu.csv"), losses(f"{t}/cpu2.csv")
assert len(cpu) == len(cpu2) == 20, (len(cpu), len(cpu2))
env = [abs(a - b) / abs(a) for a, b in zip(cpu, cpu2)]
runs = {n: losses(f"{t}/{n}.csv") for n in ("gpu", "graph", "bf16", "fp16")}
print("step  cpu        cpu-2thr   envelope  gpu        graph      bf16       fp16")
for k in range(20):
    print(f"{k+1:4d}  {cpu[k]:.7f}  {cpu2[k]:.7f}  {env[k]:.2e}  " +
          "  ".join(f"{runs[n][k]:.7f}" for n in ("gpu", "graph", "bf16", "fp16")))
ok = True
for n in ("gpu", "graph"):
    g = runs[n]
    rel = [abs(a - b) / abs(a) for a, b in zip(cpu, g)]
    tol = [1e-5] + [1e-3 + 10 * e for e in env[1:]]
    bad = [k + 1 for k in range(20) if not rel[k] <= tol[k]]
    print(f"{n}: worst relative difference to the CPU {max(rel):.3g}; steps outside tolerance: {bad or 'none'}")
    ok &= not bad
cpuacc = losses(f"{t}/cpuacc.csv")
for n in ("gpuacc", "graphacc"):
    g = losses(f"{t}/{n}.csv")
    rel = [abs(a - b) / abs(a) for a, b in zip(cpuacc, g)]
    tol = [1e-5] + [1e-3 + 10 * e for e in env[1:]]
    bad = [k + 1 for k in range(20) if not rel[k] <= tol[k]]
    print(f"{n} (8 x 4): worst relative difference to the CPU's 8 x 4 {max(rel):.3g}; outside tolerance: {bad or 'none'}")
    ok &= len(g) == 20 and not bad
ra = json.load(open(f"{t}/graphacc/run.json"))
assert ra["device"]["cuda_graph"] is True, ("accumulated steps should replay graphs by default", ra["device"])
for n in ("bf16", "fp16"):
    worst = max(abs(a - b) / abs(a) for a, b in zip(cpu, runs[n]))
    print(f"{n}: worst relative difference to the CPU's fp32 {worst:.3g} (tolerance 5e-2)")
    ok &= worst <= 5e-2
r = json.load(open(f"{t}/graph/run.json"))
assert r["device"]["cuda_graph"] is True, r["device"]
assert r["device"]["precision"] == "fp32" and r["device"]["name"], r["device"]
r16 = json.load(open(f"{t}/fp16/run.json"))
print("fp16 loss scale", r16["device"]["loss_scale"], "skipped steps", r16["device"]["skipped_steps"])
assert ok, "GPU losses do not follow the CPU's"
PY
echo "test_train_cuda: GPU training follows the CPU reference"

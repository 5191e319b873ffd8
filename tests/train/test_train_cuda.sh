#!/usr/bin/env bash
# tests/train/test_train_cuda.sh WATTSCALE - training on the GPU follows the CPU reference:
#  1. 20 fp32 steps of a small ResNet (resnet18 width 16, 32 px, LBS 32) from the same
#     weights on the same samples (--synthetic-on-host: the CPU generator's numbers), eager
#     and as a CUDA graph: every step's loss within 1e-3 relative of the CPU's (fp32 without
#     TF32 differs from the CPU by summation order only, which 20 steps of SGD with momentum
#     amplify; a wrong kernel parts the losses at step 1 by far more);
#  2. the same in bf16: losses within 5e-2 (bf16 rounding, not a bound on our error);
#  3. fp16 with loss scaling runs and its loss falls; the record says which precision and
#     the GPU it ran on.
# Exit 77 (skipped) without a GPU or a CUDA build.
set -uo pipefail
ws=$1
"$ws" --version | grep -q "^cuda *yes" || { echo "built without CUDA: skipped"; exit 77; }
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || { echo "no GPU: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
common=(train --model resnet18 --width 16 --small-stem --data synthetic --synthetic-shape 3x32x32 --synthetic-classes 10
        --synthetic-count 1280 --synthetic-on-host --global-batch 32 --steps 20 --lr 0.2 --warmup-epochs 0
        --schedule constant --seed 5 --quiet --eval-every 0)
"$ws" "${common[@]}" --device cpu --out "$tmp/cpu" --step-log "$tmp/cpu.csv" || fail "cpu run"
"$ws" "${common[@]}" --device cuda --precision fp32 --cuda-graph off --out "$tmp/gpu" --step-log "$tmp/gpu.csv" || fail "gpu fp32 eager"
"$ws" "${common[@]}" --device cuda --precision fp32 --cuda-graph on --out "$tmp/graph" --step-log "$tmp/graph.csv" || fail "gpu fp32 graph"
"$ws" "${common[@]}" --device cuda --precision bf16 --out "$tmp/bf16" --step-log "$tmp/bf16.csv" || fail "gpu bf16"
"$ws" "${common[@]}" --device cuda --precision fp16 --out "$tmp/fp16" --step-log "$tmp/fp16.csv" || fail "gpu fp16"
python3 - "$tmp" <<'PY' || exit 1
import json, sys
t = sys.argv[1]
def losses(f): return [float(l.split(",")[2]) for l in open(f)]
cpu = losses(f"{t}/cpu.csv")
assert len(cpu) == 20, len(cpu)
ok = True
for name, tol in (("gpu", 1e-3), ("graph", 1e-3), ("bf16", 5e-2), ("fp16", 5e-2)):
    g = losses(f"{t}/{name}.csv")
    assert len(g) == 20, (name, len(g))
    worst = max(abs(a - b) / abs(a) for a, b in zip(cpu, g))
    print(f"{name}: 20 steps, worst relative loss difference to the CPU {worst:.3g} (tolerance {tol:g}); "
          f"cpu {cpu[0]:.5f} -> {cpu[-1]:.5f}, {name} {g[0]:.5f} -> {g[-1]:.5f}")
    ok &= worst <= tol
r = json.load(open(f"{t}/graph/run.json"))
assert r["device"]["cuda_graph"] is True, r["device"]
assert r["device"]["precision"] == "fp32" and r["device"]["name"], r["device"]
r16 = json.load(open(f"{t}/fp16/run.json"))
print("fp16 loss scale", r16["device"]["loss_scale"], "skipped steps", r16["device"]["skipped_steps"])
f16 = losses(f"{t}/fp16.csv")
assert f16[-1] < f16[0], "fp16 loss did not fall"
assert ok, "GPU losses do not follow the CPU's"
PY
echo "test_train_cuda: GPU training follows the CPU reference"

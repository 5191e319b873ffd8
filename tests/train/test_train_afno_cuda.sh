#!/usr/bin/env bash
# tests/train/test_train_afno_cuda.sh WATTSCALE - `wattscale train --model afno --device cuda`
# end to end, following the CPU reference. A small FourCastNet (patch 4, embed 32, depth 2,
# 4 blocks) on a tiny shallow-water set (32x64, made here) for 20 steps at GBS 4 from the
# same seed, so the same weights and the same samples:
#  1. pre-training in fp32 (no TF32), eager (the default for AFNO) and as a CUDA graph
#     (--cuda-graph on): step 1 within 1e-4 of the CPU's loss, every later step within
#     1e-3 + 10 x the CPU-vs-CPU envelope at that step (CPU with 1 and 2 threads; a wrong
#     kernel parts the losses by far more); tf32 within 2e-2 (its own rounding); bf16
#     (autocast-style: the token-wise products in bf16) within 5e-2, one step and two
#     (bf16's 2^-9 rounding of the products' inputs and outputs moves the loss by a few
#     1e-3; a product computed wrongly, or stale bf16 weights after the optimizer, part the
#     curves by more within 20 steps at lr 1e-3);
#  2. two-step fine-tuning (--forecast-steps 2, the second AFNO sharing the first's
#     parameters on the GPU) likewise against the CPU's two-step run;
#  3. --data synthetic-weather:3x32x64 (batches built on the GPU from the pool) against the
#     CPU's run on the same synthetic fields;
#  4. every GPU record says device cuda, the precision, the GPU's name, peak memory, and
#     has finite validation scores (RMSE against persistence).
# Exit 77 (skipped) without a GPU, a CUDA build, HDF5 or FFTW.
set -uo pipefail
ws=$1
"$ws" --version | grep -q "^cuda *yes" || { echo "built without CUDA: skipped"; exit 77; }
"$ws" --version | grep -q "^hdf5 *yes" && "$ws" --version | grep -q "^fftw *yes" ||
  { echo "built without HDF5 or FFTW: skipped"; exit 77; }
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || { echo "no GPU: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$ws" data swe --out "$tmp/swe" --grid 32x64 --years 0.1+0.02+0.02 --seed 0 >"$tmp/data.log" 2>&1 ||
  { cat "$tmp/data.log"; fail "wattscale data swe"; }
model=(--model afno --patch 4 --embed 32 --depth 2 --afno-blocks 4)
common=(train "${model[@]}" --data "swe:$tmp/swe" --global-batch 4 --steps 20 --lr 1e-3 --warmup-epochs 0
        --schedule constant --seed 5 --quiet --val-limit 8)
run() { local name=$1; shift; "$ws" "$@" --out "$tmp/$name" --step-log "$tmp/$name.csv" >"$tmp/$name.log" 2>&1 ||
        { cat "$tmp/$name.log"; fail "$name"; }; }
run cpu "${common[@]}" --device cpu --threads 1
run cpu2 "${common[@]}" --device cpu --threads 2
run gpu "${common[@]}" --device cuda --precision fp32
run graph "${common[@]}" --device cuda --precision fp32 --cuda-graph on
run tf32 "${common[@]}" --device cuda --precision tf32
run bf16 "${common[@]}" --device cuda --precision bf16
run cpu_2step "${common[@]}" --forecast-steps 2 --device cpu --threads 1
run cpu2_2step "${common[@]}" --forecast-steps 2 --device cpu --threads 2
run gpu_2step "${common[@]}" --forecast-steps 2 --device cuda --precision fp32
run bf16_2step "${common[@]}" --forecast-steps 2 --device cuda --precision bf16
syn=(train "${model[@]}" --data synthetic-weather:3x32x64 --synthetic-count 64 --global-batch 4 --steps 20 --lr 1e-3
     --warmup-epochs 0 --schedule constant --seed 5 --quiet --val-limit 8)
run cpu_syn "${syn[@]}" --device cpu --threads 1
run cpu2_syn "${syn[@]}" --device cpu --threads 2
run gpu_syn "${syn[@]}" --device cuda --precision fp32
python3 - "$tmp" <<'PY' || exit 1
import json, math, sys
t = sys.argv[1]
def losses(f): return [float(l.split(",")[2]) for l in open(f)]
ok = True
def follow(ref, ref2, names, step1_tol, later_tol):
    global ok
    cpu, cpu2 = losses(f"{t}/{ref}.csv"), losses(f"{t}/{ref2}.csv")
    assert len(cpu) == len(cpu2) == 20, (ref, len(cpu), len(cpu2))
    env = [abs(a - b) / abs(a) for a, b in zip(cpu, cpu2)]
    for n in names:
        g = losses(f"{t}/{n}.csv")
        assert len(g) == 20, (n, len(g))
        rel = [abs(a - b) / abs(a) for a, b in zip(cpu, g)]
        tol = [step1_tol] + [later_tol + 10 * e for e in env[1:]]
        bad = [k + 1 for k in range(20) if not rel[k] <= tol[k]]
        print(f"{n} vs {ref}: step 1 {rel[0]:.2e}, worst {max(rel):.2e} (CPU envelope up to {max(env):.2e}); "
              f"steps outside tolerance: {bad or 'none'}")
        ok &= not bad
follow("cpu", "cpu2", ["gpu", "graph"], 1e-4, 1e-3)
follow("cpu", "cpu2", ["tf32"], 2e-2, 2e-2)
follow("cpu", "cpu2", ["bf16"], 5e-2, 5e-2)
follow("cpu_2step", "cpu2_2step", ["gpu_2step"], 1e-4, 1e-3)
follow("cpu_2step", "cpu2_2step", ["bf16_2step"], 5e-2, 5e-2)
follow("cpu_syn", "cpu2_syn", ["gpu_syn"], 1e-4, 1e-3)
for n, prec in (("gpu", "fp32"), ("graph", "fp32"), ("tf32", "tf32"), ("bf16", "bf16"), ("gpu_2step", "fp32"),
                ("bf16_2step", "bf16"), ("gpu_syn", "fp32")):
    r = json.load(open(f"{t}/{n}/run.json"))
    assert r["config"]["device"] == "cuda", (n, r["config"]["device"])
    d = r["device"]
    assert d["precision"] == prec and d["name"] and d["peak_memory_bytes"] > 0, (n, d)
    assert d["cuda_graph"] is (n == "graph"), (n, d["cuda_graph"])
    ev = [e for e in r["epochs"] if e.get("val_loss") is not None]
    assert ev and all(math.isfinite(e["val_loss"]) for e in ev), (n, "no finite val_loss")
    print(f"{n}: record device {d['name']} {d['precision']}, peak {d['peak_memory_bytes'] / 2**20:.0f} MiB, "
          f"val_loss {ev[-1]['val_loss']:.4f}")
assert ok, "GPU losses do not follow the CPU's"
PY
echo "test_train_afno_cuda: AFNO training on the GPU follows the CPU reference"

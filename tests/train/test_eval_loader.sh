#!/usr/bin/env bash
# tests/train/test_eval_loader.sh WATTSCALE WS_SPAWN MAKE_JPEG_TREE - validation batches through
# the data loader (src/train/step.c open_val_loader, wsi_eval_batch) on the CPU: the scores are
# those of the synchronous path (--eval-data direct, each batch loaded on the training thread,
# as before the loader served evaluation), bit for bit.
# A JPEG tree of 3 classes x (8 train, 7 val) images; LBS 4, so each evaluation is 5 full
# batches and a partial one of 1; 3 epochs, evaluated after each:
#  1. val_loss, val_top1 and val_top5 of every epoch, direct against the loader with 1 and 3
#     decode threads: equal (==, not a tolerance: the same samples in the same order through
#     the same forward); the training losses of every step too (evaluation leaves the
#     training loader's queued next epoch alone). Each evaluated row has eval_s and
#     eval_data_s (0 <= eval_data_s <= eval_s).
#  2. --val-limit 10: 3 batches (12 samples), direct against loader.
#  3. 2 ranks (tcp world, ws_spawn), each evaluating its shard: direct against loader.
#  4. synthetic data and, where Debian's dataset-fashion-mnist is installed, Fashion-MNIST
#     (IDX files): direct against loader.
set -uo pipefail
ws=$1 spawn=$2 mk=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export WATTSCALE_LOG=warn
"$mk" "$tmp/tree" --classes 3 --train 8 --val 7 --width 48 --height 40 --seed 3 >/dev/null || fail "making the tree"
net=(train --model resnet18 --width 4 --warmup-epochs 0 --lr 0.1 --checkpoint-every 0 --quiet --seed 3
     --threads 1 --watchdog 120)
jpeg=("${net[@]}" --data "imagenet:$tmp/tree" --crop-size 32 --resize-size 36 --global-batch 4 --epochs 3)
run() {  # name, then flags
  local name=$1; shift
  "$ws" "$@" --out "$tmp/$name" --step-log "$tmp/$name.csv" > "$tmp/$name.log" 2>&1 ||
    { tail -5 "$tmp/$name.log"; fail "run $name"; }
}
same() {  # reference run, then runs whose scores and training losses must equal its own
  python3 - "$tmp" "$@" <<'PY' || exit 1
import json, sys
t, ref, others = sys.argv[1], sys.argv[2], sys.argv[3:]
def rec(n): return json.load(open(f"{t}/{n}/run.json"))
def steps(n): return open(f"{t}/{n}.csv").read()
keys = ("val_loss", "val_top1", "val_top5")
want = [[e[k] for k in keys] for e in rec(ref)["epochs"]]
assert want and all(v is not None for row in want for v in row), f"{ref}: not evaluated: {want}"
for n in others:
    r = rec(n)
    got = [[e[k] for k in keys] for e in r["epochs"]]
    print(f"{n} against {ref}: {'equal' if got == want else 'DIFFERENT'}: {got}")
    assert got == want, f"{n}: validation scores {got} differ from {ref}'s {want}"
    assert steps(n) == steps(ref), f"{n}: the training losses differ from {ref}'s"
    for e in r["epochs"]:
        assert 0 <= e["eval_data_s"] <= e["eval_s"], (n, e["epoch"], e["eval_data_s"], e["eval_s"])
PY
}

# 1
run direct "${jpeg[@]}" --eval-data direct
run loader1 "${jpeg[@]}" --data-threads 1
run loader3 "${jpeg[@]}" --data-threads 3
same direct loader1 loader3
python3 - "$tmp" <<'PY' || exit 1
import json, sys
r = json.load(open(f"{sys.argv[1]}/loader3/run.json"))
assert len(r["epochs"]) == 3 and all(e["eval_s"] > 0 for e in r["epochs"]), r["epochs"]
PY

# 2
run direct_lim "${jpeg[@]}" --epochs 1 --val-limit 10 --eval-data direct
run loader_lim "${jpeg[@]}" --epochs 1 --val-limit 10 --data-threads 2
same direct_lim loader_lim
python3 - "$tmp" <<'PY' || exit 1
import json, sys
t = sys.argv[1]
full = json.load(open(f"{t}/direct/run.json"))["epochs"][0]["val_loss"]
lim = json.load(open(f"{t}/direct_lim/run.json"))["epochs"][0]["val_loss"]
assert lim != full, "--val-limit 10 scored the whole validation split"
PY

# 3
for p in direct:"--eval-data direct" loader:"--data-threads 2"; do
  name=ranks_${p%%:*}
  # shellcheck disable=SC2086
  "$spawn" 2 --timeout 200 -- "$ws" "${jpeg[@]}" --global-batch 8 --local-batch 4 --epochs 2 ${p#*:} \
    --out "$tmp/$name" --step-log "$tmp/$name.csv" > "$tmp/$name.log" 2>&1 || { tail -5 "$tmp/$name.log"; fail "$name"; }
done
same ranks_direct ranks_loader

# 4
syn=("${net[@]}" --data synthetic --synthetic-shape 3x16x16 --synthetic-classes 5 --synthetic-count 120
     --global-batch 16 --epochs 2)
run syn_direct "${syn[@]}" --eval-data direct
run syn_loader "${syn[@]}" --data-threads 2
same syn_direct syn_loader
if [ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  fm=("${net[@]}" --data fashion-mnist --data-fraction 0.01 --global-batch 32 --epochs 1)
  run fm_direct "${fm[@]}" --eval-data direct
  run fm_loader "${fm[@]}" --data-threads 2
  same fm_direct fm_loader
else
  echo "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): its pair skipped"
fi
echo "test_eval_loader: validation through the loader scores exactly as loaded directly"

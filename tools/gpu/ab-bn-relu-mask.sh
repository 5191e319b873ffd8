#!/usr/bin/env bash
# tools/gpu/ab-bn-relu-mask.sh - on the GPU machine: ResNet-50 bf16 LBS 256 with the residual
# BNs' ReLU mask on and off (WATTSCALE_BN_RELU_MASK), alternating, 3 times each, 160 steady
# steps; prints samples/s, J/sample, mean W, peak bytes per run into $OUT/ab.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
export NCCL_NVLS_ENABLE=0 OUT=${OUT:-/tmp/ab-bn-relu-mask}
mkdir -p "$OUT"
source tools/gpu/setup.sh > $OUT/setup.log 2>&1 || { tail $OUT/setup.log; exit 1; }
ws=build-gpu/bin/wattscale; f=$OUT/choices.txt
c=(train --model resnet50 --data synthetic --synthetic-count 2000000 --device cuda --precision bf16 --local-batch 256 --eval-every 0 --checkpoint-every 0 --lr 0.1 --warmup-epochs 0 --schedule constant --log-every 1000000)
WATTSCALE_CONV_CHOICES=$f $ws "${c[@]}" --steps 20 --timing-warmup-steps 5 --out $OUT/warm > $OUT/warm.log 2>&1
for i in 1 2 3; do for m in on off; do
WATTSCALE_CONV_CHOICES=$f WATTSCALE_BN_RELU_MASK=$m $ws "${c[@]}" --steps 180 --timing-warmup-steps 20 --out $OUT/$m-$i > $OUT/$m-$i.log 2>&1
rm -f $OUT/$m-$i/*.wstf
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['totals']['steady']; print(sys.argv[2], round(s['samples_per_s'],1), round(s['j_per_sample'],5), round(s['mean_power_w'],1), r['device']['peak_memory_bytes'])" $OUT/$m-$i/run.json $m-$i | tee -a $OUT/ab.txt
done; done
tar -C $OUT -czf /tmp/ab.tgz . && mv /tmp/ab.tgz $OUT/ab.tar.gz

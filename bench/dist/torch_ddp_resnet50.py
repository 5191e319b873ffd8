#!/usr/bin/env python3
"""bench/dist/torch_ddp_resnet50.py - the PyTorch DDP side of bench/dist/bench_scaling_gpu.sh.

Run under torchrun, one process per GPU (NCCL backend). The same training step as
bench/train/torch_resnet50.py - torchvision resnet50 (v1.5), channels_last, SGD momentum 0.9 /
weight decay 1e-4, cross-entropy, synthetic ImageNet-shaped batches drawn on each GPU every
step, fp32 with TF32 off or bf16 autocast - wrapped in DistributedDataParallel (its default
25 MB gradient buckets, all-reduce overlapped with backward). Each rank reads its own GPU's
NVML total-energy counter before and after the steady window; rank 0 sums them and writes one
JSON object (--json) with the world's samples/s and J/sample, and prints one line.
"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torchvision
from torch.nn.parallel import DistributedDataParallel as DDP

try:
    import pynvml
except ImportError:  # pragma: no cover
    pynvml = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--lbs", type=int, default=256, help="local batch per GPU")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--json", default="")
    a = ap.parse_args()

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl")
    world = dist.get_world_size()
    rank = dist.get_rank()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda", local_rank)
    torch.manual_seed(1 + rank)
    model = torchvision.models.resnet50().to(dev).to(memory_format=torch.channels_last)
    ddp = DDP(model, device_ids=[local_rank])
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1 * world * a.lbs / 256, momentum=0.9, weight_decay=1e-4)
    crit = nn.CrossEntropyLoss()
    bf16 = a.precision == "bf16"

    def step():
        x = torch.randn(a.lbs, 3, 224, 224, device=dev).to(memory_format=torch.channels_last)
        y = torch.randint(0, 1000, (a.lbs,), device=dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = crit(ddp(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t_start = time.time()
    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    dist.barrier()
    warm_s = time.time() - t_start
    handle = None
    if pynvml:
        pynvml.nvmlInit()
        # NVML numbers GPUs as the driver does and CUDA_VISIBLE_DEVICES may reorder them:
        # find ours by UUID where torch gives it
        uuid = getattr(torch.cuda.get_device_properties(dev), "uuid", None)
        try:
            handle = pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}") if uuid else None
        except pynvml.NVMLError:
            handle = None
        if handle is None:
            handle = pynvml.nvmlDeviceGetHandleByIndex(local_rank)
    e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) if handle else 0
    t0 = time.time()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    dist.barrier()
    t1 = time.time()
    e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) if handle else 0
    mine = torch.tensor([(e1 - e0) / 1000.0, float(loss), float(torch.cuda.max_memory_allocated())],
                        device=dev, dtype=torch.float64)
    energy = mine.clone()
    dist.all_reduce(energy)  # sum of the GPUs' energy (and losses, memory)
    if rank == 0:
        samples = a.steps * a.lbs * world
        secs = t1 - t0
        r = {
            "impl": "pytorch-ddp",
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name(),
            "gpus": world,
            "precision": a.precision,
            "lbs": a.lbs,
            "gbs": a.lbs * world,
            "steps": a.steps,
            "warmup_steps": a.warmup,
            "warmup_s": warm_s,
            "time_s": secs,
            "samples_per_s": samples / secs,
            "energy_j": float(energy[0]) if handle else None,
            "j_per_sample": float(energy[0]) / samples if handle else None,
            "mean_power_w": float(energy[0]) / secs if handle else None,
            "peak_memory_bytes_rank0": int(mine[2]),
            "final_loss_mean": float(energy[1]) / world,
        }
        if a.json:
            with open(a.json, "w") as f:
                json.dump(r, f, indent=1)
        print(f"pytorch-ddp {a.precision} {world} GPU LBS {a.lbs:4d} GBS {a.lbs * world:5d}: "
              f"{r['samples_per_s']:8.1f} samples/s, "
              f"{r['j_per_sample'] if r['j_per_sample'] is not None else float('nan'):.4f} J/sample, "
              f"{r['mean_power_w'] or 0:.0f} W (warm-up {warm_s:.1f} s)", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

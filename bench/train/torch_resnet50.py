#!/usr/bin/env python3
"""bench/train/torch_resnet50.py - the PyTorch side of bench/train/bench_resnet50_gpu.sh.

torchvision's resnet50 (v1.5), channels_last, SGD momentum 0.9 / weight decay 1e-4 (the
study's optimizer), cross-entropy, synthetic ImageNet-shaped batches drawn on the GPU every
step (as wattscale's --data synthetic does on CUDA), fp32 with TF32 off (the study's fp32)
or bf16 autocast, eager or torch.compile. Throughput and energy over a steady window after
warm-up steps: samples/s from wall time around synchronised steps, J/sample from the NVML
total-energy counter (the reference wattscale's meter uses too), read before and after.
Writes one JSON object (--json) and prints one line.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torchvision

try:
    import pynvml
except ImportError:  # pragma: no cover
    pynvml = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--lbs", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--json", default="")
    ap.add_argument("--cuda-profile-steps", type=int, default=0,
                    help="after warm-up, run N steps inside cudaProfilerStart/Stop (for ncu "
                         "--profile-from-start off) before the timed window")
    a = ap.parse_args()

    torch.backends.cudnn.benchmark = True
    tf32 = False  # fp32 means fp32, as the study ran; bf16 runs autocast
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device("cuda")
    model = torchvision.models.resnet50().to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    crit = nn.CrossEntropyLoss()
    fwd = torch.compile(model) if a.compile else model
    bf16 = a.precision == "bf16"

    def step():
        x = torch.randn(a.lbs, 3, 224, 224, device=dev).to(memory_format=torch.channels_last)
        y = torch.randint(0, 1000, (a.lbs,), device=dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = crit(fwd(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t_start = time.time()
    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    warm_s = time.time() - t_start
    if a.cuda_profile_steps > 0:
        torch.cuda.cudart().cudaProfilerStart()
        for _ in range(a.cuda_profile_steps):
            step()
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()
    handle = None
    if pynvml:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
    e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) if handle else None
    t0 = time.time()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    t1 = time.time()
    e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) if handle else None
    samples = a.steps * a.lbs
    r = {
        "impl": "pytorch-compile" if a.compile else "pytorch-eager",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(),
        "precision": a.precision,
        "lbs": a.lbs,
        "steps": a.steps,
        "warmup_steps": a.warmup,
        "warmup_s": warm_s,
        "time_s": t1 - t0,
        "samples_per_s": samples / (t1 - t0),
        "energy_j": (e1 - e0) / 1000.0 if handle else None,
        "j_per_sample": (e1 - e0) / 1000.0 / samples if handle else None,
        "mean_power_w": (e1 - e0) / 1000.0 / (t1 - t0) if handle else None,
        "peak_memory_bytes": torch.cuda.max_memory_allocated(),
        "final_loss": float(loss),
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    print(f"{r['impl']:16s} {a.precision} LBS {a.lbs:4d}: {r['samples_per_s']:8.1f} samples/s, "
          f"{r['j_per_sample'] if r['j_per_sample'] is not None else float('nan'):.4f} J/sample, "
          f"{r['mean_power_w'] or 0:.0f} W, peak {r['peak_memory_bytes'] / 2**30:.1f} GiB (warm-up {warm_s:.1f} s)",
          flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench/data/torch_loader.py - torchvision's DataLoader on an ImageNet-layout tree, timed
the way bench/data/bench_loader.c times wattscale's loader: ImageFolder with the study's
training transforms (RandomResizedCrop(224, scale) + RandomHorizontalFlip + ToTensor +
Normalize(ImageNet mean/std), PIL decoding and bilinear antialiased resizing), shuffled
batches, N worker processes; the clock starts at the first batch (worker start-up and the
first batch excluded) and stops at the batch that reaches --images. Prints one JSON line.
Runs where PyTorch and torchvision are (the GPU machine); a benchmark, not a test.

  python3 torch_loader.py DIR --workers N [--images 2000] [--batch 256] [--scale 0.08,1]
                              [--split train|val]
"""
import argparse
import json
import os
import resource
import time


def cpu_seconds():
    """CPU time of this process, of its reaped children (workers of earlier epochs) and of its
    live children (the current workers, read from /proc: they run until the iterator goes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    gone = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers of earlier epochs, reaped
    total = own.ru_utime + own.ru_stime + gone.ru_utime + gone.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == me:  # ppid
                total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--scale", default="0.08,1")
    ap.add_argument("--split", default="train")
    a = ap.parse_args()

    import torch
    import torchvision
    from torchvision import datasets, transforms

    smin, smax = (float(v) for v in a.scale.split(","))
    norm = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    if a.split == "train":
        tf = transforms.Compose([transforms.RandomResizedCrop(224, scale=(smin, smax)),
                                 transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])
    else:
        tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm])
    t_scan = time.perf_counter()
    ds = datasets.ImageFolder(os.path.join(a.dir, a.split), transform=tf)
    t_scan = time.perf_counter() - t_scan
    torch.manual_seed(1)
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                                         drop_last=True, persistent_workers=False)
    counted, t0, c0 = 0, None, None
    while counted < a.images:
        for x, _ in loader:
            if t0 is None:
                t0, c0 = time.perf_counter(), cpu_seconds()
                continue
            counted += x.shape[0]
            if counted >= a.images:
                break
    secs = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    print(json.dumps({"tool": "torchvision", "torch": torch.__version__, "torchvision": torchvision.__version__,
                      "pil": __import__("PIL").__version__, "format": "f32", "threads": a.workers,
                      "batch": a.batch, "scale": [smin, smax], "split": a.split, "images": counted,
                      "seconds": round(secs, 4), "images_per_s": round(counted / secs, 1),
                      "images_per_s_per_thread": round(counted / secs / max(a.workers, 1), 1),
                      "process_cpu_s": round(cpu, 3), "images_per_cpu_s": round(counted / cpu, 1) if cpu else None,
                      "scan_s": round(t_scan, 4), "dataset_images": len(ds)}))


if __name__ == "__main__":
    main()

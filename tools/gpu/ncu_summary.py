#!/usr/bin/env python3
"""tools/gpu/ncu_summary.py CSV[.gz] [--steps N] [--top K] [--categories] - Nsight Compute's
per-launch CSV (--metrics gpu__time_duration.sum --csv --print-units base) summed by kernel
name: calls, total and per-step milliseconds, share. --steps divides the totals (the run's
number of profiled steps; where the range includes the first step, its one-off planning
kernels are in it and the figures are a little high). --categories first prints the time by
kind of kernel (convolution forward / dgrad / wgrad, GEMM, batch norm, Triton's fused
kernels, pooling, optimizer, other), by names of cuDNN's, cuBLAS's, PyTorch's and ours."""
import argparse, csv, gzip, io, re, sys
from collections import defaultdict

# first match wins; the patterns are lower-case substrings of kernel names
CATEGORIES = [
    ("triton bn/fused", ("triton_red", "triton_per")),  # Triton's names carry the fused ops'
    ("triton pointwise", ("triton_poi", "triton")),
    ("conv forward", ("fprop",)),
    ("conv dgrad", ("dgrad",)),
    ("conv wgrad", ("wgrad",)),
    ("batch norm", ("bn_", "batch_norm", "batchnorm")),
    ("conv other", ("conv", "xmma", "implicit_gemm", "cudnn", "nchwtonhwc", "nhwctonchw")),
    ("gemm", ("gemm", "cublas", "cutlass", "nvjet")),  # nvjet: cuBLAS(Lt)'s Hopper kernels, 1x1 convs too
    ("pooling", ("pool",)),
    ("optimizer", ("sgd", "optim", "multi_tensor", "foreach", "momentum")),
    ("loss", ("softmax", "loss", "nll", "cross_entropy")),
]


def category(name):
    n = name.lower()
    for cat, pats in CATEGORIES:
        if any(p in n for p in pats):
            return cat
    return "other"


ap = argparse.ArgumentParser()
ap.add_argument("csv")
ap.add_argument("--steps", type=int, default=2)
ap.add_argument("--top", type=int, default=45)
ap.add_argument("--categories", action="store_true")
a = ap.parse_args()
raw = (gzip.open if a.csv.endswith(".gz") else open)(a.csv, "rt", errors="replace").read()
lines = raw[raw.find('"ID"'):] if '"ID"' in raw else sys.exit("no ncu CSV header in " + a.csv)
tot, calls = defaultdict(float), defaultdict(int)
for r in csv.DictReader(io.StringIO(lines)):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    name = re.sub(r"\(.*", "", r["Kernel Name"])[:80]
    tot[name] += float(r["Metric Value"].replace(",", "")) * 1e-6  # ns -> ms
    calls[name] += 1
s = sum(tot.values())
print(f"{sum(calls.values())} launches, {s:.1f} ms in all, {s / a.steps:.1f} ms per step ({a.steps} steps)")
if a.categories:
    ct, cc = defaultdict(float), defaultdict(int)
    for n, t in tot.items():
        ct[category(n)] += t
        cc[category(n)] += calls[n]
    for c, t in sorted(ct.items(), key=lambda kv: -kv[1]):
        print(f"  {c:18s} {t / a.steps:9.3f} ms/step {100 * t / s:5.1f}% {cc[c] / a.steps:7.1f} calls/step")
for n, t in sorted(tot.items(), key=lambda kv: -kv[1])[: a.top]:
    print(f"{t / a.steps:9.3f} ms/step {100 * t / s:5.1f}% {calls[n] / a.steps:7.1f} calls/step  {n}")

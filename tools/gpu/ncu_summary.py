#!/usr/bin/env python3
"""tools/gpu/ncu_summary.py CSV[.gz] [--steps N] [--top K] - Nsight Compute's per-launch CSV
(--metrics gpu__time_duration.sum --csv --print-units base) summed by kernel name: calls, total
and per-step milliseconds, share. --steps divides the totals (the run's number of steps; the
first step's one-off planning kernels are included, so the figures are a little high)."""
import argparse, csv, gzip, io, re, sys
from collections import defaultdict

ap = argparse.ArgumentParser()
ap.add_argument("csv")
ap.add_argument("--steps", type=int, default=2)
ap.add_argument("--top", type=int, default=45)
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
for n, t in sorted(tot.items(), key=lambda kv: -kv[1])[: a.top]:
    print(f"{t / a.steps:9.3f} ms/step {100 * t / s:5.1f}% {calls[n] / a.steps:7.1f} calls/step  {n}")

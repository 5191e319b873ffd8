#!/usr/bin/env python3
"""bench/dist/summarize_scaling.py OUT - the table bench/dist/bench_scaling_gpu.sh prints.

Reads OUT/ws-<prec>-<series>-g<N>-r<R>/run.json (wattscale run records, totals.steady) and
OUT/ddp-<same tag>.json (bench/dist/torch_ddp_resnet50.py), and writes one markdown table per
precision and series: samples/s, scaling efficiency against the 1-GPU point of the same
implementation, J/sample and mean power of the GPUs used (wattscale: its run record's
energy.gpu_metering says the meter read its ranks' GPUs, --meter-gpus used; PyTorch: each rank
its own GPU). A wattscale record metered with --meter-gpus all (or older than the flag) on
fewer GPUs than the machine has counts idle GPUs too: its J/sample and W are marked "*".
Repetitions are averaged (and their count shown); a missing or failed run shows as "-".
"""
import glob
import json
import os
import re
import statistics
import sys

TAG = re.compile(r"(?P<prec>[a-z0-9]+)-(?P<series>[a-z0-9]+)-g(?P<n>\d+)-r(?P<r>\d+)")


def load(out):
    rows = {}  # (prec, series, n, impl) -> list of (samples/s, J/sample, W, over the GPUs used)
    for p in glob.glob(os.path.join(out, "ws-*", "run.json")):
        m = TAG.fullmatch(os.path.basename(os.path.dirname(p))[3:])
        if not m:
            continue
        with open(p) as f:
            rec = json.load(f)
        st = rec.get("totals", {}).get("steady")
        energy = rec.get("energy", {})
        metered = [d for d in energy.get("devices", []) if d.get("kind") == "gpu"]
        mode = (energy.get("gpu_metering") or {}).get("mode", "all")  # before the flag: every GPU
        used = mode == "used" or len(metered) == int(m["n"])
        if st:
            rows.setdefault((m["prec"], m["series"], int(m["n"]), "wattscale"), []).append(
                (st["samples_per_s"], st.get("j_per_sample"), st.get("mean_power_w"), used))
    for p in glob.glob(os.path.join(out, "ddp-*.json")):
        m = TAG.fullmatch(os.path.basename(p)[4:-5])
        if not m:
            continue
        with open(p) as f:
            r = json.load(f)
        rows.setdefault((m["prec"], m["series"], int(m["n"]), "pytorch-ddp"), []).append(
            (r["samples_per_s"], r.get("j_per_sample"), r.get("mean_power_w"), True))
    return rows


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    rows = load(out)
    if not rows:
        print(f"summarize_scaling.py: no results under {out}", file=sys.stderr)
        return 1
    impls = ["wattscale", "pytorch-ddp"]
    for prec, series in sorted({(k[0], k[1]) for k in rows}):
        ns = sorted({k[2] for k in rows if k[0] == prec and k[1] == series})
        print(f"\n### ResNet-50 {prec}, series {series}\n")
        print("| GPUs | " + " | ".join(f"{i} samples/s | {i} eff. | {i} J/sample (GPUs used) | {i} W (GPUs used)"
                                      for i in impls) + " |")
        print("|---:|" + "---:|---:|---:|---:|" * len(impls))
        base = {i: mean(x[0] for x in rows.get((prec, series, 1, i), [])) for i in impls}
        for n in ns:
            cells = []
            for i in impls:
                rs = rows.get((prec, series, n, i), [])
                sps = mean(x[0] for x in rs)
                eff = sps / (n * base[i]) if sps and base[i] else None
                reps = f" ({len(rs)})" if len(rs) > 1 else ""
                star = "" if all(x[3] for x in rs) else "*"
                cells += [fmt(sps, ".1f") + reps, fmt(eff, ".3f"), fmt(mean(x[1] for x in rs), ".4f") + star,
                          fmt(mean(x[2] for x in rs), ".0f") + star]
            print(f"| {n} | " + " | ".join(cells) + " |")
    print("\neff. = samples/s / (GPUs x samples/s on 1 GPU), same implementation; "
          "(k) = mean of k repetitions; J/sample and W: NVML energy counters of the GPUs the run used, "
          "both sides measured (wattscale --meter-gpus used); * = a wattscale run metered with --meter-gpus all "
          "on fewer GPUs than the machine has: idle GPUs included, not comparable")
    return 0


if __name__ == "__main__":
    sys.exit(main())

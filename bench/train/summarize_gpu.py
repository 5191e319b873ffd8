#!/usr/bin/env python3
"""bench/train/summarize_gpu.py DIR - the table of bench/train/bench_resnet50_gpu.sh: one row
per run (wattscale's run records, DIR/ws-*/run.json, and the PyTorch JSON files,
DIR/torch-*.json), samples/s, J/sample, mean power and MFU at 24.5 GFLOP per image (the
issue's count: 3 x 4.1 GMAC x 2). MFU is given against the datasheet peak of the card
(H100/H200 SXM: 989 TFLOP/s dense bf16, 67 TFLOP/s fp32 without tensor cores) and, for
bf16, against the 790 TFLOP/s measured for a large bf16 matrix product on this machine
(facts.md). Markdown on stdout."""
import glob
import json
import os
import sys

FLOP = 24.5e9
PEAK = {"bf16": 989e12, "fp32": 67e12, "tf32": 494e12, "fp16": 989e12}


def rows(d):
    out = []
    for f in sorted(glob.glob(os.path.join(d, "ws-*", "run.json"))):
        r = json.load(open(f))
        s = r["totals"].get("steady") or {}
        out.append({
            "impl": "wattscale", "precision": r["config"]["precision"], "lbs": r["config"]["local_batch"],
            "samples_per_s": s.get("samples_per_s"), "j_per_sample": s.get("j_per_sample"),
            "mean_power_w": s.get("mean_power_w"),
            "peak_memory_bytes": r.get("device", {}).get("peak_memory_bytes"),
            "device": r.get("device", {}).get("name"), "graph": r.get("device", {}).get("cuda_graph"),
        })
    for f in sorted(glob.glob(os.path.join(d, "torch-*.json"))):
        r = json.load(open(f))
        out.append(r)
    return out


def main():
    d = sys.argv[1]
    rs = rows(d)
    print("| impl | precision | LBS | samples/s | J/sample | mean W | MFU (datasheet) | MFU (790 TF/s) | peak GiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    def fmt(v, spec):
        return format(v, spec) if v is not None else "n/a"
    def pct(v):
        return fmt(v, ".1f") + "%" if v is not None else "n/a"
    for r in sorted(rs, key=lambda r: (r["precision"], r["lbs"], r["impl"])):
        sps = r.get("samples_per_s")
        mfu = sps * FLOP / PEAK.get(r["precision"], 1) * 100 if sps else None
        mfu790 = sps * FLOP / 790e12 * 100 if sps and r["precision"] == "bf16" else None
        pk = r.get("peak_memory_bytes")
        print(f"| {r['impl']} | {r['precision']} | {r['lbs']} | {fmt(sps, '.1f')} | {fmt(r.get('j_per_sample'), '.4f')} "
              f"| {fmt(r.get('mean_power_w'), '.0f')} | {pct(mfu)} | {pct(mfu790)} "
              f"| {fmt(pk / 2**30 if pk else None, '.1f')} |")

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench/afno/summarize_afno.py DIR - the table of bench/afno/bench_afno_gpu.sh: one row per run,
wattscale's run records (DIR/ws-P-L/run.json: the steady state after the warm-up steps) and
PyTorch's (DIR/torch-P-L/bench_torch_afno.json: its timed window), with samples/s, J/sample and
mean power from the NVML energy counter (each names its source), peak GPU memory (wattscale: its
allocations; PyTorch: max_memory_allocated), and wattscale's ratio to PyTorch's best at the same
precision and LBS: of PyTorch's modes of that precision (bf16: autocast eager "bf16" and
torch.compile'd "bf16-compile"), the one with the most samples/s (its J/sample is the energy
reference; the column "torch ref" names it). Writes DIR/summary.json; markdown on stdout. Exits 1
when no run has a throughput."""
import glob
import json
import os
import sys


def ws_row(r, f):
    """One summary row from wattscale's run record r (read from file f)."""
    s = r.get("totals", {}).get("steady") or {}
    dev = r.get("device", {})
    pk = dev.get("peak_memory_bytes")
    return {"impl": "wattscale", "precision": r["config"]["precision"], "lbs": r["config"]["local_batch"],
            "status": r.get("status"), "steps": s.get("steps"), "samples_per_s": s.get("samples_per_s"),
            "j_per_sample": s.get("j_per_sample"), "mean_power_w": s.get("mean_power_w"),
            "energy_source": s.get("energy_source"), "peak_mem_gib": pk / 2 ** 30 if pk else None,
            "device": dev.get("name"), "cuda_graph": dev.get("cuda_graph"), "file": f}


def torch_row(j, r, f):
    """One summary row from run r of PyTorch's result file j (read from file f)."""
    return {"impl": "pytorch " + j["env"].get("torch", "?"), "precision": r["mode"], "lbs": r["lbs"],
            "status": "oom" if r.get("oom") else r.get("skipped", "completed"), "steps": r.get("steps"),
            "samples_per_s": r.get("samples_per_s"), "j_per_sample": r.get("j_per_sample"),
            "mean_power_w": r.get("mean_power_w"), "energy_source": r.get("energy_source"),
            "peak_mem_gib": r.get("peak_mem_gib"), "device": j["env"].get("gpu"), "file": f}


def ws_rows(d):
    return [ws_row(json.load(open(f)), f) for f in sorted(glob.glob(os.path.join(d, "ws-*", "run.json")))]


def torch_rows(d, name="bench_torch_afno.json"):
    out = []
    for f in sorted(glob.glob(os.path.join(d, "torch-*", name))):
        j = json.load(open(f))
        out += [torch_row(j, r, f) for r in j.get("runs", [])]
    return out


def torch_modes_of(precision):
    """PyTorch's modes that wattscale's precision is compared with: eager and compiled."""
    return (precision, precision + "-compile")


def compare_with_best(r, torch_same_point, energy_key="j_per_sample"):
    """Sets r's torch_ref (the mode with the most samples/s among PyTorch's rows at r's point:
    same precision, both modes, same LBS), speed_vs_pytorch and energy_vs_pytorch (energy_key of
    both: the same kind of figure); returns the modes of that point without a throughput."""
    ref = [t for t in torch_same_point if t.get("samples_per_s")]
    if ref and r.get("samples_per_s"):
        best = max(ref, key=lambda t: t["samples_per_s"])
        r["torch_ref"] = best["precision"]
        r["speed_vs_pytorch"] = r["samples_per_s"] / best["samples_per_s"]
        if r.get(energy_key) and best.get(energy_key):
            r["energy_vs_pytorch"] = r[energy_key] / best[energy_key]
    return [t["precision"] for t in torch_same_point if not t.get("samples_per_s")]


def verdict(r):
    """The goal of issue #7 for one wattscale row: more samples/s and fewer J/sample."""
    e = r.get("energy_vs_pytorch")
    both = r["speed_vs_pytorch"] > 1 and e is not None and e < 1
    return (f"{r['speed_vs_pytorch']:.2f} x the samples/s, {fmt(e, '.2f')} x the J/sample: "
            f"{'faster and less energy' if both else 'not both faster and less energy'}")


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "n/a"


def main():
    d = sys.argv[1]
    rows = ws_rows(d) + torch_rows(d)
    missing = {}
    for r in rows:
        if r["impl"] != "wattscale":
            continue
        same = [t for t in rows if t["impl"].startswith("pytorch") and t["lbs"] == r["lbs"]
                and t["precision"] in torch_modes_of(r["precision"])]
        missing[id(r)] = compare_with_best(r, same)
    json.dump({"schema": "wattscale.bench_afno_gpu/1", "rows": rows}, open(os.path.join(d, "summary.json"), "w"),
              indent=1)
    dev = next((r["device"] for r in rows if r.get("device")), "?")
    print(f"FourCastNet (AFNO, 720x1440x20, patch 8, embed 768, depth 12) training on {dev}; "
          "J/sample from the NVML energy counter (GPU only)\n")
    print("| impl | precision | LBS | status | steps | samples/s | J/sample | mean W | peak GiB | torch ref "
          "| speed vs torch | J/sample vs torch |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["precision"], r["lbs"], r["impl"])):
        print(f"| {r['impl']} | {r['precision']} | {r['lbs']} | {r['status']} | {fmt(r.get('steps'), 'd')} "
              f"| {fmt(r.get('samples_per_s'), '.3f')} | {fmt(r.get('j_per_sample'), '.1f')} "
              f"| {fmt(r.get('mean_power_w'), '.0f')} | {fmt(r.get('peak_mem_gib'), '.1f')} "
              f"| {r.get('torch_ref') or ''} "
              f"| {fmt(r.get('speed_vs_pytorch'), '.2f')} | {fmt(r.get('energy_vs_pytorch'), '.2f')} |")
    # the goal of issue #7: more samples/s and fewer J/sample than PyTorch's best
    for r in rows:
        if r["impl"] == "wattscale" and r.get("speed_vs_pytorch"):
            m = missing[id(r)]
            print(f"\nwattscale {r['precision']} LBS {r['lbs']} against PyTorch's best ({r['torch_ref']}): {verdict(r)}"
                  + (f" (PyTorch without a result here: {', '.join(m)})" if m else ""))
    if not any(r.get("samples_per_s") for r in rows):
        print("summarize_afno: no run has a throughput", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

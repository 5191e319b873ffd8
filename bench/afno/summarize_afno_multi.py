#!/usr/bin/env python3
"""bench/afno/summarize_afno_multi.py DIR - the table of bench/afno/bench_afno_multi_gpu.sh:
FourCastNet data-parallel on 1..N GPUs, wattscale (DIR/gN/ws-P-L/run.json, totals.steady) against
PyTorch DDP (DIR/gN/torch-*/torch_ddp_afno.json), one row per run, with the rows of
summarize_afno.py (imported) and per GPU count: GBS, samples/s of the world and per GPU, the
scaling efficiency (samples/s / (N x samples/s on 1 GPU), same implementation, mode and LBS),
and two energies per sample from the NVML energy counters:
  - "machine": every GPU of the machine. wattscale's meter counts all GPUs on the node (one
    meter per node), so this is its figure as recorded; PyTorch's rank 0 reads the same GPUs.
    Both measured; wattscale's ratio to PyTorch's best uses this one (like with like).
  - "used": the GPUs the run trained on. PyTorch's is measured. wattscale's equals its machine
    figure when it used every GPU; on 1 GPU of a larger machine it is an estimate, marked "~":
    the steady window's energy less each unused GPU's mean power over the run (idle) times the
    window; otherwise n/a.
PyTorch's best at a point (same GPU count, precision, LBS) is its mode with the most samples/s
(bf16: autocast eager or torch.compile'd), as in summarize_afno.py. Lines of DIR/skipped.txt
(points the script did not run or that failed, and why) are printed under the table. Writes DIR/summary.json;
markdown on stdout. Exits 1 when no run has a throughput."""
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize_afno import compare_with_best, fmt, torch_modes_of, torch_row, verdict, ws_row  # noqa: E402


SCRIPT_MODES = ("fp32", "bf16", "bf16-compile")  # PyTorch's modes bench_afno_multi_gpu.sh runs


def ws_multi_row(rec, f):
    r = ws_row(rec, f)
    st = rec.get("totals", {}).get("steady") or {}
    gpus = int(rec.get("world", {}).get("size", 1))
    devs = rec.get("energy", {}).get("devices", [])
    metered = [d for d in devs if d.get("kind") == "gpu"]
    other_kinds = sorted({d.get("kind") for d in devs if d.get("kind") != "gpu" and d.get("energy_j") is not None})
    r.update(gpus=gpus, gbs=rec["config"].get("global_batch"), machine_gpus=len(metered),
             j_per_sample_machine=r.pop("j_per_sample"), mean_power_w_machine=r.pop("mean_power_w"))
    if other_kinds:  # RAPL was there: the steady energy holds CPU/DRAM too, PyTorch's does not
        r["energy_also"] = other_kinds
    r["j_per_sample_used"], r["j_per_sample_used_est"] = None, False
    if r["j_per_sample_machine"] is not None and metered:
        if len(metered) == gpus:
            r["j_per_sample_used"] = r["j_per_sample_machine"]
        elif gpus == 1 and st.get("energy_j") and st.get("samples"):
            uuid = rec.get("device", {}).get("uuid")
            idle = [d.get("mean_power_w") for d in metered if d.get("id") != uuid]
            if uuid and len(idle) == len(metered) - 1 and all(p is not None for p in idle):
                r["j_per_sample_used"] = (st["energy_j"] - sum(idle) * st["time_s"]) / st["samples"]
                r["j_per_sample_used_est"] = True
    return r


def torch_multi_row(j, run, f):
    r = torch_row(j, run, f)
    r.update(gpus=int(run.get("gpus") or j.get("env", {}).get("world") or 1), gbs=run.get("gbs"),
             machine_gpus=run.get("machine_gpus") or len(j.get("env", {}).get("machine_gpu_uuids") or []) or None,
             j_per_sample_machine=run.get("machine_j_per_sample"), mean_power_w_machine=run.get("machine_mean_power_w"),
             j_per_sample_used=r.pop("j_per_sample"), j_per_sample_used_est=False)
    r.pop("mean_power_w")
    return r


def load(d):
    rows = []
    for g in sorted(glob.glob(os.path.join(d, "g*")), key=lambda p: int(re.sub(r"\D", "", os.path.basename(p)) or 0)):
        if not re.fullmatch(r"g\d+", os.path.basename(g)):
            continue
        for f in sorted(glob.glob(os.path.join(g, "ws-*", "run.json"))):
            rows.append(ws_multi_row(json.load(open(f)), f))
        for f in sorted(glob.glob(os.path.join(g, "torch-*", "torch_ddp_afno.json"))):
            j = json.load(open(f))
            rows += [torch_multi_row(j, run, f) for run in j.get("runs", [])]
    return rows


def network(rows):
    """The network's sizes, from a wattscale run record (the script gives both sides the same)."""
    for r in rows:
        if r["impl"] == "wattscale":
            c = json.load(open(r["file"]))["config"]
            return (f"{c['data'].split(':', 1)[-1]} fields, patch {c['patch']}, embed {c['embed']}, depth {c['depth']}, "
                    f"{c['afno_blocks']} blocks")
    return "sizes: see the runs"


def base_precision(r):
    return r["precision"].split("-")[0]


def series_key(r):
    return ("wattscale" if r["impl"] == "wattscale" else "pytorch", r["precision"], r["lbs"])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize_afno_multi.py DIR (the --out of bench_afno_multi_gpu.sh)")
    d = sys.argv[1]
    rows = load(d)
    for r in rows:
        r["samples_per_s_per_gpu"] = r["samples_per_s"] / r["gpus"] if r.get("samples_per_s") else None
    one_gpu = {series_key(r): r["samples_per_s"] for r in rows if r["gpus"] == 1 and r.get("samples_per_s")}
    for r in rows:
        base = one_gpu.get(series_key(r))
        r["scaling_efficiency"] = r["samples_per_s"] / (r["gpus"] * base) if base and r.get("samples_per_s") else None
    missing = {}
    for r in rows:
        if r["impl"] == "wattscale":
            same = [t for t in rows if t["impl"] != "wattscale" and t["gpus"] == r["gpus"] and t["lbs"] == r["lbs"]
                    and t["precision"] in torch_modes_of(r["precision"])]
            compare_with_best(r, same, energy_key="j_per_sample_machine")
            # PyTorch's modes of this point without a figure, and why (the script runs these)
            status = {t["precision"]: t["status"] for t in same if not t.get("samples_per_s")}
            status.update({m: "not run" + (" at this GPU count: --compile-gpus" if "compile" in m else "")
                           for m in torch_modes_of(r["precision"])
                           if m in SCRIPT_MODES and not any(t["precision"] == m for t in same)})
            missing[id(r)] = [f"{m} ({why})" for m, why in sorted(status.items())]
    machine = max((r["machine_gpus"] or 0 for r in rows), default=0)
    json.dump({"schema": "wattscale.bench_afno_multi_gpu/1", "machine_gpus": machine, "rows": rows},
              open(os.path.join(d, "summary.json"), "w"), indent=1)
    dev = next((r["device"] for r in rows if r.get("device")), "?")
    where = f"{machine} x {dev}" if machine else "a machine without NVML GPUs (a smoke test)"
    machine_gpus = f"{machine} GPUs" if machine else "machine"
    print(f"FourCastNet (AFNO, {network(rows)}) data-parallel training on {where}; wattscale (mpirun, one "
          "rank per GPU, NCCL) against PyTorch DDP (torchrun, NCCL); J/sample from the NVML energy counters "
          "(GPUs only)")
    for prec in sorted({base_precision(r) for r in rows}):
        print(f"\n### {prec}\n")
        print("| GPUs | LBS/GPU | GBS | impl | status | steps | samples/s | per GPU | scaling eff. "
              f"| J/sample ({machine_gpus}) | J/sample (GPUs used) | W ({machine_gpus}) | peak GiB | torch ref "
              "| speed vs torch | J/sample vs torch |")
        print("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
        for r in sorted((r for r in rows if base_precision(r) == prec),
                        key=lambda r: (r["gpus"], r["lbs"], r["impl"] != "wattscale", r["precision"])):
            impl = r["impl"] if r["impl"] == "wattscale" else f"{r['impl']} {r['precision']}"
            used = fmt(r.get("j_per_sample_used"), ".1f")
            if r.get("j_per_sample_used_est") and used != "n/a":
                used = "~" + used
            print(f"| {r['gpus']} | {r['lbs']} | {fmt(r.get('gbs'), 'd')} | {impl} | {r['status']} "
                  f"| {fmt(r.get('steps'), 'd')} | {fmt(r.get('samples_per_s'), '.3f')} "
                  f"| {fmt(r.get('samples_per_s_per_gpu'), '.3f')} | {fmt(r.get('scaling_efficiency'), '.3f')} "
                  f"| {fmt(r.get('j_per_sample_machine'), '.1f')} | {used} | {fmt(r.get('mean_power_w_machine'), '.0f')} "
                  f"| {fmt(r.get('peak_mem_gib'), '.1f')} | {r.get('torch_ref') or ''} "
                  f"| {fmt(r.get('speed_vs_pytorch'), '.2f')} | {fmt(r.get('energy_vs_pytorch'), '.2f')} |")
    for r in sorted((r for r in rows if r["impl"] == "wattscale"), key=lambda r: (r["precision"], r["gpus"], r["lbs"])):
        m = missing[id(r)]
        head = f"\nwattscale {r['precision']} LBS {r['lbs']} on {r['gpus']} GPU(s)"
        if r.get("speed_vs_pytorch"):
            print(f"{head} against PyTorch's best ({r['torch_ref']}): {verdict(r)}"
                  + (f" (PyTorch without a result here: {', '.join(m)})" if m else ""))
        elif not r.get("samples_per_s"):
            print(f"{head}: no result ({r['status']})")
        else:
            print(f"{head}: no PyTorch result to compare with" + (f" ({', '.join(m)})" if m else ""))
    also = sorted({k for r in rows for k in r.get("energy_also", [])})
    print("\nscaling eff. = samples/s / (GPUs x samples/s on 1 GPU), same implementation, mode and LBS. "
          f"J/sample ({machine_gpus}): every GPU of the machine, as wattscale's meter counts (PyTorch: rank 0 "
          "reads the same counters); the ratios to PyTorch use it. J/sample (GPUs used): PyTorch measured; "
          "wattscale's equals the machine figure when it used every GPU, \"~\" marks an estimate (the window's "
          "energy less the unused GPUs' mean power over the run times the window).")
    if also:
        print(f"wattscale's energy also includes {', '.join(also)} (RAPL) here; PyTorch's is GPUs only.")
    skipped = os.path.join(d, "skipped.txt")
    if os.path.exists(skipped):
        lines = [ln.strip() for ln in open(skipped) if ln.strip()]
        if lines:
            print("\nnot run or failed: " + "; ".join(lines))
    if not any(r.get("samples_per_s") for r in rows):
        print("summarize_afno_multi: no run has a throughput", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench/afno/summarize_afno_multi.py DIR - the table of bench/afno/bench_afno_multi_gpu.sh:
FourCastNet data-parallel on 1..N GPUs, wattscale (DIR/gN/ws-P-L/run.json, totals.steady) against
PyTorch DDP (DIR/gN/torch-*/torch_ddp_afno.json), one row per run, with the rows of
summarize_afno.py (imported) and per GPU count: GBS, samples/s of the world and per GPU, the
scaling efficiency (samples/s / (N x samples/s on 1 GPU), same implementation, mode and LBS),
and energies per sample from the NVML energy counters:
  - "GPUs used": the GPUs the run trained on. wattscale's meter reads exactly those with
    --meter-gpus used (its default; energy.gpu_metering in the run record says which mode
    and which UUIDs), PyTorch's ranks read their own GPU. Both measured; wattscale's ratio to
    PyTorch's best uses this one (like with like). A wattscale record metered with
    --meter-gpus all (or older than the flag: every GPU of the node) counts as "GPUs used"
    only when it used every GPU of the machine; otherwise n/a (no estimate).
  - "machine": every GPU of the machine, idle ones included. Shown only where both sides
    have it measured: PyTorch's rank 0 always reads it; wattscale only with --meter-gpus all
    (or when it used every GPU).
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
    gpus = int(rec.get("world", {}).get("size", 1))
    energy = rec.get("energy", {})
    devs = energy.get("devices", [])
    metered = [d for d in devs if d.get("kind") == "gpu"]
    gm = energy.get("gpu_metering") or {}
    mode = gm.get("mode", "all")  # records older than --meter-gpus metered every GPU of the node
    machine = len(metered) + len(gm.get("left_out", []))  # the node's GPUs NVML listed
    other_kinds = sorted({d.get("kind") for d in devs if d.get("kind") != "gpu" and d.get("energy_j") is not None})
    j, w = r.pop("j_per_sample"), r.pop("mean_power_w")
    every = metered and len(metered) == machine  # the meter read every GPU of the machine
    r.update(gpus=gpus, gbs=rec["config"].get("global_batch"), machine_gpus=machine or None, meter_gpus=mode,
             metered_gpus=len(metered), j_per_sample_machine=j if every else None,
             mean_power_w_machine=w if every else None, j_per_sample_used=None, mean_power_w_used=None)
    if other_kinds:  # RAPL was there: the steady energy holds CPU/DRAM too, PyTorch's does not
        r["energy_also"] = other_kinds
    if metered and (mode == "used" or len(metered) == gpus):
        r["j_per_sample_used"], r["mean_power_w_used"] = j, w
    return r


def torch_multi_row(j, run, f):
    r = torch_row(j, run, f)
    r.update(gpus=int(run.get("gpus") or j.get("env", {}).get("world") or 1), gbs=run.get("gbs"),
             machine_gpus=run.get("machine_gpus") or len(j.get("env", {}).get("machine_gpu_uuids") or []) or None,
             j_per_sample_machine=run.get("machine_j_per_sample"), mean_power_w_machine=run.get("machine_mean_power_w"),
             j_per_sample_used=r.pop("j_per_sample"), mean_power_w_used=r.pop("mean_power_w"))
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
            compare_with_best(r, same, energy_key="j_per_sample_used")
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
    # the all-GPU figure only where both sides measured it
    show_machine = any(r["impl"] == "wattscale" and r.get("j_per_sample_machine") is not None for r in rows) and \
        any(r["impl"] != "wattscale" and r.get("j_per_sample_machine") is not None for r in rows)
    modes = sorted({r["meter_gpus"] for r in rows if r["impl"] == "wattscale"})
    print(f"FourCastNet (AFNO, {network(rows)}) data-parallel training on {where}; wattscale (mpirun, one "
          "rank per GPU, NCCL) against PyTorch DDP (torchrun, NCCL); J/sample from the NVML energy counters "
          "(GPUs only)")
    for prec in sorted({base_precision(r) for r in rows}):
        print(f"\n### {prec}\n")
        machine_head = f" J/sample ({machine_gpus}) | W ({machine_gpus}) |" if show_machine else ""
        print("| GPUs | LBS/GPU | GBS | impl | status | steps | samples/s | per GPU | scaling eff. "
              f"| J/sample (GPUs used) | W (GPUs used) |{machine_head} peak GiB | torch ref "
              "| speed vs torch | J/sample vs torch |")
        print("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if show_machine else "")
              + "---:|---|---:|---:|")
        for r in sorted((r for r in rows if base_precision(r) == prec),
                        key=lambda r: (r["gpus"], r["lbs"], r["impl"] != "wattscale", r["precision"])):
            impl = r["impl"] if r["impl"] == "wattscale" else f"{r['impl']} {r['precision']}"
            machine_cells = (f" {fmt(r.get('j_per_sample_machine'), '.1f')} | {fmt(r.get('mean_power_w_machine'), '.0f')} |"
                             if show_machine else "")
            print(f"| {r['gpus']} | {r['lbs']} | {fmt(r.get('gbs'), 'd')} | {impl} | {r['status']} "
                  f"| {fmt(r.get('steps'), 'd')} | {fmt(r.get('samples_per_s'), '.3f')} "
                  f"| {fmt(r.get('samples_per_s_per_gpu'), '.3f')} | {fmt(r.get('scaling_efficiency'), '.3f')} "
                  f"| {fmt(r.get('j_per_sample_used'), '.1f')} | {fmt(r.get('mean_power_w_used'), '.0f')} |"
                  f"{machine_cells} {fmt(r.get('peak_mem_gib'), '.1f')} | {r.get('torch_ref') or ''} "
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
          "J/sample (GPUs used): the energy of the GPUs the run trained on, measured on both sides (wattscale: "
          f"its meter with --meter-gpus {'/'.join(modes) or 'used'}, as its run records say; PyTorch: each rank "
          "its own GPU); the ratios to PyTorch use it. n/a: not measured (a wattscale record metered with "
          "--meter-gpus all on fewer GPUs than the machine has)."
          + (f" J/sample ({machine_gpus}): every GPU of the machine, idle ones included, where both sides "
             "measured it." if show_machine else ""))
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

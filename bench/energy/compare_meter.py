#!/usr/bin/env python3
"""bench/energy/compare_meter.py DIR NGPUS - compares, for one measured run in DIR,
wattscale's per-GPU energy (ws.json) with the NVML counter read independently by pynvml
before and after (before.json, after.json) and with nvidia-smi's power samples integrated
over the same window (smi.csv). Prints a Markdown table and writes compare.json."""
import csv
import json
import sys
from datetime import datetime

d, ngpu = sys.argv[1], int(sys.argv[2])
ws = json.load(open(f"{d}/ws.json"))
before = {r["uuid"]: r for r in json.load(open(f"{d}/before.json"))}
after = {r["uuid"]: r for r in json.load(open(f"{d}/after.json"))}

# nvidia-smi rows: index, uuid, timestamp, power.draw [W] (a ~1 s average on H100)
smi = {}
with open(f"{d}/smi.csv") as f:
    for row in csv.reader(f):
        try:
            idx, uuid, ts, pw = (x.strip() for x in row[:4])
            t = datetime.strptime(ts, "%Y/%m/%d %H:%M:%S.%f").timestamp()
            smi.setdefault(uuid, []).append((t, float(pw)))
        except (ValueError, IndexError):
            continue

def smi_energy(samples, t0, t1):
    e = 0.0
    pts = [(t, p) for t, p in samples if t0 <= t <= t1]
    for (ta, pa), (tb, pb) in zip(pts, pts[1:]):
        e += 0.5 * (pa + pb) * (tb - ta)
    return e, len(pts)

out = []
print("| GPU | wattscale J (source) | pynvml counter J | diff | wattscale power integral J | "
      "nvidia-smi integral J (samples) | diff vs counter |")
print("|---|---|---|---|---|---|---|")
for dev in ws["devices"]:
    if dev["kind"] != "gpu":
        continue
    uuid = dev["id"]
    if uuid not in before:
        continue
    ref = (after[uuid]["energy_mj"] - before[uuid]["energy_mj"]) / 1e3
    # the pynvml window brackets wattscale's by the program start-up and exit; nvidia-smi
    # is integrated over the middle of the run, scaled to wattscale's duration.
    samples = sorted(smi.get(uuid, []))
    e_smi, n_smi = (0.0, 0)
    if len(samples) > 2:
        t_end = samples[-1][0]
        t_beg = t_end - ws["duration_s"]
        e_smi, n_smi = smi_energy(samples, t_beg, t_end)
    row = {"uuid": uuid, "wattscale_j": dev["energy_j"], "source": dev["source"],
           "pynvml_counter_j": ref, "rel_diff_counter": dev["energy_j"] / ref - 1,
           "wattscale_integral_j": dev["integral_energy_j"], "nvidia_smi_j": e_smi,
           "nvidia_smi_samples": n_smi,
           "rel_diff_smi": (e_smi / ref - 1) if e_smi else None,
           "mean_power_w": dev["mean_power_w"], "uncertainty_j": dev["uncertainty_j"]}
    out.append(row)
    smi_txt = f"{e_smi:.0f} ({n_smi})" if e_smi else "n/a"
    smi_diff = f"{100*row['rel_diff_smi']:+.2f}%" if e_smi else "n/a"
    print(f"| {uuid[:12]} | {dev['energy_j']:.0f} ({dev['source']}) | {ref:.0f} | "
          f"{100*row['rel_diff_counter']:+.2f}% | {dev['integral_energy_j']:.0f} | {smi_txt} | {smi_diff} |")
gap = (list(after.values())[0]["time_s"] - list(before.values())[0]["time_s"]) - ws["duration_s"]
print(f"\npynvml's window is {gap:.2f} s longer than wattscale's {ws['duration_s']:.2f} s "
      f"(process start-up and exit, the GPU near idle): its figure includes that energy.")
json.dump({"ngpu": ngpu, "duration_s": ws["duration_s"], "pynvml_window_extra_s": gap, "gpus": out,
           "meter_cpu_fraction": ws["meter"]["sampler_cpu_fraction_of_core"]},
          open(f"{d}/compare.json", "w"), indent=1)

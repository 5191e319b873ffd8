#!/usr/bin/env python3
"""bench/afno/torch_outcome.py JSON MODES LBS RC LIMIT [--required MODES] [--schema S] [--gpus N] [--why TEXT]
- what one PyTorch process of bench/afno/bench_afno_gpu.sh or bench_afno_multi_gpu.sh left:
its result file JSON (bench_torch_afno.json or torch_ddp_afno.json; made if the process left
none), the modes it was asked for (comma-separated), the local batch, its exit status RC and the
limit in seconds it ran under. Every mode without a row for LBS is added as skipped with the
reason (a timeout, or the exit status; "(torch.compile warm-up)" for compiled modes), so the
summary says why it has no figure (--why TEXT: that reason instead, for a process the script
did not start). Exits 1 when a --required mode (default: the first of MODES;
"" for none) has neither a throughput nor an out-of-memory mark, 0 otherwise."""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json")
    ap.add_argument("modes")
    ap.add_argument("lbs", type=int)
    ap.add_argument("rc", type=int)
    ap.add_argument("limit")
    ap.add_argument("--required", default=None)
    ap.add_argument("--schema", default="wattscale.bench_torch_afno/1")
    ap.add_argument("--gpus", type=int, default=None, help="world size, written into the rows added")
    ap.add_argument("--why", default=None, help="the reason written into the rows added")
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    required = modes[:1] if a.required is None else [m for m in a.required.split(",") if m]
    j = json.load(open(a.json)) if os.path.exists(a.json) else {"schema": a.schema, "env": {}, "runs": []}
    have = {r["mode"] for r in j["runs"] if r.get("lbs") == a.lbs}
    why = (f"timed out: the process hit its {a.limit} s limit" if a.rc in (124, 137)
           else f"the process exited {a.rc}")
    for m in modes:
        if m not in have:
            row = {"mode": m, "lbs": a.lbs,
                   "skipped": a.why or why + (" (torch.compile warm-up)" if "compile" in m else "")}
            if a.gpus is not None:
                row["gpus"] = a.gpus
            j["runs"].append(row)
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(j, f, indent=1)
    for m in required:
        rs = [r for r in j["runs"] if r["mode"] == m and r.get("lbs") == a.lbs]
        if not (rs and ("samples_per_s" in rs[0] or rs[0].get("oom"))):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""bench/afno/bench_torch_afno.py - PyTorch's FourCastNet (AFNO) training step on one GPU: samples/s
and J/sample, the reference beside wattscale's CUDA AFNO.

    python3 bench/afno/bench_torch_afno.py            # full FourCastNet size, ~3 minutes
    python3 bench/afno/bench_torch_afno.py --small    # a small network: a quick smoke test
Options: --lbs 1,2,3,4  --modes fp32,bf16,bf16-compile  --seconds S (timed window per run, 4)
         --warmup N (3)  --budget S (170: runs that would start later are skipped)  --out DIR
         --device cuda|cpu  --profile (then 3 steps under torch.profiler per run, kernel table
         in OUT/profile_MODE_lbsN.txt)
Writes OUT/bench_torch_afno.json and OUT/bench_torch_afno.log; OUT is --out, else $OUT, else
out/bench_afno.

The network is tools/fixtures/afnonet_torch.py (FourCastNet's networks/afnonet.py: 720 x 1440,
20 channels in and out, patch 8, embed 768, depth 12, 8 frequency blocks, sparsity 0.01;
74,691,840 parameters, checked). One training step as FourCastNet's train.py: zero_grad,
forward (the spectral filter casts to float32 itself, as FourCastNet's AFNO2D), the relative L2
loss in float32, backward, Adam (fused where available, lr 5e-4). Data are random N(0, 1)
fields already on the GPU, so the figures are compute only (no loader).
Modes: fp32 with TF32 off (torch.backends.cuda.matmul.allow_tf32 = False, cudnn.allow_tf32 =
False, matmul precision "highest"); bf16 under torch.autocast eager; bf16-compile the same
through torch.compile (skipped, with the reason, if it fails). A local batch that does not fit
is recorded as "oom".
Energy: NVML's total-energy counter (pynvml, mJ) read around each timed window, after
torch.cuda.synchronize(); the counter advanced 10 times a second on the H100s of docs/results.md,
so each window carries +-2 x 0.1 s x mean power (written as uncertainty_j). Idle power is read
over 2 s before the first run. Matrix-product flops per sample (an estimate: FFTs and
element-wise work left out; training = 3 x forward) give achieved TFLOP/s.
bench/afno/torch_ddp_afno.py (the same on N GPUs with DDP) imports the network, the step and
the settings from here (build_net, make_step, exact_fp32, base_env)."""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "fixtures"))
from afnonet_torch import AFNONet, FULL_CONFIG, FULL_PARAMS, init_fourcastnet, param_count, rel_l2  # noqa: E402

MODES = ("fp32", "bf16", "bf16-compile", "fp32-compile")
SMALL_CONFIG = dict(img_h=64, img_w=128, patch=8, in_c=4, out_c=4, embed=64, depth=2, num_blocks=4)
COUNTER_PERIOD_S = 0.1


def matmul_flops_per_sample(c):
    """Forward matrix-product flops of one sample (the same count as src/models/afno.c)."""
    gh, gw = c["img_h"] // c["patch"], c["img_w"] // c["patch"]
    L, E, hid = gh * gw, c["embed"], 4 * c["embed"]
    kept = (gh // 2 + 1)  # hard_thresholding_fraction 1
    K = min(gh, 2 * kept) * min(kept, gw // 2 + 1)
    bsf = E // c["num_blocks"]
    pin, pout = c["in_c"] * c["patch"] ** 2, c["out_c"] * c["patch"] ** 2
    return 2 * L * pin * E + c["depth"] * (4 * L * E * hid + 16 * K * E * bsf) + 2 * L * E * pout


def torch_gpu_uuid(index):
    """NVML's name of CUDA device `index` ("GPU-<uuid>"), or None where torch does not give it.
    CUDA_VISIBLE_DEVICES renumbers CUDA's devices but not NVML's, so GPUs are matched by UUID."""
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return None if uuid is None else "GPU-" + str(uuid)


def nvml_handle_by_uuid(pynvml, uuid):
    """The NVML handle of the GPU named `uuid` ("GPU-..."), or None."""
    for key in (uuid, uuid.encode()):
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(key)
        except Exception:  # noqa: BLE001 - pynvml versions differ in str/bytes
            continue
    return None


class Energy:
    """NVML total-energy counter of the GPU torch runs on (by UUID), or a reason why not."""

    def __init__(self, device):
        self.handle, self.reason = None, None
        if device != "cuda":
            self.reason = "not a GPU run"
            return
        try:
            import pynvml
            pynvml.nvmlInit()
            self.nvml = pynvml
            uuid = torch_gpu_uuid(0)
            if uuid is not None:
                self.handle = nvml_handle_by_uuid(pynvml, uuid)
            if self.handle is None:
                self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)
                self.reason = "GPU matched by index 0, not by UUID"
            self.read_mj()
        except Exception as e:  # noqa: BLE001 - no pynvml, no driver, no counter
            self.handle, self.reason = None, f"NVML energy counter unavailable: {e}"

    def read_mj(self):
        return None if self.handle is None else self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def make_step(model, params, cfg, mode, lbs, device):
    """FourCastNet's training step for `mode` on one random batch of `lbs` samples: zero_grad,
    forward (under bf16 autocast for the bf16 modes), rel-L2 in float32, backward, Adam lr 5e-4
    (fused where available) over `params`. `model` is what is called: the network, or it
    compiled or wrapped in DistributedDataParallel (bench/afno/torch_ddp_afno.py)."""
    bf16 = mode.startswith("bf16")
    opt_kw = {"fused": True} if device == "cuda" else {}
    params = list(params)
    try:
        opt = torch.optim.Adam(params, lr=5e-4, **opt_kw)
    except (TypeError, RuntimeError):
        opt = torch.optim.Adam(params, lr=5e-4)
    x = torch.randn((lbs, cfg["in_c"], cfg["img_h"], cfg["img_w"]), device=device)
    y = torch.randn((lbs, cfg["out_c"], cfg["img_h"], cfg["img_w"]), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = rel_l2(out.float(), y)
        loss.backward()
        opt.step()
        return loss

    return step


def warm_up(step, device, warmup, row):
    """The first step, timed into row["first_step_s"] (with compilation for -compile), then
    warmup - 1 more; the peak-memory count starts here. Returns the mean time of those others
    (None without any)."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    step()
    sync(device)
    row["first_step_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(warmup - 1):
        step()
    sync(device)
    return (time.perf_counter() - t) / (warmup - 1) if warmup > 1 else None


def one_run(net, cfg, mode, lbs, args, energy, log):
    device = args.device
    row = {"mode": mode, "lbs": lbs}
    model = net
    if mode.endswith("-compile"):
        model = torch.compile(net)
    step = make_step(model, net.parameters(), cfg, mode, lbs, device)
    warm_up(step, device, args.warmup, row)
    e0, t0 = energy.read_mj(), time.perf_counter()
    steps = 0
    while True:
        loss = step()
        sync(device)
        steps += 1
        if steps >= 3 and time.perf_counter() - t0 >= args.seconds:
            break
    t1, e1 = time.perf_counter(), energy.read_mj()
    dt, samples = t1 - t0, steps * lbs
    row.update(steps=steps, samples=samples, time_s=dt, samples_per_s=samples / dt, step_s=dt / steps,
               loss=float(loss))
    row["tflops_matmul_est"] = 3 * matmul_flops_per_sample(cfg) * samples / dt / 1e12
    if e0 is not None and e1 is not None:
        ej = (e1 - e0) / 1000.0
        row.update(energy_j=ej, j_per_sample=ej / samples, mean_power_w=ej / dt,
                   uncertainty_j=2 * COUNTER_PERIOD_S * ej / dt, energy_source="nvml counter")
    if device == "cuda":
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    if args.profile and device == "cuda":  # after the timed window, so it does not disturb it
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                step()
            sync(device)
        table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=60, max_name_column_width=90)
        with open(Path(args.out) / f"profile_{mode}_lbs{lbs}.txt", "w") as f:
            f.write(f"torch.profiler, 3 steps of {mode} at LBS {lbs} (kernel times, sorted by total)\n{table}\n")
    log(f"{mode:>13} lbs {lbs}: {row['samples_per_s']:8.3f} samples/s  {row['step_s']:.4f} s/step  "
        + (f"{row['j_per_sample']:8.2f} J/sample  {row['mean_power_w']:6.1f} W  " if "j_per_sample" in row else "")
        + f"~{row['tflops_matmul_est']:.1f} TFLOP/s (est.)  first step {row['first_step_s']:.1f} s"
        + (f"  peak {row['peak_mem_gib']:.1f} GiB" if "peak_mem_gib" in row else ""))
    return row


def exact_fp32():
    """fp32 as the study's: no TF32 in matrix products or convolutions."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


def build_net(cfg, device, check_full, prog):
    """FourCastNet's AFNONet of `cfg` on `device`, seeded and initialised as FourCastNet does;
    with check_full, exits unless it has FourCastNet's parameter count. Returns (net, params)."""
    torch.manual_seed(0)
    with torch.device(device):
        net = AFNONet(**cfg)
    init_fourcastnet(net)
    n_params = param_count(net)
    if check_full and n_params != FULL_PARAMS:
        sys.exit(f"{prog}: the network has {n_params} parameters, FourCastNet's has {FULL_PARAMS}")
    return net, n_params


def base_env(device, cfg, n_params, gpu_index=0):
    """What every result file records about the software, the network and the GPU."""
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": device,
           "config": cfg, "params": n_params, "flop_per_sample_matmul_train_est": 3 * matmul_flops_per_sample(cfg),
           "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "tf32": False}
    if device == "cuda":
        p = torch.cuda.get_device_properties(gpu_index)
        env.update(gpu=p.name, gpu_mem_gib=p.total_memory / 2 ** 30, cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def check_modes(modes, prog):
    for mode in modes:
        if mode not in MODES:
            sys.exit(f"{prog}: unknown mode {mode} ({', '.join(MODES)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lbs", default="1,2,3,4")
    ap.add_argument("--modes", default="fp32,bf16,bf16-compile")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--budget", type=float, default=170.0)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="after each timed run, 3 steps under torch.profiler: OUT/profile_MODE_lbsN.txt")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=os.environ.get("OUT") or "out/bench_afno")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    check_modes(modes, "bench_torch_afno")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logf = open(out / "bench_torch_afno.log", "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    start = time.perf_counter()
    exact_fp32()
    cfg = SMALL_CONFIG if args.small else FULL_CONFIG
    net, n_params = build_net(cfg, args.device, not args.small, "bench_torch_afno")
    env = base_env(args.device, cfg, n_params)
    energy = Energy(args.device)
    env["energy"] = "nvml total-energy counter" if energy.handle is not None else None
    env["energy_note"] = energy.reason
    if energy.handle is not None:
        e0, t0 = energy.read_mj(), time.perf_counter()
        time.sleep(2.0)
        env["idle_power_w"] = (energy.read_mj() - e0) / 1000.0 / (time.perf_counter() - t0)
    log(f"bench_torch_afno: {env.get('gpu', args.device)}, torch {env['torch']}, {n_params:,} parameters, "
        f"config {cfg}; TF32 off; energy: {env['energy'] or energy.reason}"
        + (f"; idle {env['idle_power_w']:.1f} W" if "idle_power_w" in env else ""))
    rows = []

    def save():  # after every run, so a run killed by an outer timeout keeps what finished
        env["wall_s"] = time.perf_counter() - start
        with open(out / "bench_torch_afno.json", "w") as f:
            json.dump({"schema": "wattscale.bench_torch_afno/1", "env": env, "runs": rows}, f, indent=1)

    lbs_list = [int(v) for v in args.lbs.split(",") if v]
    compile_broken = None
    for mode in modes:
        for lbs in lbs_list:
            left = args.budget - (time.perf_counter() - start)
            need = seconds_needed(rows, mode, args.seconds)
            if left < need:
                rows.append({"mode": mode, "lbs": lbs, "skipped": f"time budget ({left:.0f} s left of {args.budget:.0f})"})
                log(f"{mode:>13} lbs {lbs}: skipped (time budget)")
                continue
            if mode.endswith("-compile") and compile_broken:
                rows.append({"mode": mode, "lbs": lbs, "skipped": compile_broken})
                continue
            try:
                rows.append(one_run(net, cfg, mode, lbs, args, energy, log))
            except torch.cuda.OutOfMemoryError:
                rows.append({"mode": mode, "lbs": lbs, "oom": True})
                log(f"{mode:>13} lbs {lbs}: out of memory")
            except Exception as e:  # noqa: BLE001 - torch.compile failures are data here
                if not mode.endswith("-compile"):
                    raise
                compile_broken = f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}"
                rows.append({"mode": mode, "lbs": lbs, "skipped": compile_broken})
                log(f"{mode:>13} lbs {lbs}: {compile_broken}")
            net.zero_grad(set_to_none=True)
            if args.device == "cuda":
                torch.cuda.empty_cache()
            save()
    save()
    log(f"bench_torch_afno: {len([r for r in rows if 'samples_per_s' in r])} runs in {env['wall_s']:.0f} s; "
        f"{out / 'bench_torch_afno.json'}")
    if not any("samples_per_s" in r for r in rows):
        sys.exit("bench_torch_afno: no run completed")


def rows_with(rows, mode):
    return any(r.get("mode") == mode and "samples_per_s" in r for r in rows)


def seconds_needed(rows, mode, seconds):
    """What a run needs of the time budget: its timed window and 10 s, and 60 s more for the
    first torch.compile of a mode (its warm-up)."""
    return seconds + 10 + (60 if mode.endswith("-compile") and not rows_with(rows, mode) else 0)


if __name__ == "__main__":
    main()

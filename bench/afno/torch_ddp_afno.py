#!/usr/bin/env python3
"""bench/afno/torch_ddp_afno.py - PyTorch's FourCastNet (AFNO) training step on N GPUs with
DistributedDataParallel: the PyTorch side of bench/afno/bench_afno_multi_gpu.sh.

    NCCL_NVLS_ENABLE=0 torchrun --standalone --nproc_per_node 2 bench/afno/torch_ddp_afno.py \\
        --modes bf16,bf16-compile --lbs 1,2 --out DIR
Options: --lbs 1,2 (local batch per GPU)  --modes fp32,bf16,bf16-compile  --seconds S (timed
         window per run, 4)  --warmup N (3)  --budget S (170: runs that would start later are
         skipped, as in bench_torch_afno.py)  --idle-seconds S (2)  --small  --device cuda|cpu
         --out DIR (else $OUT, else out/bench_afno_ddp)
Writes OUT/torch_ddp_afno.json (schema wattscale.bench_torch_ddp_afno/1: env and runs, the
rows of bench_torch_afno.json plus the world's figures) and OUT/torch_ddp_afno.log (rank 0).

One process per GPU (torchrun), NCCL backend (gloo with --device cpu, a smoke test), one node.
The network, the step and the modes are bench_torch_afno.py's (imported: build_net, make_step,
exact_fp32): tools/fixtures/afnonet_torch.py at FourCastNet's size, rel-L2 in float32, Adam
lr 5e-4 fused; fp32 with TF32 off, bf16 autocast eager, bf16-compile = torch.compile of the
DDP module (the documented order, so that DDPOptimizer splits the graph at the buckets and the
all-reduce overlaps backward). DDP as in bench/dist/torch_ddp_resnet50.py: its default 25 MB
buckets (wattscale's --bucket-mb default), parameters broadcast from rank 0. FourCastNet's
final LayerNorm is defined but never applied: DDP would fail on its missing gradients unless
find_unused_parameters=True (which FourCastNet's train.py sets, at the cost of a walk over the
autograd graph every step), so its two parameters are frozen instead; Adam skips parameters
without gradients anyway, so the training is the same. Each rank draws its own random batch.

Timed window: every rank synchronizes its GPU and meets the others at a barrier, then rank 0
reads the clock and the NVML total-energy counters; a step count fixed before the window (rank
0's, from the warm-up's step time, so that all ranks take the same number of steps, as DDP
needs); then synchronize, barrier, and rank 0 reads again. Energy (rank 0 reads every GPU of
the machine, so one node only): "energy_j" is the sum over the GPUs used (found by UUID), and
"machine_energy_j" over all GPUs NVML lists, which is what wattscale's meter counts (one meter
per node, every GPU on it); the two differ when fewer GPUs are used than the machine has.
samples_per_s is the world's (all ranks), samples_per_s_per_gpu its share per GPU."""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_torch_afno import (COUNTER_PERIOD_S, FULL_CONFIG, SMALL_CONFIG, base_env, build_net,  # noqa: E402
                              check_modes, exact_fp32, make_step, matmul_flops_per_sample,
                              seconds_needed, sync, torch_gpu_uuid, warm_up)

PROG = "torch_ddp_afno"


class MachineEnergy:
    """Rank 0's view of the NVML total-energy counters: every GPU of the machine, and which of
    them the ranks use (by UUID). On other ranks, and without NVML, it reads nothing."""

    def __init__(self, rank, used_uuids, device):
        self.handles, self.used, self.reason = {}, [], None
        if device != "cuda":
            self.reason = "not a GPU run"
            return
        if rank != 0:
            return
        try:
            import pynvml
            pynvml.nvmlInit()
            self.nvml = pynvml
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                u = pynvml.nvmlDeviceGetUUID(h)
                self.handles[u.decode() if isinstance(u, bytes) else u] = h
            unknown = [u for u in used_uuids if u is None or u not in self.handles]
            if unknown:
                self.reason = f"GPUs used not found by UUID in NVML ({unknown}): energy of the GPUs used unknown"
            else:
                self.used = list(used_uuids)
            self.read_mj()
        except Exception as e:  # noqa: BLE001 - no pynvml, no driver, no counter
            self.handles, self.used, self.reason = {}, [], f"NVML energy counters unavailable: {e}"

    def read_mj(self):
        """{uuid: mJ} of every GPU of the machine, or None."""
        if not self.handles:
            return None
        return {u: self.nvml.nvmlDeviceGetTotalEnergyConsumption(h) for u, h in self.handles.items()}


def meet(device):
    """All ranks' work done and all ranks here: the edge of a timed window."""
    sync(device)
    dist.barrier()
    sync(device)


def from_rank0(value, device):
    """Rank 0's float, on every rank (decisions all ranks must share: step counts, skips)."""
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.broadcast(t, 0)
    return float(t.item())


def reduced(value, op, device):
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=op)
    return float(t.item())


def one_run(ddp, net, cfg, mode, lbs, args, world, energy, log):
    device = args.device
    row = {"mode": mode, "lbs": lbs, "gpus": world, "gbs": lbs * world}
    model = torch.compile(ddp) if mode.endswith("-compile") else ddp
    step = make_step(model, net.parameters(), cfg, mode, lbs, device)
    # the window's steps from rank 0's warm-up (the first step left out: compilation, plans)
    step_est_s = warm_up(step, device, args.warmup, row) or row["first_step_s"]
    steps = int(from_rank0(max(3, math.ceil(args.seconds / max(step_est_s, 1e-6))), device))
    meet(device)
    e0, t0 = energy.read_mj(), time.perf_counter()
    for _ in range(steps):
        loss = step()
    meet(device)
    t1, e1 = time.perf_counter(), energy.read_mj()
    loss_mean = reduced(float(loss), dist.ReduceOp.SUM, device) / world
    peak = reduced(torch.cuda.max_memory_allocated() if device == "cuda" else 0, dist.ReduceOp.MAX, device)
    dt, samples = t1 - t0, steps * lbs * world
    row.update(steps=steps, samples=samples, time_s=dt, samples_per_s=samples / dt,
               samples_per_s_per_gpu=samples / dt / world, step_s=dt / steps, loss=loss_mean)
    row["tflops_matmul_est"] = 3 * matmul_flops_per_sample(cfg) * samples / dt / 1e12
    if e0 is not None and e1 is not None:
        by_gpu = {u: (e1[u] - e0[u]) / 1000.0 for u in e0}
        row["energy_by_gpu_j"] = by_gpu
        mj = sum(by_gpu.values())
        row.update(machine_energy_j=mj, machine_j_per_sample=mj / samples, machine_mean_power_w=mj / dt,
                   machine_gpus=len(by_gpu))
        if energy.used:
            ej = sum(by_gpu[u] for u in energy.used)
            # each counter moves in 0.1 s steps: +-2 periods of each used GPU's mean power
            row.update(energy_j=ej, j_per_sample=ej / samples, mean_power_w=ej / dt,
                       uncertainty_j=2 * COUNTER_PERIOD_S * ej / dt,
                       energy_source=f"nvml counter, {len(energy.used)} GPU(s) used")
    if device == "cuda":
        row["peak_mem_gib"] = peak / 2 ** 30  # the largest of the ranks'
    jps = row.get("j_per_sample")
    log(f"{mode:>13} {world} GPU(s) lbs {lbs}: {row['samples_per_s']:8.3f} samples/s "
        f"({row['samples_per_s_per_gpu']:.3f}/GPU)  {row['step_s']:.4f} s/step  "
        + (f"{jps:8.2f} J/sample  {row['mean_power_w']:6.1f} W (GPUs used)  " if jps is not None else "")
        + (f"{row['machine_j_per_sample']:8.2f} J/sample ({row['machine_gpus']} GPUs of the machine)  "
           if "machine_j_per_sample" in row else "")
        + f"first step {row['first_step_s']:.1f} s" + (f"  peak {row['peak_mem_gib']:.1f} GiB" if "peak_mem_gib" in row
                                                        else ""))
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lbs", default="1,2")
    ap.add_argument("--modes", default="fp32,bf16,bf16-compile")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--budget", type=float, default=170.0)
    ap.add_argument("--idle-seconds", type=float, default=2.0)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=os.environ.get("OUT") or "out/bench_afno_ddp")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    check_modes(modes, PROG)
    lbs_list = [int(v) for v in args.lbs.split(",") if v]
    if "LOCAL_RANK" not in os.environ:
        sys.exit(f"{PROG}: start it with torchrun (torchrun --standalone --nproc_per_node N {sys.argv[0]} ...)")
    if os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE")) != os.environ.get("WORLD_SIZE"):
        sys.exit(f"{PROG}: one node only (rank 0 reads every GPU's energy counter on its machine)")
    start = time.perf_counter()
    local_rank = int(os.environ["LOCAL_RANK"])
    if args.device == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    world, rank = dist.get_world_size(), dist.get_rank()
    out = Path(args.out)
    logf = None
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        logf = open(out / "torch_ddp_afno.log", "w")

    def log(msg):
        if rank == 0:
            print(msg, flush=True)
            logf.write(msg + "\n")
            logf.flush()

    exact_fp32()
    cfg = SMALL_CONFIG if args.small else FULL_CONFIG
    net, n_params = build_net(cfg, args.device, not args.small, PROG)
    net.norm.requires_grad_(False)  # never applied (FourCastNet's too): see the comment on top
    dev = torch.device("cuda", local_rank) if args.device == "cuda" else torch.device("cpu")
    ddp = DDP(net, device_ids=[local_rank] if args.device == "cuda" else None)
    torch.manual_seed(1 + rank)  # each rank its own batches, as a sharded dataset would give
    env = base_env(args.device, cfg, n_params, local_rank if args.device == "cuda" else 0)
    uuids = [None] * world
    dist.all_gather_object(uuids, torch_gpu_uuid(local_rank) if args.device == "cuda" else None)
    env.update(world=world, backend=dist.get_backend(), gpu_uuids=uuids, ddp_bucket_cap_mb=25,
               find_unused_parameters=False, unused_final_norm_frozen=True,
               NCCL_NVLS_ENABLE=os.environ.get("NCCL_NVLS_ENABLE"))
    if args.device == "cuda":
        v = torch.cuda.nccl.version()  # a tuple (2, 21, 5); an int in old releases
        env["nccl"] = ".".join(str(x) for x in v) if isinstance(v, tuple) else str(v)
    energy = MachineEnergy(rank, uuids, args.device)
    if rank == 0:
        env["energy"] = "nvml total-energy counters" if energy.handles else None
        env["energy_note"] = energy.reason
        env["machine_gpu_uuids"] = list(energy.handles)
    if args.idle_seconds > 0:
        # every rank sleeps on the CPU meanwhile: a rank waiting in a barrier would keep an
        # NCCL kernel spinning on its GPU
        meet(args.device)
        e0, t0 = energy.read_mj(), time.perf_counter()
        time.sleep(args.idle_seconds)
        e1, dt = energy.read_mj(), time.perf_counter() - t0
        if e0 is not None and e1 is not None:
            env["idle_power_w_by_gpu"] = {u: (e1[u] - e0[u]) / 1000.0 / dt for u in e0}
        meet(args.device)
    log(f"{PROG}: {world} x {env.get('gpu', args.device)}, torch {env['torch']}, {dist.get_backend()}, "
        f"{n_params:,} parameters, config {cfg}; TF32 off; energy: {env.get('energy') or energy.reason}"
        + (f" ({len(energy.handles)} GPUs on the machine, {len(energy.used)} used)" if energy.handles else "")
        + (f"; idle {sum(env['idle_power_w_by_gpu'].values()):.1f} W in all" if "idle_power_w_by_gpu" in env else ""))
    rows = []

    def save():  # after every run, so a run killed by an outer timeout keeps what finished
        if rank != 0:
            return
        env["wall_s"] = time.perf_counter() - start
        with open(out / "torch_ddp_afno.json", "w") as f:
            json.dump({"schema": "wattscale.bench_torch_ddp_afno/1", "env": env, "runs": rows}, f, indent=1)

    save()
    for mode in modes:
        for lbs in lbs_list:
            # rank 0's clock decides, so that no rank starts a run the others skip
            left = from_rank0(args.budget - (time.perf_counter() - start), dev)
            if left < seconds_needed(rows, mode, args.seconds):
                rows.append({"mode": mode, "lbs": lbs, "gpus": world,
                             "skipped": f"time budget ({left:.0f} s left of {args.budget:.0f})"})
                log(f"{mode:>13} {world} GPU(s) lbs {lbs}: skipped (time budget)")
                save()
                continue
            try:
                rows.append(one_run(ddp, net, cfg, mode, lbs, args, world, energy, log))
            except Exception as e:  # noqa: BLE001 - recorded, then fatal: the other ranks may wait in a collective
                why = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
                oom = isinstance(e, torch.cuda.OutOfMemoryError)
                rows.append({"mode": mode, "lbs": lbs, "gpus": world, "error": why,
                             **({"oom": True} if oom else {"skipped": "failed: " + why})})
                log(f"{mode:>13} {world} GPU(s) lbs {lbs}: {why}")
                save()
                raise  # torchrun ends the other ranks
            net.zero_grad(set_to_none=True)
            if args.device == "cuda":
                torch.cuda.empty_cache()
            save()
    save()
    log(f"{PROG}: {len([r for r in rows if 'samples_per_s' in r])} runs in {time.perf_counter() - start:.0f} s; "
        f"{out / 'torch_ddp_afno.json'}")
    dist.destroy_process_group()
    if rank == 0 and not any("samples_per_s" in r for r in rows):
        sys.exit(f"{PROG}: no run completed")


if __name__ == "__main__":
    main()

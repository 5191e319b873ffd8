#!/usr/bin/env python3
"""bench/energy/nvml_counter.py OUT.json [NGPUS] - reads every GPU's NVML total-energy
counter (mJ) once, through pynvml, independently of wattscale; written before and after a
measured run so the difference checks wattscale's figure."""
import json
import sys
import time

import pynvml

pynvml.nvmlInit()
n = pynvml.nvmlDeviceGetCount() if len(sys.argv) < 3 else int(sys.argv[2])
rows = []
for i in range(n):
    h = pynvml.nvmlDeviceGetHandleByIndex(i)
    uuid = pynvml.nvmlDeviceGetUUID(h)
    rows.append({"gpu": i, "uuid": uuid.decode() if isinstance(uuid, bytes) else uuid,
                 "energy_mj": pynvml.nvmlDeviceGetTotalEnergyConsumption(h),
                 "time_s": time.monotonic()})
pynvml.nvmlShutdown()
json.dump(rows, open(sys.argv[1], "w"), indent=1)

#!/usr/bin/env python3
"""tests/analysis/make_energy_runs.py DIR [--no-energy] - writes the run folders of a synthetic study with
energy, as a GPU machine's `wattscale study run` would leave them (run.json, the runner's
study.json, power.csv), so that the report's energy figures are drawn and checked on a
machine without sensors: two series (constant GBS 256, constant LBS 128) on 1, 2, 4 GPUs,
3 repetitions, energy = 0.4 kWh per GPU-hour (+ noise, seeded), accuracy falling at large
GBS. --no-energy: the same runs as a machine without sensors records them (energy null,
missing[] saying why, no power samples). Ingest them with `wattscale study ingest DIR --db DB`."""
import json, math, os, random, sys

out = sys.argv[1]
energy_on = '--no-energy' not in sys.argv[2:]
rnd = random.Random(5)
series = [('gbs256', 'constant_gbs', [(1, 256, 256), (2, 256, 128), (4, 256, 64)]),
          ('lbs128', 'constant_lbs', [(1, 128, 128), (2, 256, 128), (4, 512, 128)])]
runs = {}
for name, scaling, points in series:
    for p, (gpus, gbs, lbs) in enumerate(points):
        for rep in (1, 2, 3):
            key = f'g{gpus}-gbs{gbs}-lbs{lbs}-r{rep}'
            runs.setdefault(key, (gpus, gbs, lbs, rep, []))[4].append(
                {'series': name, 'scaling': scaling, 'growing': 0, 'point': p, 'repetition': rep})
for key, (gpus, gbs, lbs, rep, members) in runs.items():
    d = os.path.join(out, key)
    os.makedirs(d, exist_ok=True)
    samples, epochs = 51200.0, 4
    time_s = samples / (900.0 * gpus * (0.92 ** math.log2(gpus))) * rnd.uniform(0.97, 1.03)
    dh = time_s * gpus / 3600
    energy = 0.4 * dh * rnd.gauss(1, 0.01) * 3.6e6   # 1% noise
    top1 = {128: 0.760, 256: 0.758, 512: 0.700}[gbs] + rnd.gauss(0, 0.002)
    e_gpu, e_cpu = 0.85 * energy, 0.15 * energy
    devices = [{'kind': 'gpu', 'name': 'NVIDIA H200', 'id': f'GPU-{i}', 'source': 'counter',
                'energy_j': e_gpu / gpus, 'mean_power_w': e_gpu / gpus / time_s} for i in range(gpus)]
    devices.append({'kind': 'cpu', 'name': 'package-0', 'id': 'rapl:0', 'source': 'counter', 'energy_j': e_cpu,
                    'mean_power_w': e_cpu / time_s})
    dom = lambda f: {'gpu': e_gpu * f, 'cpu': e_cpu * f, 'dram': None}
    record = {
        'schema': 'wattscale.run/1', 'status': 'completed', 'written_at': '2026-12-01T00:00:00Z',
        'config': {'model': 'resnet50', 'data': 'synthetic', 'data_fraction': 1, 'global_batch': gbs,
                   'local_batch': lbs, 'accum': 1, 'epochs': epochs, 'steps': 0, 'optimizer': 'sgd', 'lr': 0.1,
                   'device': 'cuda', 'precision': 'bf16', 'seed': rep},
        'world': {'size': gpus, 'nodes': 1},
        'hardware': {'host': 'synth', 'cpu': 'Test CPU', 'gpus': [{'name': 'NVIDIA H200'}] * gpus},
        'energy': {'devices': devices, 'missing': [{'kind': 'dram', 'reason': 'synthetic: no DRAM sensor'}]},
        'epochs': [{'epoch': e + 1, 'samples': samples / epochs, 'time_s': time_s / epochs, 'energy_j': energy / epochs,
                    'val_loss': 1 - top1 * (e + 1) / epochs, 'val_top1': top1 * (e + 1) / epochs, 'val_top5': None,
                    'energy_by_domain_j': dom(1 / epochs), 'energy_source': 'counter'} for e in range(epochs)],
        'totals': {'time_s': time_s, 'device_kind': 'gpu', 'device_hours': dh, 'energy_j': energy,
                   'energy_by_domain_j': dom(1), 'energy_domains': 'partial', 'samples': samples,
                   'updates': samples / gbs, 'samples_per_device_hour': samples / dh,
                   'updates_per_device_hour': samples / gbs / dh, 'kwh_per_device_hour': energy / 3.6e6 / dh,
                   'j_per_sample': energy / samples, 'val_loss': 1 - top1, 'val_top1': top1, 'val_top5': None,
                   'resumed_times': 0}}
    if not energy_on:
        record['energy'] = {'devices': [], 'missing': [{'kind': k, 'reason': 'synthetic: no sensor'}
                                                       for k in ('gpu', 'cpu', 'dram')]}
        for e in record['epochs']:
            e['energy_j'], e['energy_by_domain_j'], e['energy_source'] = None, {'gpu': None, 'cpu': None, 'dram': None}, 'none'
        t = record['totals']
        t['energy_j'], t['kwh_per_device_hour'], t['j_per_sample'], t['energy_domains'] = None, None, None, 'none'
        t['energy_by_domain_j'] = {'gpu': None, 'cpu': None, 'dram': None}
    json.dump(record, open(os.path.join(d, 'run.json'), 'w'), indent=1)
    json.dump({'schema': 'wattscale.study-run/1', 'study': 'energy-synth', 'run_key': key, 'repetition': rep,
               'gpus': gpus, 'global_batch': gbs, 'local_batch': lbs, 'accum': 1, 'data_fraction': 1,
               'members': members}, open(os.path.join(d, 'study.json'), 'w'))
    with open(os.path.join(d, 'power.csv'), 'w') as f:
        f.write('time_s,device,kind,power_w,energy_j\n')
        steps = int(time_s / 0.1) if energy_on else 0
        for k in range(steps):
            t = k * 0.1
            for g in range(gpus):
                f.write(f'{t:.3f},GPU-{g},gpu,{e_gpu / gpus / time_s * (1 + 0.1 * math.sin(t)):.3f},0\n')

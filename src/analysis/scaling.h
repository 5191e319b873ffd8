/* analysis/scaling.h - per series and point, mean +- sd over repetitions, and scaling
 * relative to the series' smallest GPU count.
 * defines: ws_series_point, ws_scaling_table, ws_scaling_compute, ws_scaling_free,
 * ws_run_gpu_power_w, ws_run_socket_power_w. Implementation: analysis/scaling.c.
 *
 * Only runs that finished (completed, target_reached) count. With thr = samples per
 * device-hour of a run and the series' base point b (its smallest GPU count g_b):
 *   parallel efficiency = thr / mean(thr_b)             (the same work per device-hour)
 *   speedup             = efficiency x g / g_b          (T_b / T on a constant dataset; the
 *                                                        scaled speedup when it grows)
 *   energy efficiency   = mean(J per sample)_b / J per sample
 * each computed per repetition against the base's mean, then summarised. Energy figures are
 * NAN (n = 0) where the runs had no sensor. */
#ifndef WS_ANALYSIS_SCALING_H
#define WS_ANALYSIS_SCALING_H

#include "analysis/runset.h"
#include "analysis/stats.h"
#include "wattscale/status.h"

typedef struct {
    char series[64], scaling[16];
    int series_index; /* 0, 1, ...: the series' order in the study */
    int growing, point;
    int gpus, global_batch, local_batch, accum;
    double data_fraction;
    char device_kind[16]; /* gpu | cpu_process */
    size_t n_runs;        /* finished repetitions */
    ws_summary time_s, device_hours;
    ws_summary energy_kwh, gpu_kwh, cpu_kwh, dram_kwh, sacct_kwh;
    ws_summary metric; /* the study's metric (val_top1 ...) */
    ws_summary speedup, parallel_efficiency, energy_efficiency;
    ws_summary gpu_power_w, socket_power_w; /* mean power per metered GPU / CPU package */
    ws_summary samples_per_device_hour, updates_per_device_hour, kwh_per_device_hour;
} ws_series_point;

typedef struct {
    ws_series_point *points; /* series in plan order, points by GPU count */
    size_t n_points;
} ws_scaling_table;

ws_status ws_scaling_compute(const ws_runset *rs, ws_scaling_table *out, ws_error *err);
void ws_scaling_free(ws_scaling_table *t);

double ws_run_gpu_power_w(const ws_run *r);    /* GPU energy / time / metered GPUs; NAN */
double ws_run_socket_power_w(const ws_run *r); /* CPU energy / time / metered packages; NAN */

#endif

/* analysis/analysis.h - the whole analysis of a study's run set, computed once, read by
 * the report writers (and by prediction).
 * defines: ws_analysis, ws_analysis_compute, ws_analysis_free, ws_analysis_device_unit,
 * ws_analysis_device_axis, ws_analysis_device_noun.
 * Implementation: analysis/analysis.c. */
#ifndef WS_ANALYSIS_ANALYSIS_H
#define WS_ANALYSIS_ANALYSIS_H

#include "analysis/accuracy.h"
#include "analysis/energy_fit.h"
#include "analysis/pareto.h"
#include "analysis/runset.h"
#include "analysis/scaling.h"
#include "analysis/target.h"

typedef struct {
    const ws_runset *rs; /* borrowed: outlives the analysis */
    size_t n_finished, n_failed, n_other;
    int any_energy; /* some finished run measured energy */
    int all_energy; /* every finished run did */
    int any_gpu_power, any_socket_power, any_power_series, any_sacct;
    char missing[1536];       /* why energy was not measured (from the first run lacking it) */
    char missing_domains[32]; /* "gpu, cpu, dram" */
    char hardware[512];       /* the hardware of the runs, "; "-separated */
    ws_scaling_table scaling;
    ws_energy_model energy;
    ws_accuracy accuracy;
    ws_pareto pareto;
    ws_target target;
} ws_analysis;

ws_status ws_analysis_compute(const ws_runset *rs, ws_analysis *out, ws_error *err);
void ws_analysis_free(ws_analysis *a);

/* "GPU-hours" when every run trained on GPUs, "process-hours" for the CPU backend (one
 * device-hour is one rank for an hour), "device-hours" for a mix. */
const char *ws_analysis_device_unit(const ws_analysis *a);
/* The axis label for the world size: "GPUs", "ranks (CPU processes)" or "devices". */
const char *ws_analysis_device_axis(const ws_analysis *a);
const char *ws_analysis_device_noun(const ws_analysis *a); /* "GPUs", "ranks" or "devices" */

#endif

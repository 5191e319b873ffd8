/* analysis/loo.h - leave-one-out validation of the performance model: each run predicted
 * from a calibration on the others of its group.
 * defines: ws_loo_row, ws_loo_compute. Implementation: analysis/loo.c. */
#ifndef WS_ANALYSIS_LOO_H
#define WS_ANALYSIS_LOO_H

#include "analysis/predict.h"

typedef struct {
    char run_key[128], precision[8];
    int gpus, nodes, local_batch, global_batch;
    int ok; /* predicted; else why says what the others could not calibrate */
    char why[512];
    size_t n_calib; /* runs the prediction was calibrated on */
    /* the window (steady state): one step and energy per sample */
    double step_meas_s, jps_meas;
    ws_interval step_s, jps;
    /* the whole run: wall time and energy (all its epochs, start-up and evaluations) */
    double time_meas_s, energy_meas_j;
    ws_interval time_s, energy_j;
} ws_loo_row;

/* One row per finished run of ps with a window; *rows malloc'd (the caller frees). The
 * network model serves runs on more than one GPU. */
ws_status ws_loo_compute(const ws_perf_set *ps, const ws_network *net, ws_loo_row **rows, size_t *n, ws_error *err);

#endif

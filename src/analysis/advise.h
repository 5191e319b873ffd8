/* analysis/advise.h - the configuration that wastes least: predictions over GPU counts,
 * local batch sizes and precisions, ranked by energy, under a deadline and a GPU budget.
 * defines: ws_advise_opts, ws_advise_opts_default, ws_advice_row, ws_advice, ws_advise,
 * ws_advice_free. Implementation: analysis/advise.c. */
#ifndef WS_ANALYSIS_ADVISE_H
#define WS_ANALYSIS_ADVISE_H

#include "analysis/predict.h"

typedef struct {
    int max_gpus; /* the GPU budget; counts 1, 2, 4, ... up to it (and it) */
    int min_gpus;
    const int *lbs; /* candidate local batch sizes; NULL: powers of two the calibration reaches */
    size_t n_lbs;
    int extrapolate_lbs;     /* also sizes beyond the measured ones (up to what fits in memory) */
    double gpu_memory_bytes; /* a GPU's memory, for that limit; NAN: unknown */
    double deadline_s;       /* wall time allowed (predicted, upper end of its interval); INFINITY: none */
    ws_predict_config base;  /* workload (epochs, steps or target), layout, network algorithm */
} ws_advise_opts;

ws_advise_opts ws_advise_opts_default(void);

typedef struct {
    const ws_calibration *cal; /* its precision, hardware */
    ws_prediction p;
} ws_advice_row;

typedef struct {
    ws_advice_row *rows; /* feasible configurations, least energy first (GPU-hours without energy) */
    size_t n;
    int by_energy; /* 1: ranked by energy; 0: energy not measured, ranked by GPU-hours */
    size_t considered, over_deadline, over_memory, outside_target, invalid;
    char first_error[512]; /* why the first invalid configuration was refused */
} ws_advice;

ws_status ws_advise(const ws_calibration *const *cals, size_t n_cals, const ws_network *net, const ws_advise_opts *o,
                    ws_advice *out, ws_error *err);
void ws_advice_free(ws_advice *a); /* NULL is a no-op */

#endif

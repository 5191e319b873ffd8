/* analysis/energy_fit.h - energy against device-hours, the study's central finding, and
 * what its slope depends on.
 * defines: ws_energy_fit, ws_energy_model, ws_energy_model_compute, ws_energy_model_free.
 * Implementation: analysis/energy_fit.c.
 *
 * Per group (model / hardware / precision), every finished run with energy is a point
 * (device-hours, kWh) and a line is fitted through them: the slope is kWh per device-hour,
 * the mean power of a device including its share of the host; the intercept should be
 * near 0. Then the per-run slope (kWh per device-hour) is regressed on samples and updates
 * per device-hour over all runs with energy: k = c0 + c1 samples/h + c2 updates/h, plus each
 * regressor alone. Where samples and updates per hour are proportional (one global batch
 * size for all runs), the two-regressor fit is marked collinear and left out. */
#ifndef WS_ANALYSIS_ENERGY_FIT_H
#define WS_ANALYSIS_ENERGY_FIT_H

#include "analysis/fit.h"
#include "analysis/runset.h"
#include "wattscale/status.h"

typedef struct {
    char group[256];
    char device_kind[16];
    size_t n_runs; /* runs with energy in the group */
    ws_linfit fit; /* y kWh = intercept + slope x device-hours */
} ws_energy_fit;

typedef struct {
    int energy_measured; /* some finished run has energy */
    ws_energy_fit *fits;
    size_t n_fits;
    size_t n_slope_runs;       /* runs in the slope regressions */
    ws_multifit slope_on_both; /* coef: c0, per sample/h, per update/h */
    ws_linfit slope_on_samples, slope_on_updates;
} ws_energy_model;

ws_status ws_energy_model_compute(const ws_runset *rs, ws_energy_model *out, ws_error *err);
void ws_energy_model_free(ws_energy_model *m);

#endif

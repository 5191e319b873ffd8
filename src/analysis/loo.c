/* analysis/loo.c - leave-one-out validation; contract in analysis/loo.h. */
#include "analysis/loo.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ws_interval scaled(ws_interval v, double k) { return (ws_interval){v.mid * k, v.lo * k, v.hi * k}; }

/* predicts run r from cal for steps steps; WS_OK fills p */
static ws_status predict_like(const ws_calibration *cal, const ws_network *net, const ws_perf_run *r, double steps,
                              ws_prediction *p, ws_error *err) {
    ws_predict_config cfg = ws_predict_config_default();
    cfg.gpus = r->world;
    cfg.gpus_per_node = r->ranks_per_node > 0 ? r->ranks_per_node : r->world;
    cfg.local_batch = r->local_batch;
    cfg.global_batch = r->global_batch;
    cfg.accum = r->accum;
    cfg.steps = (long)llround(steps);
    cfg.evals = r->evals;
    cfg.data_fraction = r->data_fraction;
    return ws_predict(cal, net, &cfg, p, err);
}

ws_status ws_loo_compute(const ws_perf_set *ps, const ws_network *net, ws_loo_row **rows, size_t *n, ws_error *err) {
    *rows = calloc(ps->n ? ps->n : 1, sizeof **rows);
    *n = 0;
    if (!*rows) return wsi_error(err, WS_ENOMEM, "leave-one-out: out of memory");
    for (size_t i = 0; i < ps->n; i++) {
        const ws_perf_run *r = &ps->runs[i];
        if ((strcmp(r->status, "completed") && strcmp(r->status, "target_reached")) || !(r->win_steps > 0)) continue;
        ws_loo_row *row = &(*rows)[(*n)++];
        snprintf(row->run_key, sizeof row->run_key, "%s", r->run_key);
        snprintf(row->precision, sizeof row->precision, "%s", r->precision);
        row->gpus = r->world;
        row->nodes = r->nodes;
        row->local_batch = r->local_batch;
        row->global_batch = r->global_batch;
        row->step_meas_s = r->win_time_s / r->win_steps;
        row->jps_meas = r->win_energy_j / r->win_samples;
        row->time_meas_s = r->run_time_s;
        row->energy_meas_j = r->run_energy_j;
        ws_calib_select sel = {r->model, r->hardware, r->precision, r->data_kind, r->run_key};
        ws_calibration cal;
        ws_error e = {0};
        ws_prediction p;
        ws_status st = ws_calibrate(ps, &sel, net, &cal, &e);
        if (st == WS_OK) st = predict_like(&cal, net, r, r->win_steps, &p, &e);
        if (st == WS_OK) {
            row->step_s = p.step_s;
            row->jps = p.j_per_sample;
            st = predict_like(&cal, net, r, r->ep_steps, &p, &e);
        }
        if (st == WS_OK) {
            row->time_s = p.time_s;
            row->energy_j = scaled(p.energy_kwh, 3.6e6);
        }
        row->n_calib = cal.n_runs;
        row->ok = st == WS_OK;
        if (!row->ok) snprintf(row->why, sizeof row->why, "%s", e.msg);
        if (st == WS_ENOMEM) return wsi_error(err, st, "%s", e.msg);
    }
    return WS_OK;
}

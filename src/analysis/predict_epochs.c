/* analysis/predict_epochs.c - epochs until a target metric against the global batch size,
 * measured, and between measured sizes interpolated with GSL; contract in analysis/predict.h. */
#include "analysis/predict.h"
#include "core/error.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_interp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* the first epoch of run r whose evaluation meets the target; 0 when none does */
static int epoch_reaching(const ws_runset *rs, const ws_run *r) {
    int higher = ws_metric_higher_is_better(rs->target_metric);
    for (size_t k = 0; k < r->n_epochs; k++) {
        const ws_run_epoch *e = &rs->epochs[r->first_epoch + k];
        double v = ws_run_epoch_metric(e, rs->target_metric);
        if (isfinite(v) && (higher ? v >= rs->target_value : v <= rs->target_value)) return e->epoch;
    }
    return 0;
}

/* a finished run of the calibration's model and data kind, with a global batch */
static int same_task(const ws_run *r, const ws_calibration *c) {
    char kind[32];
    ws_perf_data_kind(r->data, kind, sizeof kind);
    return ws_run_ok(r) && !strcmp(r->model, c->model) && !strcmp(kind, c->data_kind) && r->global_batch > 0;
}

ws_status ws_epochs_model_build(const ws_runset *rs, const ws_calibration *c, ws_epochs_model *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    if (!rs->target_metric[0])
        return wsi_error(err, WS_EINVAL,
                         "no target metric: give --target METRIC=VALUE (or set analysis.target in the "
                         "study file)");
    snprintf(out->metric, sizeof out->metric, "%s", rs->target_metric);
    out->value = rs->target_value;
    double sum[64] = {0};
    size_t cnt[64] = {0};
    /* the runs on the most data (the whole dataset where any ran on it): an epoch of a
     * fraction is another workload */
    double frac = 0;
    for (size_t i = 0; i < rs->n_runs; i++)
        if (same_task(&rs->runs[i], c) && rs->runs[i].data_fraction > frac) frac = rs->runs[i].data_fraction;
    out->data_fraction = frac;
    for (size_t i = 0; i < rs->n_runs; i++) {
        const ws_run *r = &rs->runs[i];
        if (!same_task(r, c) || !(fabs(r->data_fraction - frac) < 1e-9)) continue;
        out->n_runs++;
        int ep = epoch_reaching(rs, r);
        if (!ep) continue;
        out->n_reached++;
        size_t k = 0;
        while (k < out->n && out->gbs[k] != r->global_batch)
            k++;
        if (k == out->n) {
            if (out->n == 64) continue;
            out->gbs[k] = r->global_batch;
            out->lo[k] = out->hi[k] = ep;
            out->n++;
        }
        sum[k] += ep;
        cnt[k]++;
        if (ep < out->lo[k]) out->lo[k] = ep;
        if (ep > out->hi[k]) out->hi[k] = ep;
    }
    for (size_t k = 0; k < out->n; k++)
        out->epochs[k] = sum[k] / (double)cnt[k];
    /* by GBS, for the interpolation (insertion sort: a handful of sizes) */
    for (size_t i = 1; i < out->n; i++)
        for (size_t j = i; j > 0 && out->gbs[j - 1] > out->gbs[j]; j--) {
            double *arr[4] = {out->gbs, out->epochs, out->lo, out->hi};
            for (int q = 0; q < 4; q++) {
                double t = arr[q][j];
                arr[q][j] = arr[q][j - 1];
                arr[q][j - 1] = t;
            }
        }
    return WS_OK;
}

static double interp(const double *x, const double *y, size_t n, double at) {
    gsl_interp *it = gsl_interp_alloc(gsl_interp_linear, n);
    gsl_interp_accel *acc = gsl_interp_accel_alloc();
    double v = NAN;
    if (it && acc && gsl_interp_init(it, x, y, n) == GSL_SUCCESS) v = gsl_interp_eval(it, x, y, at, acc);
    gsl_interp_accel_free(acc);
    gsl_interp_free(it);
    return v;
}

ws_status ws_epochs_at(const ws_epochs_model *m, double gbs, ws_interval *out, ws_error *err) {
    if (m->n == 0)
        return wsi_error(err, WS_EINVAL,
                         "none of the %zu finished runs (data fraction %g) reached %s %g: epochs to the "
                         "target unknown",
                         m->n_runs, m->data_fraction, m->metric, m->value);
    for (size_t k = 0; k < m->n; k++)
        if (m->gbs[k] == gbs) {
            *out = (ws_interval){m->epochs[k], m->lo[k], m->hi[k]};
            return WS_OK;
        }
    if (m->n < 2 || gbs < m->gbs[0] || gbs > m->gbs[m->n - 1])
        return wsi_error(err, WS_EINVAL,
                         "GBS %g: epochs to %s %g were measured only at GBS %g-%g (%zu sizes); beyond them they are "
                         "not extrapolated (give --epochs)",
                         gbs, m->metric, m->value, m->gbs[0], m->gbs[m->n - 1], m->n);
    double x[64];
    for (size_t k = 0; k < m->n; k++)
        x[k] = log2(m->gbs[k]);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    double g = log2(gbs);
    *out = (ws_interval){interp(x, m->epochs, m->n, g), interp(x, m->lo, m->n, g), interp(x, m->hi, m->n, g)};
    gsl_set_error_handler(old);
    return WS_OK;
}

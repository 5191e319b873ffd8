/* analysis/energy_fit.c - energy vs device-hours fits and the slope regression; contract
 * in analysis/energy_fit.h. */
#include "analysis/energy_fit.h"
#include "analysis/scaling.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_energy(const ws_run *r) { return ws_run_ok(r) && isfinite(r->energy_j) && r->device_hours > 0; }

ws_status ws_energy_model_compute(const ws_runset *rs, ws_energy_model *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    size_t n = rs->n_runs;
    out->fits = calloc(n ? n : 1, sizeof *out->fits);
    double *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    double *X = malloc((n ? n : 1) * 3 * sizeof *X);
    ws_status st = WS_OK;
    if (!out->fits || !x || !y || !X) {
        st = wsi_error(err, WS_ENOMEM, "energy fits: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const ws_run *r = &rs->runs[i];
        if (!has_energy(r)) continue;
        out->energy_measured = 1;
        char key[256];
        ws_run_group_key(r, key, sizeof key);
        size_t g = 0;
        while (g < out->n_fits && strcmp(out->fits[g].group, key))
            g++;
        if (g == out->n_fits) {
            snprintf(out->fits[g].group, sizeof out->fits[g].group, "%s", key);
            snprintf(out->fits[g].device_kind, sizeof out->fits[g].device_kind, "%s", r->device_kind);
            out->n_fits++;
        }
    }
    for (size_t g = 0; g < out->n_fits; g++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const ws_run *r = &rs->runs[i];
            char key[256];
            ws_run_group_key(r, key, sizeof key);
            if (!has_energy(r) || strcmp(key, out->fits[g].group)) continue;
            x[m] = r->device_hours;
            y[m++] = r->energy_j / 3.6e6;
        }
        out->fits[g].n_runs = m;
        out->fits[g].fit = ws_fit_line(x, y, m);
    }
    /* the slope per run against the work per device-hour */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const ws_run *r = &rs->runs[i];
        if (!has_energy(r) || !isfinite(r->kwh_per_device_hour)) continue;
        X[3 * m] = 1;
        X[3 * m + 1] = x[m] = r->samples_per_device_hour;
        X[3 * m + 2] = r->updates_per_device_hour;
        y[m++] = r->kwh_per_device_hour;
    }
    out->n_slope_runs = m;
    out->slope_on_samples = ws_fit_line(x, y, m);
    for (size_t i = 0; i < m; i++)
        x[i] = X[3 * i + 2];
    out->slope_on_updates = ws_fit_line(x, y, m);
    st = ws_fit_multi(X, y, m, 3, &out->slope_on_both, err);
done:
    free(x);
    free(y);
    free(X);
    if (st != WS_OK) ws_energy_model_free(out);
    return st;
}

void ws_energy_model_free(ws_energy_model *m) {
    if (!m) return;
    free(m->fits);
    memset(m, 0, sizeof *m);
}

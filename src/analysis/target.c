/* analysis/target.c - cost to reach a target metric; contract in analysis/target.h. */
#include "analysis/target.h"
#include "analysis/scaling.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when run r reaches the target; then its cost up to that epoch */
static int cost_to_target(const ws_runset *rs, const ws_run *r, double *epochs, double *time_s, double *energy_kwh) {
    double t = 0, e = 0;
    int higher = ws_metric_higher_is_better(rs->target_metric);
    for (size_t k = 0; k < r->n_epochs; k++) {
        const ws_run_epoch *ep = &rs->epochs[r->first_epoch + k];
        t += ep->time_s;
        e += ep->energy_j; /* NAN stays NAN: energy to target is then not measured */
        double v = ws_run_epoch_metric(ep, rs->target_metric);
        if (isfinite(v) && (higher ? v >= rs->target_value : v <= rs->target_value)) {
            *epochs = ep->epoch;
            *time_s = t;
            *energy_kwh = e / 3.6e6;
            return 1;
        }
    }
    return 0;
}

ws_status ws_target_compute(const ws_runset *rs, ws_target *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    if (!rs->target_metric[0]) return WS_OK;
    snprintf(out->metric, sizeof out->metric, "%s", rs->target_metric);
    out->value = rs->target_value;
    size_t n = rs->n_runs;
    out->rows = calloc(n ? n : 1, sizeof *out->rows);
    double *buf = malloc((n ? n : 1) * 4 * sizeof *buf);
    if (!out->rows || !buf) {
        free(buf);
        ws_target_free(out);
        return wsi_error(err, WS_ENOMEM, "target: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const ws_run *r = &rs->runs[i];
        if (!ws_run_first_of_config(rs, i)) continue;
        char key[384];
        ws_run_task_key(r, key, sizeof key);
        ws_target_row *row = &out->rows[out->n_rows++];
        snprintf(row->task, sizeof row->task, "%s", key);
        row->gpus = r->world;
        row->global_batch = r->global_batch;
        row->local_batch = r->local_batch;
        row->accum = r->accum;
        row->data_fraction = r->data_fraction;
        double *ep = buf, *t = buf + n, *h = buf + 2 * n, *e = buf + 3 * n;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            const ws_run *o = &rs->runs[j];
            if (!ws_runs_repeat(rs, i, j)) continue;
            row->n_runs++;
            if (!cost_to_target(rs, o, &ep[k], &t[k], &e[k])) continue;
            h[k] = t[k] * o->world / 3600.0;
            k++;
        }
        row->n_reached = k;
        row->epochs = ws_summarize(ep, k);
        row->time_s = ws_summarize(t, k);
        row->device_hours = ws_summarize(h, k);
        row->energy_kwh = ws_summarize(e, k);
    }
    free(buf);
    return WS_OK;
}

void ws_target_free(ws_target *t) {
    if (!t) return;
    free(t->rows);
    memset(t, 0, sizeof *t);
}

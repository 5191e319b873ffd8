/* analysis/pareto.c - the Pareto front per task; contract in analysis/pareto.h. */
#include "analysis/pareto.h"
#include "analysis/scaling.h"
#include "analysis/stats.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a is at least as good as b everywhere and better somewhere; objectives: [0] time, [1]
 * energy (when used), [2] metric (larger is better after the sign flip) */
static int dominates(const double *a, const double *b, int use_energy) {
    int better = 0;
    for (int k = 0; k < 3; k++) {
        if (k == 1 && !use_energy) continue;
        if (!isfinite(a[k]) || !isfinite(b[k])) continue;
        if (a[k] > b[k]) return 0;
        better |= a[k] < b[k];
    }
    return better;
}

ws_status ws_pareto_compute(const ws_runset *rs, ws_pareto *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    size_t n = rs->n_runs;
    out->points = calloc(n ? n : 1, sizeof *out->points);
    double *buf = malloc((n ? n : 1) * 4 * sizeof *buf);
    if (!out->points || !buf) {
        free(buf);
        ws_pareto_free(out);
        return wsi_error(err, WS_ENOMEM, "pareto: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const ws_run *r = &rs->runs[i];
        if (!ws_run_first_of_config(rs, i)) continue;
        char key[384];
        ws_run_task_key(r, key, sizeof key);
        size_t k = 0;
        double *t = buf, *e = buf + n, *h = buf + 2 * n, *m = buf + 3 * n;
        for (size_t j = i; j < n; j++) {
            const ws_run *o = &rs->runs[j];
            if (!ws_runs_repeat(rs, i, j)) continue;
            t[k] = o->time_s;
            e[k] = o->energy_j / 3.6e6;
            h[k] = o->device_hours;
            m[k++] = ws_run_metric(o, rs->metric);
        }
        ws_pareto_point *p = &out->points[out->n_points++];
        snprintf(p->task, sizeof p->task, "%s", key);
        p->gpus = r->world;
        p->global_batch = r->global_batch;
        p->local_batch = r->local_batch;
        p->accum = r->accum;
        p->data_fraction = r->data_fraction;
        p->n_runs = k;
        p->time_s = ws_summarize(t, k).mean;
        ws_summary es = ws_summarize(e, k);
        p->energy_kwh = es.n == k ? es.mean : NAN; /* a mean over some repetitions only would mislead */
        p->device_hours = ws_summarize(h, k).mean;
        p->metric = ws_summarize(m, k).mean;
    }
    int higher = ws_metric_higher_is_better(rs->metric);
    for (size_t i = 0; i < out->n_points; i++) {
        ws_pareto_point *a = &out->points[i];
        int use_energy = 1;
        for (size_t j = 0; j < out->n_points; j++)
            if (!strcmp(out->points[j].task, a->task)) use_energy &= isfinite(out->points[j].energy_kwh);
        double va[3] = {a->time_s, a->energy_kwh, higher ? -a->metric : a->metric};
        a->on_front = 1;
        for (size_t j = 0; j < out->n_points && a->on_front; j++) {
            const ws_pareto_point *b = &out->points[j];
            if (j == i || strcmp(b->task, a->task)) continue;
            double vb[3] = {b->time_s, b->energy_kwh, higher ? -b->metric : b->metric};
            if (dominates(vb, va, use_energy)) a->on_front = 0;
        }
    }
    free(buf);
    return WS_OK;
}

void ws_pareto_free(ws_pareto *p) {
    if (!p) return;
    free(p->points);
    memset(p, 0, sizeof *p);
}

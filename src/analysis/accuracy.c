/* analysis/accuracy.c - metric vs GBS and the degradation point; contract in
 * analysis/accuracy.h. */
#include "analysis/accuracy.h"
#include "analysis/scaling.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_gbs(const void *a, const void *b) {
    const ws_accuracy_point *x = a, *y = b;
    return x->global_batch - y->global_batch;
}

static void find_degradation(ws_accuracy_curve *c, int higher_better, double tol) {
    c->degrades_beyond_gbs = c->first_degraded_gbs = 0;
    c->best_gbs = 0;
    c->best_metric = NAN;
    double best = NAN;
    int prev = 0;
    for (size_t i = 0; i < c->n_points; i++) {
        double m = c->points[i].metric.mean;
        if (!isfinite(m)) continue;
        if (isfinite(best) && (higher_better ? m < best - tol : m > best + tol) && !c->first_degraded_gbs) {
            c->first_degraded_gbs = c->points[i].global_batch;
            c->degrades_beyond_gbs = prev;
        }
        if (!isfinite(best) || (higher_better ? m > best : m < best)) {
            best = m;
            c->best_gbs = c->points[i].global_batch;
        }
        prev = c->points[i].global_batch;
    }
    c->best_metric = best;
}

ws_status ws_accuracy_compute(const ws_runset *rs, ws_accuracy *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->metric, sizeof out->metric, "%s", rs->metric);
    out->tolerance = rs->degradation_tolerance;
    size_t n = rs->n_runs;
    out->curves = calloc(n ? n : 1, sizeof *out->curves);
    double *buf = malloc((n ? n : 1) * sizeof *buf);
    if (!out->curves || !buf) {
        free(buf);
        ws_accuracy_free(out);
        return wsi_error(err, WS_ENOMEM, "accuracy: out of memory");
    }
    ws_status st = WS_OK;
    for (size_t i = 0; i < n && st == WS_OK; i++) {
        const ws_run *r = &rs->runs[i];
        if (!ws_run_ok(r) || !isfinite(ws_run_metric(r, rs->metric))) continue;
        char key[384];
        ws_run_task_key(r, key, sizeof key);
        size_t c = 0;
        while (c < out->n_curves && strcmp(out->curves[c].task, key))
            c++;
        ws_accuracy_curve *cv = &out->curves[c];
        if (c == out->n_curves) {
            snprintf(cv->task, sizeof cv->task, "%s", key);
            out->n_curves++;
        }
        size_t p = 0;
        while (p < cv->n_points && cv->points[p].global_batch != r->global_batch)
            p++;
        if (p < cv->n_points) continue; /* this GBS is summarised already */
        ws_accuracy_point *more = realloc(cv->points, (cv->n_points + 1) * sizeof *more);
        if (!more) {
            st = wsi_error(err, WS_ENOMEM, "accuracy: out of memory");
            break;
        }
        cv->points = more;
        size_t k = 0;
        for (size_t j = 0; j < n; j++) {
            const ws_run *o = &rs->runs[j];
            char okey[384];
            ws_run_task_key(o, okey, sizeof okey);
            if (ws_run_ok(o) && o->global_batch == r->global_batch && !strcmp(okey, key))
                buf[k++] = ws_run_metric(o, rs->metric);
        }
        cv->points[cv->n_points].global_batch = r->global_batch;
        cv->points[cv->n_points++].metric = ws_summarize(buf, k);
    }
    for (size_t c = 0; c < out->n_curves; c++) {
        qsort(out->curves[c].points, out->curves[c].n_points, sizeof *out->curves[c].points, cmp_gbs);
        find_degradation(&out->curves[c], ws_metric_higher_is_better(rs->metric), out->tolerance);
    }
    free(buf);
    if (st != WS_OK) ws_accuracy_free(out);
    return st;
}

void ws_accuracy_free(ws_accuracy *a) {
    if (!a) return;
    for (size_t c = 0; c < a->n_curves; c++)
        free(a->curves[c].points);
    free(a->curves);
    memset(a, 0, sizeof *a);
}

/* analysis/accuracy.h - the predictive metric against the global batch size, and the batch
 * size beyond which it degrades.
 * defines: ws_accuracy_point, ws_accuracy_curve, ws_accuracy, ws_accuracy_compute,
 * ws_accuracy_free. Implementation: analysis/accuracy.c.
 *
 * Per task (ws_run_task_key: same model, data, fraction, stopping rule, precision), the
 * finished runs are grouped by GBS (any world size) and summarised. Scanning GBS upwards
 * with the best mean so far, the first GBS whose mean is worse than that best by more than
 * the tolerance marks degradation: the metric degrades beyond the GBS before it. */
#ifndef WS_ANALYSIS_ACCURACY_H
#define WS_ANALYSIS_ACCURACY_H

#include "analysis/runset.h"
#include "wattscale/status.h"
#include "analysis/stats.h"

typedef struct {
    int global_batch;
    ws_summary metric;
} ws_accuracy_point;

typedef struct {
    char task[384];
    ws_accuracy_point *points; /* by GBS, ascending */
    size_t n_points;
    int degrades_beyond_gbs; /* 0: no degradation within the measured GBS */
    int first_degraded_gbs;
    int best_gbs;
    double best_metric;
} ws_accuracy_curve;

typedef struct {
    char metric[16];
    double tolerance;
    ws_accuracy_curve *curves;
    size_t n_curves;
} ws_accuracy;

ws_status ws_accuracy_compute(const ws_runset *rs, ws_accuracy *out, ws_error *err);
void ws_accuracy_free(ws_accuracy *a);

#endif

/* analysis/pareto.h - the Pareto front of time, energy and the predictive metric.
 * defines: ws_pareto_point, ws_pareto, ws_pareto_compute, ws_pareto_free.
 * Implementation: analysis/pareto.c.
 *
 * One point per configuration (world size, GBS, LBS, accum, data fraction) of a task (runs
 * with the same model, data, stopping rule and precision: ws_run_task_key), the means over
 * its finished repetitions. A point is on the front when no other point of its task is at
 * least as good in every objective and better in one: shorter time, less energy, a better
 * metric. Energy is an objective only where every point of the task has it; otherwise the
 * front is of time and metric, and the report says energy was not measured. */
#ifndef WS_ANALYSIS_PARETO_H
#define WS_ANALYSIS_PARETO_H

#include "analysis/runset.h"
#include "wattscale/status.h"

typedef struct {
    char task[384];
    int gpus, global_batch, local_batch, accum;
    double data_fraction;
    size_t n_runs;
    double time_s, energy_kwh, device_hours, metric; /* means; energy NAN when not measured */
    int on_front;
} ws_pareto_point;

typedef struct {
    ws_pareto_point *points;
    size_t n_points;
} ws_pareto;

ws_status ws_pareto_compute(const ws_runset *rs, ws_pareto *out, ws_error *err);
void ws_pareto_free(ws_pareto *p);

#endif

/* analysis/target.h - what reaching a target metric cost: epochs, time, device-hours and
 * energy until the first evaluation at or beyond the target.
 * defines: ws_target_row, ws_target, ws_target_compute, ws_target_free.
 * Implementation: analysis/target.c.
 *
 * Per run, epochs are summed up to and including the first whose evaluation reaches the
 * target (val_top1 >= 0.75; val_loss <= 0.9); a run that never reaches it counts in n_runs
 * but not in n_reached. Energy to target is NAN for runs without energy, and device-hours
 * are its time x world size. Rows per configuration of a task, as the Pareto front's. */
#ifndef WS_ANALYSIS_TARGET_H
#define WS_ANALYSIS_TARGET_H

#include "analysis/runset.h"
#include "wattscale/status.h"
#include "analysis/stats.h"

typedef struct {
    char task[384];
    int gpus, global_batch, local_batch, accum;
    double data_fraction;
    size_t n_runs, n_reached;
    ws_summary epochs, time_s, device_hours, energy_kwh; /* over the runs that reached it */
} ws_target_row;

typedef struct {
    char metric[16]; /* "" when no target was set */
    double value;
    ws_target_row *rows;
    size_t n_rows;
} ws_target;

ws_status ws_target_compute(const ws_runset *rs, ws_target *out, ws_error *err);
void ws_target_free(ws_target *t);

#endif

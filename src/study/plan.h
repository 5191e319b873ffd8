/* study/plan.h - a study's run list: series x points x repetitions, identical runs shared.
 * defines: ws_plan, ws_plan_run, ws_plan_make/free, ws_plan_train_args, ws_plan_estimate,
 * ws_plan_nodes. Implementation: study/plan.c.
 *
 * A run is named by its point and repetition ("g4-gbs256-lbs64-r1"; "-acc2" when it
 * accumulates, "-f0.25" when its data fraction is not the study's base fraction): the
 * name is its folder under runs_dir and its key in the store, the same on every call, so a
 * resumed study finds its runs again. Two series that share a point (constant GBS 256 and
 * constant LBS 256 both have 1 GPU at batch 256) share the run, which belongs to both.
 * Runs are ordered repetition by repetition, so a study stopped early has every point at
 * least once. */
#ifndef WS_STUDY_PLAN_H
#define WS_STUDY_PLAN_H

#include "study/study_file.h"

typedef struct {
    size_t series, point; /* indexes into ws_study.series[] and its points[] */
} ws_plan_member;

#define WS_PLAN_MAX_MEMBERS 16

typedef struct {
    char key[128];
    ws_study_point point;
    int repetition; /* 1-based */
    long seed;
    ws_plan_member members[WS_PLAN_MAX_MEMBERS];
    size_t n_members;
    double est_samples;      /* samples the run will process (NAN: unknown dataset size) */
    double est_device_hours; /* estimate (NAN: no throughput known) */
} ws_plan_run;

typedef struct {
    ws_plan_run *runs;
    size_t n_runs;
} ws_plan;

ws_status ws_plan_make(ws_plan *out, const ws_study *s, ws_error *err);
void ws_plan_free(ws_plan *p); /* NULL is a no-op */

/* Fills est_device_hours from a throughput in samples per device-second, assuming ideal
 * scaling (an estimate: the study measures what scaling really costs). */
void ws_plan_estimate(ws_plan *p, double samples_per_device_s);

/* Nodes a run occupies with ranks_per_node ranks on each (ceil). */
int ws_plan_nodes(const ws_plan_run *r, int ranks_per_node);

/* The `wattscale train` flags of run r (what follows "wattscale train"): the study's
 * settings, then --global-batch, --local-batch, --data-fraction, --seed, --threads (when
 * threads > 0), --out out_dir, and --resume out_dir when resume. *argv is NULL-terminated;
 * free it with ws_plan_args_free. */
ws_status ws_plan_train_args(const ws_study *s, const ws_plan_run *r, const char *out_dir, int resume, int threads,
                             char ***argv, ws_error *err);
void ws_plan_args_free(char **argv);

#endif

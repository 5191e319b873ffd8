/* analysis/runset.c - ws_runset helpers; contract in analysis/runset.h. */
#include "analysis/runset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ws_runset_free(ws_runset *rs) {
    if (!rs) return;
    free(rs->runs);
    free(rs->epochs);
    free(rs->members);
    free(rs->power);
    memset(rs, 0, sizeof *rs);
}

int ws_metric_known(const char *metric) {
    static const char *const known[] = {"val_top1", "val_top5", "val_loss", "val_rmse_norm", "val_acc"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (metric && !strcmp(metric, known[i])) return 1;
    return 0;
}

static double pick(const char *metric, double top1, double top5, double loss, double rmse, double acc) {
    if (!strcmp(metric, "val_top1")) return top1;
    if (!strcmp(metric, "val_top5")) return top5;
    if (!strcmp(metric, "val_loss")) return loss;
    if (!strcmp(metric, "val_rmse_norm")) return rmse;
    if (!strcmp(metric, "val_acc")) return acc;
    return NAN;
}

double ws_run_metric(const ws_run *r, const char *metric) {
    return pick(metric, r->val_top1, r->val_top5, r->val_loss, r->val_rmse_norm, r->val_acc);
}

double ws_run_epoch_metric(const ws_run_epoch *e, const char *metric) {
    return pick(metric, e->val_top1, e->val_top5, e->val_loss, e->val_rmse_norm, e->val_acc);
}

int ws_metric_higher_is_better(const char *metric) {
    return strcmp(metric, "val_loss") && strcmp(metric, "val_rmse_norm");
}

void ws_run_group_key(const ws_run *r, char *out, size_t size) {
    snprintf(out, size, "%s / %s / %s", r->model, r->hardware[0] ? r->hardware : "unknown hardware", r->precision);
}

void ws_run_task_key(const ws_run *r, char *out, size_t size) {
    char stop[48];
    if (r->steps_requested > 0)
        snprintf(stop, sizeof stop, "%ld steps", r->steps_requested);
    else
        snprintf(stop, sizeof stop, "%d epochs", r->epochs_requested);
    snprintf(out, size, "%s on %s (fraction %.4g), %s, %s", r->model, r->data, r->data_fraction, stop, r->precision);
}

int ws_run_same_config(const ws_run *a, const ws_run *b) {
    return a->world == b->world && a->global_batch == b->global_batch && a->local_batch == b->local_batch &&
           a->accum == b->accum && fabs(a->data_fraction - b->data_fraction) <= 1e-12;
}

int ws_run_ok(const ws_run *r) { return !strcmp(r->status, "completed") || !strcmp(r->status, "target_reached"); }

int ws_runs_repeat(const ws_runset *rs, size_t i, size_t j) {
    const ws_run *a = &rs->runs[i], *b = &rs->runs[j];
    if (!ws_run_ok(a) || !ws_run_ok(b) || !ws_run_same_config(a, b)) return 0;
    char ka[384], kb[384];
    ws_run_task_key(a, ka, sizeof ka);
    ws_run_task_key(b, kb, sizeof kb);
    return !strcmp(ka, kb);
}

int ws_run_first_of_config(const ws_runset *rs, size_t i) {
    if (!ws_run_ok(&rs->runs[i])) return 0;
    for (size_t j = 0; j < i; j++)
        if (ws_runs_repeat(rs, i, j)) return 0;
    return 1;
}

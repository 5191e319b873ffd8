/* study/plan.c - series x points x repetitions into runs; contract in study/plan.h. */
#include "study/plan.h"
#include "core/error.h"
#include "data/fields.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Samples in the training split of weather fields at dir (swe:DIR, era5:DIR), as a
 * one-step pre-training run counts them; NAN when the files cannot be opened (the run
 * itself then says why). */
static double fields_train_count(const char *dir) {
    ws_fields *f = NULL;
    ws_error err = {0};
    ws_fields_opts o = ws_fields_opts_default();
    if (ws_fields_open(&f, dir, WS_FIELDS_TRAIN, &o, &err) != WS_OK) return NAN;
    double n = (double)ws_fields_info_get(f)->count;
    ws_fields_close(f);
    return n;
}

/* Training samples of the dataset (the stratified fraction of it is taken later): fixed
 * sizes, or counted from the weather files; NAN where it is not known here. */
static double dataset_train_count(const ws_study *s) {
    if (!strncmp(s->data, "synthetic", 9)) return (double)s->synthetic_count;
    if (!strncmp(s->data, "fashion-mnist", 13) || !strncmp(s->data, "mnist", 5)) return 60000;
    if (!strncmp(s->data, "imagenet", 8)) return 1281167; /* ILSVRC-2012 train */
    if (!strncmp(s->data, "swe:", 4) || !strncmp(s->data, "era5:", 5))
        return fields_train_count(strchr(s->data, ':') + 1);
    return NAN;
}

static void run_key(char *out, size_t size, const ws_study *s, const ws_study_point *p, int rep) {
    int n = snprintf(out, size, "g%d-gbs%d-lbs%d", p->gpus, p->global_batch, p->local_batch);
    if (p->accum > 1) n += snprintf(out + n, size - (size_t)n, "-acc%d", p->accum);
    if (fabs(p->data_fraction - s->data_fraction) > 1e-12 * s->data_fraction)
        n += snprintf(out + n, size - (size_t)n, "-f%.6g", p->data_fraction);
    snprintf(out + n, size - (size_t)n, "-r%d", rep);
}

static double samples_of(const ws_study *s, const ws_study_point *p) {
    if (s->steps) return (double)s->steps * p->global_batch;
    double count = dataset_train_count(s);
    if (isnan(count)) return NAN;
    /* the sampler drops the last partial global batch of each epoch */
    return s->epochs * floor(count * p->data_fraction / p->global_batch) * p->global_batch;
}

ws_status ws_plan_make(ws_plan *out, const ws_study *s, ws_error *err) {
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < s->n_series; i++)
        cap += s->series[i].n_points;
    cap *= (size_t)s->repetitions;
    out->runs = calloc(cap ? cap : 1, sizeof *out->runs);
    if (!out->runs) return wsi_error(err, WS_ENOMEM, "study %s: out of memory for %zu runs", s->name, cap);
    for (int rep = 1; rep <= s->repetitions; rep++)
        for (size_t si = 0; si < s->n_series; si++)
            for (size_t pi = 0; pi < s->series[si].n_points; pi++) {
                const ws_study_point *p = &s->series[si].points[pi];
                char key[128];
                run_key(key, sizeof key, s, p, rep);
                ws_plan_run *r = NULL;
                for (size_t k = 0; k < out->n_runs && !r; k++)
                    if (!strcmp(out->runs[k].key, key)) r = &out->runs[k];
                if (!r) {
                    r = &out->runs[out->n_runs++];
                    snprintf(r->key, sizeof r->key, "%s", key);
                    r->point = *p;
                    r->repetition = rep;
                    r->seed = s->seed + rep - 1;
                    r->est_samples = samples_of(s, p);
                    r->est_device_hours = NAN;
                }
                if (r->n_members == WS_PLAN_MAX_MEMBERS) {
                    ws_plan_free(out);
                    return wsi_error(err, WS_EINVAL, "%s: run %s is a point of more than %d series", s->path, key,
                                     WS_PLAN_MAX_MEMBERS);
                }
                r->members[r->n_members++] = (ws_plan_member){si, pi};
            }
    if (isfinite(s->estimate_samples_per_device_s)) ws_plan_estimate(out, s->estimate_samples_per_device_s);
    return WS_OK;
}

void ws_plan_free(ws_plan *p) {
    if (!p) return;
    free(p->runs);
    memset(p, 0, sizeof *p);
}

void ws_plan_estimate(ws_plan *p, double samples_per_device_s) {
    for (size_t i = 0; i < p->n_runs; i++)
        p->runs[i].est_device_hours =
            samples_per_device_s > 0 ? p->runs[i].est_samples / samples_per_device_s / 3600.0 : NAN;
}

int ws_plan_nodes(const ws_plan_run *r, int ranks_per_node) {
    if (ranks_per_node < 1) ranks_per_node = 1;
    return (r->point.gpus + ranks_per_node - 1) / ranks_per_node;
}

static int push(char **argv, size_t *n, size_t cap, const char *a) {
    if (*n + 1 >= cap) return -1;
    argv[*n] = strdup(a);
    if (!argv[*n]) return -1;
    (*n)++;
    return 0;
}

ws_status ws_plan_train_args(const ws_study *s, const ws_plan_run *r, const char *out_dir, int resume, int threads,
                             char ***argv_out, ws_error *err) {
    size_t cap = s->n_train_args + 20, n = 0;
    char **argv = calloc(cap, sizeof *argv);
    if (!argv) return wsi_error(err, WS_ENOMEM, "run %s: out of memory", r->key);
    char num[64];
    int bad = 0;
    for (size_t i = 0; i < s->n_train_args; i++)
        bad |= push(argv, &n, cap, s->train_args[i]);
    snprintf(num, sizeof num, "%d", r->point.global_batch);
    bad |= push(argv, &n, cap, "--global-batch") | push(argv, &n, cap, num);
    snprintf(num, sizeof num, "%d", r->point.local_batch);
    bad |= push(argv, &n, cap, "--local-batch") | push(argv, &n, cap, num);
    snprintf(num, sizeof num, "%.15g", r->point.data_fraction);
    bad |= push(argv, &n, cap, "--data-fraction") | push(argv, &n, cap, num);
    snprintf(num, sizeof num, "%ld", r->seed);
    bad |= push(argv, &n, cap, "--seed") | push(argv, &n, cap, num);
    if (threads > 0) {
        snprintf(num, sizeof num, "%d", threads);
        bad |= push(argv, &n, cap, "--threads") | push(argv, &n, cap, num);
    }
    bad |= push(argv, &n, cap, "--out") | push(argv, &n, cap, out_dir);
    if (resume) bad |= push(argv, &n, cap, "--resume") | push(argv, &n, cap, out_dir);
    if (bad) {
        ws_plan_args_free(argv);
        return wsi_error(err, WS_ENOMEM, "run %s: out of memory", r->key);
    }
    *argv_out = argv;
    return WS_OK;
}

void ws_plan_args_free(char **argv) {
    if (!argv) return;
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

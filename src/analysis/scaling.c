/* analysis/scaling.c - series points over repetitions; contract and formulas in
 * analysis/scaling.h. */
#include "analysis/scaling.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double ws_run_gpu_power_w(const ws_run *r) {
    return r->gpu_devices > 0 && r->time_s > 0 ? r->energy_gpu_j / r->time_s / r->gpu_devices : NAN;
}

double ws_run_socket_power_w(const ws_run *r) {
    return r->cpu_sockets > 0 && r->time_s > 0 ? r->energy_cpu_j / r->time_s / r->cpu_sockets : NAN;
}

static double kwh(double j) { return j / 3.6e6; }

/* the finished runs of one series point, as indexes into rs->runs */
static size_t point_runs(const ws_runset *rs, const char *series, int point, size_t *idx) {
    size_t n = 0;
    for (size_t m = 0; m < rs->n_members; m++) {
        const ws_member *mb = &rs->members[m];
        if (!strcmp(mb->series, series) && mb->point == point && ws_run_ok(&rs->runs[mb->run])) idx[n++] = mb->run;
    }
    return n;
}

typedef double (*run_value)(const ws_run *r);
static double v_time(const ws_run *r) { return r->time_s; }
static double v_dh(const ws_run *r) { return r->device_hours; }
static double v_kwh(const ws_run *r) { return kwh(r->energy_j); }
static double v_gpu(const ws_run *r) { return kwh(r->energy_gpu_j); }
static double v_cpu(const ws_run *r) { return kwh(r->energy_cpu_j); }
static double v_dram(const ws_run *r) { return kwh(r->energy_dram_j); }
static double v_sacct(const ws_run *r) { return kwh(r->sacct_energy_j); }
static double v_sph(const ws_run *r) { return r->samples_per_device_hour; }
static double v_uph(const ws_run *r) { return r->updates_per_device_hour; }
static double v_kph(const ws_run *r) { return r->kwh_per_device_hour; }
static double v_jps(const ws_run *r) { return r->samples > 0 ? r->energy_j / r->samples : NAN; }

static ws_summary summarize(const ws_runset *rs, const size_t *idx, size_t n, run_value f, double *buf) {
    for (size_t i = 0; i < n; i++)
        buf[i] = f(&rs->runs[idx[i]]);
    return ws_summarize(buf, n);
}

static int cmp_point(const void *a, const void *b) {
    const ws_series_point *x = a, *y = b;
    if (x->series_index != y->series_index) return x->series_index - y->series_index;
    return x->gpus != y->gpus ? x->gpus - y->gpus : x->global_batch - y->global_batch;
}

ws_status ws_scaling_compute(const ws_runset *rs, ws_scaling_table *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    size_t cap = rs->n_members ? rs->n_members : 1;
    out->points = calloc(cap, sizeof *out->points);
    size_t *idx = malloc(cap * sizeof *idx);
    double *buf = malloc(cap * sizeof *buf);
    if (!out->points || !idx || !buf) {
        free(idx);
        free(buf);
        ws_scaling_free(out);
        return wsi_error(err, WS_ENOMEM, "scaling: out of memory");
    }
    /* one row per distinct (series, point); series numbered in the order members list them */
    int n_series = 0;
    for (size_t m = 0; m < rs->n_members; m++) {
        const ws_member *mb = &rs->members[m];
        int seen = 0;
        for (size_t p = 0; p < out->n_points && !seen; p++)
            seen = !strcmp(out->points[p].series, mb->series) && out->points[p].point == mb->point;
        if (seen) continue;
        const ws_run *r = &rs->runs[mb->run];
        ws_series_point *sp = &out->points[out->n_points++];
        snprintf(sp->series, sizeof sp->series, "%s", mb->series);
        snprintf(sp->scaling, sizeof sp->scaling, "%s", mb->scaling);
        snprintf(sp->device_kind, sizeof sp->device_kind, "%s", r->device_kind);
        sp->growing = mb->growing;
        sp->point = mb->point;
        sp->gpus = r->world;
        sp->global_batch = r->global_batch;
        sp->local_batch = r->local_batch;
        sp->accum = r->accum;
        sp->data_fraction = r->data_fraction;
        sp->series_index = -1;
        for (size_t q = 0; q + 1 < out->n_points && sp->series_index < 0; q++)
            if (!strcmp(out->points[q].series, sp->series)) sp->series_index = out->points[q].series_index;
        if (sp->series_index < 0) sp->series_index = n_series++;
    }
    double *jps = malloc((out->n_points ? out->n_points : 1) * sizeof *jps); /* mean J per sample */
    if (!jps) {
        free(idx);
        free(buf);
        ws_scaling_free(out);
        return wsi_error(err, WS_ENOMEM, "scaling: out of memory");
    }
    for (size_t p = 0; p < out->n_points; p++) {
        ws_series_point *sp = &out->points[p];
        size_t n = point_runs(rs, sp->series, sp->point, idx);
        sp->n_runs = n;
        sp->time_s = summarize(rs, idx, n, v_time, buf);
        sp->device_hours = summarize(rs, idx, n, v_dh, buf);
        sp->energy_kwh = summarize(rs, idx, n, v_kwh, buf);
        sp->gpu_kwh = summarize(rs, idx, n, v_gpu, buf);
        sp->cpu_kwh = summarize(rs, idx, n, v_cpu, buf);
        sp->dram_kwh = summarize(rs, idx, n, v_dram, buf);
        sp->sacct_kwh = summarize(rs, idx, n, v_sacct, buf);
        sp->samples_per_device_hour = summarize(rs, idx, n, v_sph, buf);
        sp->updates_per_device_hour = summarize(rs, idx, n, v_uph, buf);
        sp->kwh_per_device_hour = summarize(rs, idx, n, v_kph, buf);
        sp->gpu_power_w = summarize(rs, idx, n, ws_run_gpu_power_w, buf);
        sp->socket_power_w = summarize(rs, idx, n, ws_run_socket_power_w, buf);
        jps[p] = summarize(rs, idx, n, v_jps, buf).mean;
        for (size_t i = 0; i < n; i++)
            buf[i] = ws_run_metric(&rs->runs[idx[i]], rs->metric);
        sp->metric = ws_summarize(buf, n);
    }
    /* relative to each series' smallest GPU count, per repetition against the base's mean */
    for (size_t p = 0; p < out->n_points; p++) {
        ws_series_point *sp = &out->points[p];
        size_t b = out->n_points;
        for (size_t q = 0; q < out->n_points; q++) {
            const ws_series_point *c = &out->points[q];
            if (!strcmp(c->series, sp->series) && c->n_runs > 0 &&
                (b == out->n_points || c->gpus < out->points[b].gpus))
                b = q;
        }
        size_t n = point_runs(rs, sp->series, sp->point, idx);
        if (b == out->n_points || n == 0) {
            sp->parallel_efficiency = sp->speedup = sp->energy_efficiency = ws_summarize(NULL, 0);
            continue;
        }
        const ws_series_point *base = &out->points[b];
        double thr_b = base->samples_per_device_hour.mean;
        for (size_t i = 0; i < n; i++)
            buf[i] = v_sph(&rs->runs[idx[i]]) / thr_b;
        sp->parallel_efficiency = ws_summarize(buf, n);
        for (size_t i = 0; i < n; i++)
            buf[i] *= (double)sp->gpus / base->gpus;
        sp->speedup = ws_summarize(buf, n);
        for (size_t i = 0; i < n; i++)
            buf[i] = jps[b] / v_jps(&rs->runs[idx[i]]);
        sp->energy_efficiency = ws_summarize(buf, n);
    }
    free(jps);
    qsort(out->points, out->n_points, sizeof *out->points, cmp_point);
    free(idx);
    free(buf);
    return WS_OK;
}

void ws_scaling_free(ws_scaling_table *t) {
    if (!t) return;
    free(t->points);
    memset(t, 0, sizeof *t);
}

/* study/power_series.c - power*.csv into downsampled per-device series; contract in
 * study/power_series.h. Two passes over the file: the first finds each device's time span
 * (so that windows are equal), the second averages the samples of each window. */
#include "study/power_series.h"
#include "core/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char id[96], kind[8];
    double t_min, t_max;
    double *sum;
    long *count;
} device;

typedef struct {
    device *dev;
    size_t n, cap;
} devices;

static device *find_or_add(devices *d, const char *id, const char *kind) {
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->dev[i].id, id)) return &d->dev[i];
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        device *more = realloc(d->dev, cap * sizeof *more);
        if (!more) return NULL;
        d->dev = more;
        d->cap = cap;
    }
    device *v = &d->dev[d->n++];
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "%s", id);
    snprintf(v->kind, sizeof v->kind, "%s", kind);
    v->t_min = INFINITY;
    v->t_max = -INFINITY;
    return v;
}

/* One row "t,device,kind,power,energy" -> fields; 0 ok, 1 header, -1 malformed. */
static int parse_row(char *line, double *t, char **id, char **kind, double *power) {
    line[strcspn(line, "\r\n")] = 0;
    if (!strncmp(line, "time_s,", 7)) return 1;
    char *save = NULL, *f[5];
    int k = 0;
    for (char *tok = strtok_r(line, ",", &save); tok && k < 5; tok = strtok_r(NULL, ",", &save))
        f[k++] = tok;
    if (k < 4) return -1;
    char *end = NULL;
    *t = strtod(f[0], &end);
    if (end == f[0]) return -1;
    *power = strtod(f[3], &end);
    if (end == f[3]) return -1;
    *id = f[1];
    *kind = f[2];
    return 0;
}

/* Reads the file once; pass 0 records spans, pass 1 fills windows. */
static ws_status pass(FILE *f, const char *path, devices *d, int which, size_t max_points, ws_error *err) {
    char line[1024];
    long lineno = 0;
    double offset = 0, last = 0;
    int seen_data = 0;
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        double t, p;
        char *id, *kind;
        int r = parse_row(line, &t, &id, &kind, &p);
        if (r < 0)
            return wsi_error(err, WS_EFORMAT, "%s:%ld: not a power sample row (time_s,device,kind,power_w,energy_j)",
                             path, lineno);
        if (r == 1) {
            if (seen_data) offset = last; /* a resumed session starts where the last one ended */
            continue;
        }
        seen_data = 1;
        t += offset;
        if (t > last) last = t;
        if (!isfinite(p) || !isfinite(t)) continue;
        device *v = find_or_add(d, id, kind);
        if (!v) return wsi_error(err, WS_ENOMEM, "%s: out of memory", path);
        if (which == 0) {
            if (t < v->t_min) v->t_min = t;
            if (t > v->t_max) v->t_max = t;
            continue;
        }
        if (!v->sum) continue; /* appeared in pass 1 only: cannot happen with an unchanged file */
        double span = v->t_max - v->t_min;
        size_t b = span > 0 ? (size_t)((t - v->t_min) / span * (double)max_points) : 0;
        if (b >= max_points) b = max_points - 1;
        v->sum[b] += p;
        v->count[b]++;
    }
    if (ferror(f)) return wsi_error(err, WS_EIO, "read %s: %s", path, strerror(errno));
    return WS_OK;
}

ws_status ws_power_series_read(const char *path, int node, size_t max_points, ws_power_point **points, size_t *n,
                               ws_error *err) {
    if (max_points < 1) max_points = 1;
    FILE *f = fopen(path, "r");
    if (!f) return wsi_error(err, WS_EIO, "open %s: %s", path, strerror(errno));
    devices d = {0};
    ws_status st = pass(f, path, &d, 0, max_points, err);
    for (size_t i = 0; st == WS_OK && i < d.n; i++) {
        d.dev[i].sum = calloc(max_points, sizeof(double));
        d.dev[i].count = calloc(max_points, sizeof(long));
        if (!d.dev[i].sum || !d.dev[i].count) st = wsi_error(err, WS_ENOMEM, "%s: out of memory", path);
    }
    if (st == WS_OK) st = pass(f, path, &d, 1, max_points, err);
    fclose(f);
    size_t filled = 0;
    for (size_t i = 0; st == WS_OK && i < d.n; i++)
        for (size_t b = 0; b < max_points; b++)
            filled += d.dev[i].count[b] > 0;
    ws_power_point *out = NULL;
    if (st == WS_OK && filled) {
        if (!(out = realloc(*points, (*n + filled) * sizeof *out)))
            st = wsi_error(err, WS_ENOMEM, "%s: out of memory", path);
        else
            *points = out;
    }
    for (size_t i = 0; st == WS_OK && filled && i < d.n; i++) {
        device *v = &d.dev[i];
        double width = (v->t_max - v->t_min) / (double)max_points;
        for (size_t b = 0; b < max_points; b++) {
            if (!v->count[b]) continue;
            ws_power_point *pt = &out[(*n)++];
            pt->node = node;
            snprintf(pt->device, sizeof pt->device, "%s", v->id);
            snprintf(pt->kind, sizeof pt->kind, "%s", v->kind);
            pt->t_s = width > 0 ? v->t_min + ((double)b + 0.5) * width : v->t_min;
            pt->power_w = v->sum[b] / (double)v->count[b];
        }
    }
    for (size_t i = 0; i < d.n; i++) {
        free(d.dev[i].sum);
        free(d.dev[i].count);
    }
    free(d.dev);
    return st;
}

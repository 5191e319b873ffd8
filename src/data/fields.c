/* data/fields.c - the parts of data/fields.h that need no HDF5: split folder names, the
 * evenly spread time fraction, the sampler over it, preparing a dataset folder, the
 * statistics (accumulated and written as .npy), and the stand-ins that explain a build
 * without HDF5. The reader is data/fields_h5.c, the writer data/fields_write.c. */
#include "data/fields.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "data/npy.h"
#include "ws_config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *ws_fields_split_dir(ws_fields_split split) {
    switch (split) {
    case WS_FIELDS_TRAIN: return "train";
    case WS_FIELDS_VALID: return "test";          /* FourCastNet's validation folder */
    case WS_FIELDS_TEST: return "out_of_sample";
    }
    return NULL;
}

/* Bit reversal of v in `bits` bits. */
static uint64_t reverse_bits(uint64_t v, int bits) {
    uint64_t r = 0;
    for (int b = 0; b < bits; b++) r |= ((v >> b) & 1u) << (bits - 1 - b);
    return r;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

ws_status ws_fields_subset(const ws_fields *f, double fraction, int64_t **out, size_t *n, ws_error *err) {
    *out = NULL;
    *n = 0;
    if (!(fraction > 0.0 && fraction <= 1.0))
        return wsi_error(err, WS_EINVAL, "ws_fields_subset: fraction %g is outside (0, 1]; 1 uses every time", fraction);
    const ws_fields_info *info = ws_fields_info_get(f);
    const int32_t *file = ws_fields_labels(f);
    int64_t *keep = malloc((info->count ? info->count : 1) * sizeof *keep);
    if (!keep) return wsi_error(err, WS_ENOMEM, "ws_fields_subset: out of memory for %zu indices", info->count);
    size_t kept = 0;
    for (size_t start = 0; start < info->count;) {
        size_t end = start;
        while (end < info->count && file[end] == file[start]) end++; /* one year file: [start, end) */
        uint64_t len = end - start;
        uint64_t take = (uint64_t)floor(fraction * (double)len + 0.5);
        if (take < 1) take = 1;
        if (take > len) take = len;
        int bits = 0;
        while (((uint64_t)1 << bits) < len) bits++;
        size_t first = kept;
        /* the bit-reversal order of [0, 2^bits), skipping values >= len: a permutation of
         * the year whose every prefix is spread evenly */
        for (uint64_t k = 0; kept - first < take; k++) {
            uint64_t t = reverse_bits(k, bits);
            if (t < len) keep[kept++] = (int64_t)(start + t);
        }
        qsort(keep + first, kept - first, sizeof *keep, cmp_i64);
        start = end;
    }
    *out = keep;
    *n = kept;
    return WS_OK;
}

ws_status ws_fields_sampler_open(ws_sampler **out, const ws_fields *f, const ws_sampler_opts *opts, ws_error *err) {
    *out = NULL;
    int64_t *subset;
    size_t n;
    ws_status st = ws_fields_subset(f, opts->fraction, &subset, &n, err);
    if (st != WS_OK) return st;
    ws_sampler_opts o = *opts;
    o.fraction = 1.0;
    st = ws_sampler_open_subset(out, subset, n, &o, err);
    free(subset);
    return st;
}

ws_status ws_fields_write_stats(const char *dir, int c, int h, int w, const double *mean, const double *std,
                                const float *time_means, ws_error *err) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return wsi_error(err, WS_EIO, "mkdir %s: %s", dir, strerror(errno));
    char path[4096];
    uint64_t dims[4] = {1, (uint64_t)c, 1, 1};
    snprintf(path, sizeof path, "%s/global_means.npy", dir);
    ws_status st = ws_npy_write(path, 1, 4, dims, mean, err);
    if (st != WS_OK) return st;
    snprintf(path, sizeof path, "%s/global_stds.npy", dir);
    if ((st = ws_npy_write(path, 1, 4, dims, std, err)) != WS_OK) return st;
    if (!time_means) return WS_OK;
    uint64_t tdims[4] = {1, (uint64_t)c, (uint64_t)h, (uint64_t)w};
    snprintf(path, sizeof path, "%s/time_means.npy", dir);
    return ws_npy_write(path, 0, 4, tdims, time_means, err);
}

ws_status ws_fields_prepare_root(const char *root, int overwrite, ws_error *err) {
    ws_status made = ws_make_dirs(root, err); /* mkdir -p: parents too */
    if (made != WS_OK) return made;
    for (int s = WS_FIELDS_TRAIN; s <= WS_FIELDS_TEST; s++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, ws_fields_split_dir((ws_fields_split)s));
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        int found = 0;
        while (!found && (e = readdir(d))) {
            size_t n = strlen(e->d_name);
            found = n > 3 && !strcmp(e->d_name + n - 3, ".h5");
        }
        closedir(d);
        if (found && !overwrite)
            return wsi_error(err, WS_EINVAL, "%s already holds year files; pick another folder or overwrite (--force)",
                             dir);
    }
    return WS_OK;
}

struct ws_fields_stats {
    int c, h, w;
    long n;
    double *shift, *sum, *sum2; /* [c] */
    double *time_sum;           /* [c, h, w] */
};

ws_status ws_fields_stats_open(ws_fields_stats **out, int c, int h, int w, ws_error *err) {
    *out = NULL;
    ws_fields_stats *s = calloc(1, sizeof *s);
    size_t chw = (size_t)c * h * w;
    if (s) {
        s->c = c;
        s->h = h;
        s->w = w;
        s->shift = calloc((size_t)c, sizeof *s->shift);
        s->sum = calloc((size_t)c, sizeof *s->sum);
        s->sum2 = calloc((size_t)c, sizeof *s->sum2);
        s->time_sum = calloc(chw, sizeof *s->time_sum);
    }
    if (!s || !s->shift || !s->sum || !s->sum2 || !s->time_sum) {
        ws_fields_stats_close(s);
        return wsi_error(err, WS_ENOMEM, "ws_fields_stats_open: out of memory for %dx%dx%d", c, h, w);
    }
    *out = s;
    return WS_OK;
}

void ws_fields_stats_add(ws_fields_stats *s, const float *x) {
    size_t plane = (size_t)s->h * s->w;
    for (int c = 0; c < s->c; c++) {
        const float *p = x + (size_t)c * plane;
        if (s->n == 0) {
            double m = 0;
            for (size_t k = 0; k < plane; k++) m += p[k];
            s->shift[c] = m / plane;
        }
        double a = 0, a2 = 0;
        for (size_t k = 0; k < plane; k++) {
            double d = p[k] - s->shift[c];
            a += d;
            a2 += d * d;
            s->time_sum[(size_t)c * plane + k] += p[k];
        }
        s->sum[c] += a;
        s->sum2[c] += a2;
    }
    s->n++;
}

long ws_fields_stats_count(const ws_fields_stats *s) { return s->n; }

ws_status ws_fields_stats_write(const ws_fields_stats *s, const char *dir, ws_error *err) {
    if (s->n == 0) return wsi_error(err, WS_EINVAL, "ws_fields_stats_write(%s): no sample was added", dir);
    size_t plane = (size_t)s->h * s->w, chw = (size_t)s->c * plane;
    double *mean = malloc((size_t)s->c * sizeof *mean), *std = malloc((size_t)s->c * sizeof *std);
    float *tm = malloc(chw * sizeof *tm);
    ws_status st;
    if (!mean || !std || !tm) {
        st = wsi_error(err, WS_ENOMEM, "ws_fields_stats_write(%s): out of memory", dir);
    } else {
        for (int c = 0; c < s->c; c++) {
            double cnt = (double)s->n * plane, d = s->sum[c] / cnt, var = s->sum2[c] / cnt - d * d;
            mean[c] = s->shift[c] + d;
            std[c] = sqrt(var > 0 ? var : 0);
        }
        for (size_t k = 0; k < chw; k++) tm[k] = (float)(s->time_sum[k] / s->n);
        st = ws_fields_write_stats(dir, s->c, s->h, s->w, mean, std, tm, err);
    }
    free(mean);
    free(std);
    free(tm);
    return st;
}

void ws_fields_stats_close(ws_fields_stats *s) {
    if (!s) return;
    free(s->shift);
    free(s->sum);
    free(s->sum2);
    free(s->time_sum);
    free(s);
}

#if !WS_HAVE_HDF5
/* Built without HDF5: everything that would touch a file says how to get it. */
#define NO_HDF5 "this wattscale was built without HDF5: apt-get install libhdf5-dev and rebuild"

ws_fields_opts ws_fields_opts_default(void) {
    return (ws_fields_opts){.max_steps = 1, .stride = 1};
}
ws_status ws_fields_open(ws_fields **out, const char *root, ws_fields_split split, const ws_fields_opts *opts,
                         ws_error *err) {
    (void)split;
    (void)opts;
    *out = NULL;
    return wsi_error(err, WS_ENOTSUP, "ws_fields_open(%s): " NO_HDF5, root);
}
/* No dataset can exist without HDF5, so these are never reached with a valid handle. */
const ws_fields_info *ws_fields_info_get(const ws_fields *f) {
    (void)f;
    return NULL;
}
const int32_t *ws_fields_labels(const ws_fields *f) {
    (void)f;
    return NULL;
}
ws_status ws_fields_load(const ws_fields *f, const int64_t *indices, size_t n, int steps, float *x, float *y,
                         ws_error *err) {
    (void)f, (void)indices, (void)n, (void)steps, (void)x, (void)y;
    return wsi_error(err, WS_ENOTSUP, "ws_fields_load: " NO_HDF5);
}
ws_status ws_fields_climatology(const ws_fields *f, float *clim, ws_error *err) {
    (void)f, (void)clim;
    return wsi_error(err, WS_ENOTSUP, "ws_fields_climatology: " NO_HDF5);
}
void ws_fields_sample_time(const ws_fields *f, int64_t index, int *file, int *time) {
    (void)f, (void)index;
    *file = *time = -1;
}
void ws_fields_close(ws_fields *f) { (void)f; }
ws_status ws_fields_open_synthetic(ws_fields **out, const ws_fields_synthetic_opts *so, ws_fields_split split,
                                   const ws_fields_opts *opts, ws_error *err) {
    (void)so, (void)split, (void)opts;
    *out = NULL;
    return wsi_error(err, WS_ENOTSUP, "ws_fields_open_synthetic: " NO_HDF5);
}
const float *ws_fields_synthetic_pool(const ws_fields *f, int *pool) {
    (void)f;
    *pool = 0;
    return NULL;
}
int ws_fields_synthetic_slot(const ws_fields *f, int64_t index, int step) {
    (void)f, (void)index, (void)step;
    return 0;
}
ws_status ws_fields_writer_open(ws_fields_writer **out, const char *path, int times, int c, int h, int w,
                                const char *const *names, const char *const *units, const double *lat_deg,
                                const double *lon_deg, double dt_hours, ws_error *err) {
    (void)times, (void)c, (void)h, (void)w, (void)names, (void)units, (void)lat_deg, (void)lon_deg, (void)dt_hours;
    *out = NULL;
    return wsi_error(err, WS_ENOTSUP, "ws_fields_writer_open(%s): " NO_HDF5, path);
}
ws_status ws_fields_writer_attr_double(ws_fields_writer *wr, const char *name, double value, ws_error *err) {
    (void)wr, (void)name, (void)value;
    return wsi_error(err, WS_ENOTSUP, NO_HDF5);
}
ws_status ws_fields_writer_attr_string(ws_fields_writer *wr, const char *name, const char *value, ws_error *err) {
    (void)wr, (void)name, (void)value;
    return wsi_error(err, WS_ENOTSUP, NO_HDF5);
}
ws_status ws_fields_writer_put(ws_fields_writer *wr, int t, const float *sample, ws_error *err) {
    (void)wr, (void)t, (void)sample;
    return wsi_error(err, WS_ENOTSUP, NO_HDF5);
}
ws_status ws_fields_writer_close(ws_fields_writer *wr, ws_error *err) {
    (void)wr, (void)err;
    return WS_OK;
}
void ws_fields_writer_abort(ws_fields_writer *wr) { (void)wr; }
#endif

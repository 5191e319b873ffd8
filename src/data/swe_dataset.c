/* data/swe_dataset.c - ws_swe_dataset_generate: runs the shallow-water model and writes
 * its 6-hourly fields in FourCastNet's layout with their statistics; contract in
 * data/swe_dataset.h. Statistics accumulate in double with a per-channel shift (the first
 * sample's channel mean), so the variance of a field far from 0 (z ~ 5e4 m^2/s^2) does not
 * cancel away. */
#include "data/swe_dataset.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "data/fields.h"
#include "wattscale/wattscale.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SAMPLE_S 21600.0
#define MIN_FILE_SAMPLES 3 /* a sample and two targets: the two-step fine-tuning */

ws_swe_dataset_opts ws_swe_dataset_opts_default(void) {
    return (ws_swe_dataset_opts){.out_dir = NULL, .years = {1, 1, 1}, .spinup_days = 60, .overwrite = 0,
                                 .model = ws_swe_opts_default()};
}

typedef struct {
    int c, h, w;
    long n;
    double *shift, *sum, *sum2; /* [c] */
    double *time_sum;           /* [c, h, w] */
} stats_acc;

static void stats_add(stats_acc *s, const float *x) {
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

static ws_status mkdir_p(const char *path, ws_error *err) {
    if (mkdir(path, 0777) != 0 && errno != EEXIST) return wsi_error(err, WS_EIO, "mkdir %s: %s", path, strerror(errno));
    return WS_OK;
}

static int holds_h5(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        found = n > 3 && !strcmp(e->d_name + n - 3, ".h5");
    }
    closedir(d);
    return found;
}

/* Samples in file f of a split of `years` years: whole years, the remainder last. */
static long file_samples(double years, int f) {
    long total = lround(years * WS_SWE_SAMPLES_PER_YEAR);
    long left = total - (long)f * WS_SWE_SAMPLES_PER_YEAR;
    return left > WS_SWE_SAMPLES_PER_YEAR ? WS_SWE_SAMPLES_PER_YEAR : left;
}

static ws_status check(const ws_swe_dataset_opts *o, ws_error *err) {
    if (!o->out_dir || !o->out_dir[0]) return wsi_error(err, WS_EINVAL, "ws_swe_dataset_generate: no output folder");
    if (!(o->years[0] > 0) || !(o->years[1] >= 0) || !(o->years[2] >= 0) || o->years[0] + o->years[1] + o->years[2] > 1e4)
        return wsi_error(err, WS_EINVAL, "ws_swe_dataset_generate: years %g+%g+%g: training must be > 0, validation "
                         "and test >= 0", o->years[0], o->years[1], o->years[2]);
    if (!(o->spinup_days >= 0 && o->spinup_days < 1e5))
        return wsi_error(err, WS_EINVAL, "ws_swe_dataset_generate: spin-up %g days is not in [0, 1e5)", o->spinup_days);
    for (int s = 0; s < 3; s++) {
        long total = lround(o->years[s] * WS_SWE_SAMPLES_PER_YEAR);
        long last = total % WS_SWE_SAMPLES_PER_YEAR;
        if ((total > 0 && total < MIN_FILE_SAMPLES) || (last > 0 && last < MIN_FILE_SAMPLES && total > last))
            return wsi_error(err, WS_EINVAL, "ws_swe_dataset_generate: %g years leave a file of fewer than %d "
                             "6-hourly samples; use whole years or at least %d samples more", o->years[s],
                             MIN_FILE_SAMPLES, MIN_FILE_SAMPLES);
    }
    return WS_OK;
}

static ws_status write_attrs(ws_fields_writer *wr, const ws_swe_opts *m, double start_day, int year, ws_error *err) {
    ws_status st = ws_fields_writer_attr_string(wr, "source", "wattscale swe", err);
    if (st == WS_OK) st = ws_fields_writer_attr_string(wr, "wattscale_version", ws_version(), err);
    if (st == WS_OK) st = ws_fields_writer_attr_double(wr, "start_day", start_day, err);
    if (st == WS_OK) st = ws_fields_writer_attr_double(wr, "year", year, err);
    size_t n;
    const ws_swe_param *p = ws_swe_params(&n);
    for (size_t k = 0; k < n && st == WS_OK; k++) {
        char name[80];
        snprintf(name, sizeof name, "swe.%s", p[k].name);
        if (p[k].kind == 'u') { /* a 64-bit seed does not fit a double: text */
            char v[32];
            snprintf(v, sizeof v, "%llu", (unsigned long long)m->seed);
            st = ws_fields_writer_attr_string(wr, name, v, err);
        } else {
            st = ws_fields_writer_attr_double(wr, name, ws_swe_param_get(m, &p[k]), err);
        }
    }
    return st;
}

ws_status ws_swe_dataset_generate(const ws_swe_dataset_opts *o, ws_swe_dataset_report *report, ws_error *err) {
    memset(report, 0, sizeof *report);
    ws_status st = check(o, err);
    if (st != WS_OK) return st;
    double t0 = ws_now_s();
    const char *split_dir[3] = {ws_fields_split_dir(WS_FIELDS_TRAIN), ws_fields_split_dir(WS_FIELDS_VALID),
                                ws_fields_split_dir(WS_FIELDS_TEST)};
    char path[4096];
    if ((st = mkdir_p(o->out_dir, err)) != WS_OK) return st;
    for (int s = 0; s < 3; s++) {
        snprintf(path, sizeof path, "%s/%s", o->out_dir, split_dir[s]);
        if (holds_h5(path) && !o->overwrite)
            return wsi_error(err, WS_EINVAL, "ws_swe_dataset_generate: %s already holds year files; pick another "
                             "folder or overwrite (--force)", path);
    }
    ws_swe *m;
    if ((st = ws_swe_open(&m, &o->model, err)) != WS_OK) return st;
    int c = WS_SWE_CHANNELS, h = o->model.nlat, w = o->model.nlon;
    size_t plane = (size_t)h * w, chw = (size_t)c * plane;
    float *x = malloc(chw * sizeof *x);
    double *lat = malloc((size_t)h * sizeof *lat), *lon = malloc((size_t)w * sizeof *lon);
    stats_acc acc = {.c = c, .h = h, .w = w};
    acc.shift = calloc((size_t)c, sizeof(double));
    acc.sum = calloc((size_t)c, sizeof(double));
    acc.sum2 = calloc((size_t)c, sizeof(double));
    acc.time_sum = calloc(chw, sizeof(double));
    float *time_means = malloc(chw * sizeof *time_means);
    double *mean = malloc((size_t)c * sizeof *mean), *std = malloc((size_t)c * sizeof *std);
    ws_fields_writer *wr = NULL;
    if (!x || !lat || !lon || !acc.shift || !acc.sum || !acc.sum2 || !acc.time_sum || !time_means || !mean || !std) {
        st = wsi_error(err, WS_ENOMEM, "ws_swe_dataset_generate: out of memory for a %dx%d grid", h, w);
        goto out;
    }
    ws_swe_geometry_view g = ws_swe_geometry(m);
    for (int j = 0; j < h; j++) lat[j] = g.lat_c[h - 1 - j] * 180.0 / 3.14159265358979323846; /* north first */
    for (int i = 0; i < w; i++) lon[i] = g.lon_c[i] * 180.0 / 3.14159265358979323846;
    const char *names[WS_SWE_CHANNELS], *units[WS_SWE_CHANNELS];
    for (int k = 0; k < c; k++) {
        names[k] = ws_swe_channel_name(k);
        units[k] = ws_swe_channel_units(k);
    }
    report->dt_s = ws_swe_dt_s(m);
    ws_log(WS_LOG_INFO, "swe: %dx%d grid, dt %.1f s, spin-up %.0f days", h, w, report->dt_s, o->spinup_days);
    if ((st = ws_swe_step(m, lround(round(o->spinup_days * 4.0) * SAMPLE_S / report->dt_s), err)) != WS_OK) goto out;
    int year = 0;
    for (int s = 0; s < 3 && st == WS_OK; s++) {
        if (lround(o->years[s] * WS_SWE_SAMPLES_PER_YEAR) == 0) continue;
        snprintf(path, sizeof path, "%s/%s", o->out_dir, split_dir[s]);
        if ((st = mkdir_p(path, err)) != WS_OK) break;
        for (int f = 0; st == WS_OK; f++) {
            long n = file_samples(o->years[s], f);
            if (n <= 0) break;
            year++;
            snprintf(path, sizeof path, "%s/%s/%04d.h5", o->out_dir, split_dir[s], year);
            st = ws_fields_writer_open(&wr, path, (int)n, c, h, w, names, units, lat, lon, SAMPLE_S / 3600.0, err);
            if (st == WS_OK) st = write_attrs(wr, &o->model, ws_swe_time_s(m) / 86400.0, year, err);
            long steps_per_sample = lround(SAMPLE_S / report->dt_s);
            for (long t = 0; t < n && st == WS_OK; t++) {
                ws_swe_fields(m, x);
                if (s == 0) stats_add(&acc, x);
                st = ws_fields_writer_put(wr, (int)t, x, err);
                if (st == WS_OK) st = ws_swe_step(m, steps_per_sample, err);
            }
            if (st == WS_OK) {
                st = ws_fields_writer_close(wr, err);
                wr = NULL;
            }
            if (st != WS_OK) break;
            report->files[s]++;
            report->samples[s] += n;
            ws_log(WS_LOG_INFO, "swe: wrote %s (%ld samples, model day %.0f, %.1f s so far)", path, n,
                   ws_swe_time_s(m) / 86400.0, ws_now_s() - t0);
        }
    }
    if (st != WS_OK) goto out;
    for (int k = 0; k < c; k++) {
        double cnt = (double)acc.n * plane, d = acc.sum[k] / cnt;
        mean[k] = acc.shift[k] + d;
        double var = acc.sum2[k] / cnt - d * d;
        std[k] = sqrt(var > 0 ? var : 0);
    }
    for (size_t k = 0; k < chw; k++) time_means[k] = (float)(acc.time_sum[k] / acc.n);
    snprintf(path, sizeof path, "%s/stats", o->out_dir);
    st = ws_fields_write_stats(path, c, h, w, mean, std, time_means, err);
out:
    ws_fields_writer_abort(wr);
    report->wall_s = ws_now_s() - t0;
    ws_swe_close(m);
    free(x);
    free(lat);
    free(lon);
    free(acc.shift);
    free(acc.sum);
    free(acc.sum2);
    free(acc.time_sum);
    free(time_means);
    free(mean);
    free(std);
    return st;
}

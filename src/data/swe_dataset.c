/* data/swe_dataset.c - ws_swe_dataset_generate: runs the shallow-water model and writes
 * its 6-hourly fields in FourCastNet's layout with their statistics; contract in
 * data/swe_dataset.h. The statistics accumulate in ws_fields_stats (data/fields.c). */
#include "data/swe_dataset.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "data/fields.h"
#include "wattscale/wattscale.h"

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

/* mkdir -p: `--out out/swe` works before out/ exists */
static ws_status make_dir(const char *path, ws_error *err) { return ws_make_dirs(path, err); }

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
    if ((st = ws_fields_prepare_root(o->out_dir, o->overwrite, err)) != WS_OK) return st;
    ws_swe *m;
    if ((st = ws_swe_open(&m, &o->model, err)) != WS_OK) return st;
    int c = WS_SWE_CHANNELS, h = o->model.nlat, w = o->model.nlon;
    size_t chw = (size_t)c * h * w;
    float *x = malloc(chw * sizeof *x);
    double *lat = malloc((size_t)h * sizeof *lat), *lon = malloc((size_t)w * sizeof *lon);
    ws_fields_stats *acc = NULL;
    ws_fields_writer *wr = NULL;
    if (!x || !lat || !lon) {
        st = wsi_error(err, WS_ENOMEM, "ws_swe_dataset_generate: out of memory for a %dx%d grid", h, w);
        goto out;
    }
    if ((st = ws_fields_stats_open(&acc, c, h, w, err)) != WS_OK) goto out;
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
        if ((st = make_dir(path, err)) != WS_OK) break;
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
                if (s == 0) ws_fields_stats_add(acc, x);
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
    snprintf(path, sizeof path, "%s/stats", o->out_dir);
    st = ws_fields_stats_write(acc, path, err);
out:
    ws_fields_writer_abort(wr);
    report->wall_s = ws_now_s() - t0;
    ws_swe_close(m);
    free(x);
    free(lat);
    free(lon);
    ws_fields_stats_close(acc);
    return st;
}

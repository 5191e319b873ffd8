/* cli/cmd_data.c - `wattscale data swe` (generate the shallow-water dataset in
 * FourCastNet's layout), `wattscale data netcdf` (convert real NetCDF fields into it) and
 * `wattscale data check` (open a dataset as training would, print what it holds and the
 * persistence baseline's skill).
 * defines: ws_cmd_data. Exit status: 0 done, 1 failed, 2 bad flags. */
#include "cli/commands.h"
#include "ws_config.h"
#include "data/fields.h"
#include "train/forecast_metrics.h"
#if WS_HAVE_FFTW && WS_HAVE_HDF5
#include "data/swe_dataset.h"
#endif
#if WS_HAVE_NETCDF && WS_HAVE_HDF5
#include "data/netcdf_import.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: wattscale data swe --out DIR [--grid HxW] [--years TRAIN+VALID+TEST] [--seed N]\n"
            "                          [--spinup-days D] [--cfl X] [--threads N] [--param NAME=VALUE]...\n"
            "                          [--force]\n"
            "       wattscale data netcdf --in FILE --vars A,B,... --out DIR [--level K]\n"
            "                             [--split TRAIN+VALID+TEST] [--force]\n"
            "       wattscale data check DIR [--split train|valid|test] [--samples N] [--stats DIR]\n"
            "\n"
            "swe: runs the forced shallow-water model on the sphere (docs/weather-data.md) and writes\n"
            "6-hourly fields z, u, v, vo, d, t in FourCastNet's layout: DIR/train/, DIR/test/ (validation),\n"
            "DIR/out_of_sample/ (test), one NNNN.h5 per 1460-sample year with \"fields\" [time, channel,\n"
            "lat, lon] float32, and DIR/stats/{global_means,global_stds,time_means}.npy from the training\n"
            "years. Defaults: --grid 32x64 --years 1+1+1 --seed 0 --spinup-days 60. Years may be\n"
            "fractions (0.25+0.05+0.05 is a CI-sized set). --param sets any model option by name\n"
            "(e.g. --param jet_speed_m_s=50; a wrong name lists them all). Then checks the validation split.\n"
            "netcdf: each variable ([time, lat, lon], or [time, level, lat, lon] with --level) becomes a\n"
            "channel; the times are cut into contiguous parts (default --split 0.7+0.15+0.15), e.g.\n"
            "  --in /usr/share/ferret-vis/data/monthly_navy_winds.cdf --vars UWND,VWND (ferret-datasets).\n"
            "check: opens a split (default valid) as training does, prints channels, statistics and the\n"
            "latitude-weighted RMSE and ACC of persistence (forecast = input) over N samples spread over\n"
            "the split (default all).\n");
}

static ws_fields_split parse_split(const char *s, int *ok) {
    *ok = 1;
    if (!strcmp(s, "train")) return WS_FIELDS_TRAIN;
    if (!strcmp(s, "valid")) return WS_FIELDS_VALID;
    if (!strcmp(s, "test")) return WS_FIELDS_TEST;
    *ok = 0;
    return WS_FIELDS_TRAIN;
}

/* Prints the dataset and the persistence scores; returns the exit status. */
static int check_dataset(const char *root, ws_fields_split split, long max_samples, const char *stats_dir) {
    ws_error err = {0};
    ws_fields_opts fo = ws_fields_opts_default();
    fo.stats_dir = stats_dir;
    ws_fields *f;
    if (ws_fields_open(&f, root, split, &fo, &err) != WS_OK) {
        fprintf(stderr, "wattscale data check: %s\n", err.msg);
        return 1;
    }
    const ws_fields_info *in = ws_fields_info_get(f);
    printf("dataset %s (%s), split %s: %zu files, %zu samples of %dx%dx%d, dt %g h\n", root, in->source,
           ws_fields_split_dir(split), in->files, in->count, in->c, in->h, in->w, in->dt_hours);
    int rc = 0;
    size_t chw = (size_t)in->c * in->h * in->w;
    float *clim = malloc(chw * sizeof *clim), *x = malloc(chw * sizeof *x), *y = malloc(chw * sizeof *y);
    double *rmse = malloc((size_t)in->c * sizeof *rmse), *acc = malloc((size_t)in->c * sizeof *acc);
    int64_t *subset = NULL;
    size_t n = 0;
    ws_forecast_metrics *m = NULL;
    if (!clim || !x || !y || !rmse || !acc) {
        fprintf(stderr, "wattscale data check: out of memory\n");
        rc = 1;
        goto out;
    }
    int have_clim = ws_fields_climatology(f, clim, &err) == WS_OK;
    if (!have_clim) fprintf(stderr, "wattscale data check: no ACC: %s\n", err.msg);
    double fraction = max_samples > 0 && (size_t)max_samples < in->count ? (double)max_samples / in->count : 1.0;
    if (ws_fields_subset(f, fraction, &subset, &n, &err) != WS_OK ||
        ws_forecast_metrics_open(&m, in->c, in->h, in->w, in->lat_deg, in->mean, in->std, have_clim ? clim : NULL,
                                 &err) != WS_OK) {
        fprintf(stderr, "wattscale data check: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        if (ws_fields_load(f, &subset[k], 1, 1, x, y, &err) != WS_OK) {
            fprintf(stderr, "wattscale data check: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        ws_forecast_metrics_add(m, x, y, 1);
    }
    ws_forecast_metrics_result(m, rmse, acc);
    printf("persistence over %zu samples (forecast %g h = input; latitude-weighted, physical units):\n", n,
           in->dt_hours);
    printf("  %-8s %14s %14s %12s %10s %8s\n", "channel", "mean", "std", "rmse", "rmse/std", "acc");
    double norm = 0;
    for (int c = 0; c < in->c; c++) {
        printf("  %-8s %14.6g %14.6g %12.5g %10.4f %8.4f\n", in->channel_names[c], in->mean[c], in->std[c], rmse[c],
               rmse[c] / in->std[c], acc[c]);
        norm += rmse[c] / in->std[c];
    }
    printf("  mean rmse/std over channels (normalised units): %.4f\n", norm / in->c);
out:
    ws_forecast_metrics_close(m);
    free(subset);
    free(clim);
    free(x);
    free(y);
    free(rmse);
    free(acc);
    ws_fields_close(f);
    return rc;
}

static int cmd_check(int argc, char **argv) {
    const char *root = NULL, *stats = NULL;
    ws_fields_split split = WS_FIELDS_VALID;
    long samples = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--split") && v) split = parse_split(v, &ok), i++;
        else if (!strcmp(a, "--samples") && v) samples = strtol(v, NULL, 10), ok = samples > 0, i++;
        else if (!strcmp(a, "--stats") && v) stats = v, i++;
        else if (a[0] != '-' && !root) root = a;
        else ok = 0;
        if (!ok) {
            fprintf(stderr, "wattscale data check: bad argument '%s'%s\n", a, v ? "" : " (missing value?)");
            usage(stderr);
            return 2;
        }
    }
    if (!root) {
        fprintf(stderr, "wattscale data check: which dataset folder?\n");
        usage(stderr);
        return 2;
    }
    return check_dataset(root, split, samples, stats);
}

#if (WS_HAVE_FFTW || WS_HAVE_NETCDF) && WS_HAVE_HDF5
static int parse_years(const char *s, double y[3]) {
    char *end;
    for (int k = 0; k < 3; k++) {
        y[k] = strtod(s, &end);
        if (end == s) return 0;
        s = end;
        if (k < 2) {
            if (*s != '+') return 0;
            s++;
        }
    }
    return *s == '\0';
}

#endif

static int cmd_swe(int argc, char **argv) {
#if WS_HAVE_FFTW && WS_HAVE_HDF5
    ws_swe_dataset_opts o = ws_swe_dataset_opts_default();
    ws_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        char *end = NULL;
        if (!strcmp(a, "--out") && v) o.out_dir = v, i++;
        else if (!strcmp(a, "--grid") && v) ok = sscanf(v, "%dx%d", &o.model.nlat, &o.model.nlon) == 2, i++;
        else if (!strcmp(a, "--years") && v) ok = parse_years(v, o.years), i++;
        else if (!strcmp(a, "--seed") && v) o.model.seed = strtoull(v, &end, 10), ok = *end == '\0', i++;
        else if (!strcmp(a, "--spinup-days") && v) o.spinup_days = strtod(v, &end), ok = *end == '\0', i++;
        else if (!strcmp(a, "--cfl") && v) o.model.cfl = strtod(v, &end), ok = *end == '\0', i++;
        else if (!strcmp(a, "--threads") && v) o.model.threads = (int)strtol(v, &end, 10), ok = *end == '\0', i++;
        else if (!strcmp(a, "--force")) o.overwrite = 1;
        else if (!strcmp(a, "--param") && v) {
            char name[64];
            const char *eq = strchr(v, '=');
            ok = eq && (size_t)(eq - v) < sizeof name;
            if (ok) {
                memcpy(name, v, (size_t)(eq - v));
                name[eq - v] = '\0';
                if (ws_swe_param_set(&o.model, name, eq + 1, &err) != WS_OK) {
                    fprintf(stderr, "wattscale data swe: %s\n", err.msg);
                    return 2;
                }
            }
            i++;
        } else ok = 0;
        if (!ok) {
            fprintf(stderr, "wattscale data swe: bad argument '%s'%s%s\n", a, v ? " " : " (missing value)", v ? v : "");
            usage(stderr);
            return 2;
        }
    }
    if (!o.out_dir) {
        fprintf(stderr, "wattscale data swe: --out DIR is required\n");
        usage(stderr);
        return 2;
    }
    ws_swe_dataset_report r;
    ws_status st = ws_swe_dataset_generate(&o, &r, &err);
    if (st != WS_OK) {
        fprintf(stderr, "wattscale data swe: %s\n", err.msg);
        return st == WS_EINVAL ? 2 : 1;
    }
    printf("wrote %s: %ld+%ld+%ld samples in %d+%d+%d files (%dx%d, dt %.1f s) in %.1f s\n", o.out_dir, r.samples[0],
           r.samples[1], r.samples[2], r.files[0], r.files[1], r.files[2], o.model.nlat, o.model.nlon, r.dt_s,
           r.wall_s);
    if (r.samples[1] == 0) return 0;
    return check_dataset(o.out_dir, WS_FIELDS_VALID, 0, NULL);
#else
    (void)argc;
    (void)argv;
    fprintf(stderr, "wattscale data swe: this build lacks %s%s%s: apt-get install libhdf5-dev libfftw3-dev and "
            "rebuild\n", WS_HAVE_HDF5 ? "" : "HDF5", !WS_HAVE_HDF5 && !WS_HAVE_FFTW ? " and " : "",
            WS_HAVE_FFTW ? "" : "FFTW");
    return 1;
#endif
}

static int cmd_netcdf(int argc, char **argv) {
#if WS_HAVE_NETCDF && WS_HAVE_HDF5
    ws_netcdf_import_opts o = ws_netcdf_import_opts_default();
    char vars[4096] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        char *end = NULL;
        if (!strcmp(a, "--in") && v) o.in_path = v, i++;
        else if (!strcmp(a, "--out") && v) o.out_dir = v, i++;
        else if (!strcmp(a, "--vars") && v) ok = snprintf(vars, sizeof vars, "%s", v) < (int)sizeof vars, i++;
        else if (!strcmp(a, "--level") && v) o.level = (int)strtol(v, &end, 10), ok = *end == '\0', i++;
        else if (!strcmp(a, "--split") && v) ok = parse_years(v, o.split), i++;
        else if (!strcmp(a, "--force")) o.overwrite = 1;
        else ok = 0;
        if (!ok) {
            fprintf(stderr, "wattscale data netcdf: bad argument '%s'%s%s\n", a, v ? " " : " (missing value)", v ? v : "");
            usage(stderr);
            return 2;
        }
    }
    for (char *tok = strtok(vars, ","); tok && o.n_vars < WS_FIELDS_MAX_CHANNELS; tok = strtok(NULL, ","))
        o.vars[o.n_vars++] = tok;
    if (!o.in_path || !o.out_dir || o.n_vars == 0) {
        fprintf(stderr, "wattscale data netcdf: --in FILE, --vars A,B and --out DIR are required\n");
        usage(stderr);
        return 2;
    }
    ws_error err = {0};
    ws_netcdf_import_report r;
    ws_status st = ws_netcdf_import(&o, &r, &err);
    if (st != WS_OK) {
        fprintf(stderr, "wattscale data netcdf: %s\n", err.msg);
        return st == WS_EINVAL ? 2 : 1;
    }
    printf("wrote %s: %ld+%ld+%ld times of %dx%dx%d, dt %g h, %ld missing points filled\n", o.out_dir, r.times[0],
           r.times[1], r.times[2], r.c, r.h, r.w, r.dt_hours, r.filled);
    if (r.times[1] == 0) return 0;
    return check_dataset(o.out_dir, WS_FIELDS_VALID, 0, NULL);
#else
    (void)argc;
    (void)argv;
    fprintf(stderr, "wattscale data netcdf: this build lacks netCDF-C or HDF5: apt-get install libnetcdf-dev "
            "libhdf5-dev and rebuild\n");
    return 1;
#endif
}

int ws_cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "swe")) return cmd_swe(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "netcdf")) return cmd_netcdf(argc - 1, argv + 1);
    fprintf(stderr, "wattscale data: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

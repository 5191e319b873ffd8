/* data/fields_h5.c - the reader of FourCastNet's layout through the HDF5 C library:
 * ws_fields_open, ws_fields_info_get, ws_fields_load, ws_fields_climatology,
 * ws_fields_sample_time, ws_fields_labels, ws_fields_close, and the file-less synthetic
 * fields that share the handle (ws_fields_open_synthetic, ws_fields_synthetic_pool,
 * ws_fields_synthetic_slot). Contract, layout and the threading rule: data/fields.h; the HDF5-free parts (split names, fraction, sampler):
 * data/fields.c. Every HDF5 call holds the lock of data/h5util.h; the normalisation of a
 * loaded sample runs after the lock is released. */
#include <hdf5.h>

#include "data/fields.h"
#include "core/error.h"
#include "data/h5util.h"
#include "data/npy.h"
#include "core/rng.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ws_fields {
    ws_fields_info info;
    char dir[4096], stats_dir[4096];
    size_t nfiles;
    char **paths;
    hid_t *files, *dsets;
    int *times;           /* [nfiles] */
    int64_t *first;       /* [nfiles+1] first sample index of each file */
    int32_t *labels;      /* [count] file of each sample */
    int *chan;            /* [c] file channel of each output channel */
    int all_channels;     /* chan is 0..file_c-1: one read per time step */
    int row0, col0, stride;
    char **names;         /* [c] */
    const char **name_ptrs;
    double *lat, *lon, *mean, *std;
    float *pool;          /* synthetic: [pool_n, c, h, w] (no files) */
    int pool_n;
};

ws_fields_opts ws_fields_opts_default(void) {
    return (ws_fields_opts){.stats_dir = NULL, .max_steps = 1, .channels = NULL, .n_channels = 0,
                            .row0 = 0, .rows = 0, .col0 = 0, .cols = 0, .stride = 1};
}

static int has_suffix(const char *name, const char *suffix) {
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && !strcmp(name + n - s, suffix);
}

static int select_h5(const struct dirent *e) { return e->d_name[0] != '.' && has_suffix(e->d_name, ".h5"); }

/* ---- HDF5 helpers (lock held) ---- */

typedef struct {
    char *buf;
    size_t size, len;
} name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    name_list *l = data;
    int n = snprintf(l->buf + l->len, l->size - l->len, "%s%s", l->len ? ", " : "", name);
    if (n > 0 && l->len + (size_t)n < l->size) l->len += (size_t)n;
    return 0;
}

/* Reads attribute `name` of `obj` as n strings (fixed or variable length) into out[k]
 * (malloc'd). Returns 1 on success, 0 when absent or not strings of that count. */
static int read_string_attr(hid_t obj, const char *name, int n, char **out) {
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int ok = 0;
    hssize_t count = H5Sget_simple_extent_npoints(sp);
    if (H5Tget_class(t) == H5T_STRING && count == n) {
        if (H5Tis_variable_str(t) > 0) {
            char **v = calloc((size_t)n, sizeof *v);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            if (v && H5Aread(a, mt, v) >= 0) {
                ok = 1;
                for (int k = 0; k < n; k++) ok &= (out[k] = strdup(v[k] ? v[k] : "")) != NULL;
                H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
            }
            H5Tclose(mt);
            free(v);
        } else {
            size_t len = H5Tget_size(t);
            char *raw = calloc((size_t)n, len + 1);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, len);
            if (raw && H5Aread(a, mt, raw) >= 0) {
                ok = 1;
                for (int k = 0; k < n; k++) {
                    out[k] = calloc(1, len + 1);
                    if (!out[k]) {
                        ok = 0;
                        continue;
                    }
                    memcpy(out[k], raw + (size_t)k * len, len);
                }
            }
            H5Tclose(mt);
            free(raw);
        }
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return ok;
}

static int read_double_attr(hid_t obj, const char *name, double *v) {
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    int ok = a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    if (a >= 0) H5Aclose(a);
    return ok;
}

/* Reads a 1-D dataset of exactly n numbers; 0 when absent or of another size. */
static int read_vector(hid_t file, const char *name, int n, double *v) {
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) return 0;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t sp = H5Dget_space(d);
    int ok = H5Sget_simple_extent_npoints(sp) == n && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    H5Sclose(sp);
    H5Dclose(d);
    return ok;
}

/* Opens file k and its "fields" dataset, checks it, and returns its times (lock held). */
static ws_status open_file(ws_fields *f, size_t k, hsize_t dims[4], ws_error *err) {
    char msg[256];
    const char *path = f->paths[k];
    f->files[k] = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->files[k] < 0)
        return wsi_error(err, WS_EIO, "H5Fopen(%s): %s; is it an HDF5 file?", path, wsi_h5_message(msg, sizeof msg));
    if (H5Lexists(f->files[k], "fields", H5P_DEFAULT) <= 0) {
        char names[512] = "";
        name_list l = {names, sizeof names, 0};
        H5Literate(f->files[k], H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &l);
        return wsi_error(err, WS_EFORMAT, "%s has no dataset \"fields\" (it holds: %s); FourCastNet's layout keeps "
                         "[time, channel, lat, lon] under \"fields\": rename the dataset or convert the file",
                         path, l.len ? names : "nothing");
    }
    f->dsets[k] = H5Dopen2(f->files[k], "fields", H5P_DEFAULT);
    if (f->dsets[k] < 0)
        return wsi_error(err, WS_EFORMAT, "H5Dopen2(%s, fields): %s", path, wsi_h5_message(msg, sizeof msg));
    hid_t t = H5Dget_type(f->dsets[k]), sp = H5Dget_space(f->dsets[k]);
    H5T_class_t cls = H5Tget_class(t);
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank == 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Tclose(t);
    if (cls != H5T_FLOAT)
        return wsi_error(err, WS_EFORMAT, "%s: \"fields\" is not a floating-point dataset; store float32 values",
                         path);
    if (rank != 4)
        return wsi_error(err, WS_EFORMAT, "%s: \"fields\" has rank %d; the layout is [time, channel, lat, lon]", path,
                         rank);
    return WS_OK;
}

/* ---- open ---- */

static ws_status find_files(ws_fields *f, const char *root, ws_fields_split split, ws_error *err) {
    const char *sub = ws_fields_split_dir(split);
    if (!sub) return wsi_error(err, WS_EINVAL, "ws_fields_open: split %d is not train, valid or test", (int)split);
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return wsi_error(err, WS_EIO, "ws_fields_open: %s is not a folder (%s); make a dataset with `wattscale data "
                         "swe --out %s` or point to an ERA5 folder in FourCastNet's layout", root,
                         strerror(errno ? errno : ENOTDIR), root);
    snprintf(f->dir, sizeof f->dir, "%s/%s", root, sub);
    if (stat(f->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return wsi_error(err, WS_EIO, "ws_fields_open: %s is missing; FourCastNet's layout has train/, test/ "
                         "(validation) and out_of_sample/ (test) under the dataset folder", f->dir);
    struct dirent **ents = NULL;
    int n = scandir(f->dir, &ents, select_h5, alphasort);
    if (n < 0) return wsi_error(err, WS_EIO, "scandir %s: %s", f->dir, strerror(errno));
    if (n == 0) {
        free(ents);
        return wsi_error(err, WS_EIO, "ws_fields_open: %s holds no .h5 file; each year is one NAME.h5 with a "
                         "\"fields\" dataset", f->dir);
    }
    f->nfiles = (size_t)n;
    f->paths = calloc((size_t)n, sizeof *f->paths);
    f->files = malloc((size_t)n * sizeof *f->files);
    f->dsets = malloc((size_t)n * sizeof *f->dsets);
    f->times = calloc((size_t)n, sizeof *f->times);
    f->first = calloc((size_t)n + 1, sizeof *f->first);
    int fail = !f->paths || !f->files || !f->dsets || !f->times || !f->first;
    for (int k = 0; k < n; k++) {
        if (!fail) {
            size_t len = strlen(f->dir) + strlen(ents[k]->d_name) + 2;
            fail |= !(f->paths[k] = malloc(len));
            if (!fail) snprintf(f->paths[k], len, "%s/%s", f->dir, ents[k]->d_name);
        }
        free(ents[k]);
    }
    free(ents);
    if (fail) return wsi_error(err, WS_ENOMEM, "ws_fields_open(%s): out of memory", f->dir);
    for (size_t k = 0; k < f->nfiles; k++) f->files[k] = f->dsets[k] = -1;
    return WS_OK;
}

static ws_status read_stats(ws_fields *f, const ws_fields_opts *o, const char *root, ws_error *err) {
    if (o->stats_dir) snprintf(f->stats_dir, sizeof f->stats_dir, "%s", o->stats_dir);
    else snprintf(f->stats_dir, sizeof f->stats_dir, "%s/stats", root);
    const char *names[2] = {"global_means.npy", "global_stds.npy"};
    double *vals[2] = {NULL, NULL};
    ws_status st = WS_OK;
    for (int s = 0; s < 2 && st == WS_OK; s++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", f->stats_dir, names[s]);
        int nd;
        uint64_t dims[WS_NPY_MAX_DIMS];
        st = ws_npy_read(path, &vals[s], &nd, dims, err);
        if (st == WS_EIO && access(path, F_OK) != 0)
            st = wsi_error(err, WS_EIO, "%s is missing: the per-channel statistics (FourCastNet's [1, C, 1, 1]); "
                           "`wattscale data swe` writes them, ERA5 has them in its stats folder (pass it as the "
                           "stats folder when elsewhere)", path);
        if (st != WS_OK) break;
        uint64_t count = 1;
        for (int d = 0; d < nd; d++) count *= dims[d];
        if (count != (uint64_t)f->info.file_c || (nd == 4 && dims[1] != (uint64_t)f->info.file_c))
            st = wsi_error(err, WS_EFORMAT, "%s holds %" PRIu64 " values but %s has %d channels; the statistics must "
                           "describe the files' channels, shape [1, %d, 1, 1] (recompute them or pick the matching "
                           "stats folder)", path, count, f->paths[0], f->info.file_c, f->info.file_c);
    }
    if (st == WS_OK)
        for (int c = 0; c < f->info.c; c++) {
            int fc = f->chan[c];
            f->mean[c] = vals[0][fc];
            f->std[c] = vals[1][fc];
            if (!(f->std[c] > 0.0 && isfinite(f->std[c])) || !isfinite(f->mean[c])) {
                st = wsi_error(err, WS_EFORMAT, "%s/global_stds.npy: channel %d (%s) has std %g (mean %g); a "
                               "constant or broken channel cannot be normalised: drop it with the channel subset",
                               f->stats_dir, fc, f->names[c], f->std[c], f->mean[c]);
                break;
            }
        }
    free(vals[0]);
    free(vals[1]);
    return st;
}

static ws_status check_opts(ws_fields *f, const ws_fields_opts *o, ws_error *err) {
    int fc = f->info.file_c, fh = f->info.file_h, fw = f->info.file_w;
    if (o->max_steps < 1)
        return wsi_error(err, WS_EINVAL, "ws_fields_open: max_steps %d < 1 (1 pre-training, 2 fine-tuning)", o->max_steps);
    if (o->n_channels < 0 || o->n_channels > WS_FIELDS_MAX_CHANNELS || (o->n_channels > 0 && !o->channels))
        return wsi_error(err, WS_EINVAL, "ws_fields_open: %d channels requested; give 1..%d indices or none for all",
                         o->n_channels, WS_FIELDS_MAX_CHANNELS);
    for (int c = 0; c < o->n_channels; c++)
        if (o->channels[c] < 0 || o->channels[c] >= fc)
            return wsi_error(err, WS_EINVAL, "ws_fields_open: channel %d is outside the %d channels of %s",
                             o->channels[c], fc, f->paths[0]);
    if (o->stride < 1) return wsi_error(err, WS_EINVAL, "ws_fields_open: stride %d < 1", o->stride);
    int rows = o->rows ? o->rows : fh - o->row0, cols = o->cols ? o->cols : fw - o->col0;
    if (o->row0 < 0 || o->col0 < 0 || rows < 1 || cols < 1 || o->row0 + rows > fh || o->col0 + cols > fw)
        return wsi_error(err, WS_EINVAL, "ws_fields_open: crop rows [%d, %d) x columns [%d, %d) is outside the %dx%d "
                         "grid of %s", o->row0, o->row0 + rows, o->col0, o->col0 + cols, fh, fw, f->paths[0]);
    f->row0 = o->row0;
    f->col0 = o->col0;
    f->stride = o->stride;
    f->info.c = o->n_channels ? o->n_channels : fc;
    f->info.h = (rows + o->stride - 1) / o->stride;
    f->info.w = (cols + o->stride - 1) / o->stride;
    f->info.max_steps = o->max_steps;
    return WS_OK;
}

/* Channel names, grid, dt and source from the first file's root (lock held). */
static ws_status read_metadata(ws_fields *f, const ws_fields_opts *o, ws_error *err) {
    int fc = f->info.file_c, fh = f->info.file_h, fw = f->info.file_w;
    hid_t root = f->files[0];
    char **all = calloc((size_t)fc, sizeof *all);
    double *lat = malloc((size_t)fh * sizeof *lat), *lon = malloc((size_t)fw * sizeof *lon);
    f->chan = malloc((size_t)f->info.c * sizeof *f->chan);
    f->names = calloc((size_t)f->info.c, sizeof *f->names);
    f->name_ptrs = calloc((size_t)f->info.c, sizeof *f->name_ptrs);
    f->lat = malloc((size_t)f->info.h * sizeof *f->lat);
    f->lon = malloc((size_t)f->info.w * sizeof *f->lon);
    f->mean = malloc((size_t)f->info.c * sizeof *f->mean);
    f->std = malloc((size_t)f->info.c * sizeof *f->std);
    ws_status st = WS_OK;
    if (!all || !lat || !lon || !f->chan || !f->names || !f->name_ptrs || !f->lat || !f->lon || !f->mean || !f->std) {
        st = wsi_error(err, WS_ENOMEM, "ws_fields_open(%s): out of memory", f->dir);
        goto out;
    }
    int named = read_string_attr(root, "channel_names", fc, all);
    f->all_channels = o->n_channels == 0;
    for (int c = 0; c < f->info.c; c++) {
        f->chan[c] = o->n_channels ? o->channels[c] : c;
        if (f->chan[c] != c) f->all_channels = 0;
        char fallback[32];
        snprintf(fallback, sizeof fallback, "ch%d", f->chan[c]);
        f->names[c] = strdup(named ? all[f->chan[c]] : fallback);
        if (!f->names[c]) {
            st = wsi_error(err, WS_ENOMEM, "ws_fields_open: out of memory");
            goto out;
        }
        f->name_ptrs[c] = f->names[c];
    }
    if (f->all_channels && f->info.c != fc) f->all_channels = 0;
    if (!read_vector(root, "lat", fh, lat))
        for (int j = 0; j < fh; j++) lat[j] = fh > 1 ? 90.0 - j * 180.0 / (fh - 1) : 0.0; /* ERA5: both poles */
    if (!read_vector(root, "lon", fw, lon))
        for (int i = 0; i < fw; i++) lon[i] = i * 360.0 / fw;
    for (int j = 0; j < f->info.h; j++) f->lat[j] = lat[f->row0 + j * f->stride];
    for (int i = 0; i < f->info.w; i++) f->lon[i] = lon[f->col0 + i * f->stride];
    if (!read_double_attr(root, "dt_hours", &f->info.dt_hours)) f->info.dt_hours = 6.0; /* ERA5 in FourCastNet */
    char *source = NULL;
    if (read_string_attr(root, "source", 1, &source)) snprintf(f->info.source, sizeof f->info.source, "%s", source);
    else snprintf(f->info.source, sizeof f->info.source, "fourcastnet-h5");
    free(source);
out:
    for (int c = 0; all && c < fc; c++) free(all[c]);
    free(all);
    free(lat);
    free(lon);
    return st;
}

ws_status ws_fields_open(ws_fields **out, const char *root, ws_fields_split split, const ws_fields_opts *opts,
                         ws_error *err) {
    *out = NULL;
    ws_fields_opts def = ws_fields_opts_default();
    const ws_fields_opts *o = opts ? opts : &def;
    ws_fields *f = calloc(1, sizeof *f);
    if (!f) return wsi_error(err, WS_ENOMEM, "ws_fields_open: out of memory");
    ws_status st = find_files(f, root, split, err);
    if (st != WS_OK) goto fail;
    wsi_h5_lock();
    for (size_t k = 0; k < f->nfiles && st == WS_OK; k++) {
        hsize_t dims[4] = {0, 0, 0, 0};
        st = open_file(f, k, dims, err);
        if (st != WS_OK) break;
        if (k == 0) {
            f->info.file_c = (int)dims[1];
            f->info.file_h = (int)dims[2];
            f->info.file_w = (int)dims[3];
            if (dims[1] < 1 || dims[1] > WS_FIELDS_MAX_CHANNELS || dims[2] < 1 || dims[3] < 1)
                st = wsi_error(err, WS_EFORMAT, "%s: \"fields\" has %llu channels on a %llux%llu grid; want 1..%d "
                               "channels", f->paths[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
                               (unsigned long long)dims[3], WS_FIELDS_MAX_CHANNELS);
        } else if (dims[1] != (hsize_t)f->info.file_c || dims[2] != (hsize_t)f->info.file_h ||
                   dims[3] != (hsize_t)f->info.file_w) {
            st = wsi_error(err, WS_EFORMAT, "%s: \"fields\" is [%llu, %llu, %llu, %llu] but %s has %d channels on a "
                           "%dx%d grid; every year of a split must share channels and grid", f->paths[k],
                           (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
                           (unsigned long long)dims[3], f->paths[0], f->info.file_c, f->info.file_h, f->info.file_w);
        }
        if (st == WS_OK && dims[0] <= (hsize_t)(o->max_steps > 0 ? o->max_steps : 1))
            st = wsi_error(err, WS_EFORMAT, "%s holds %llu times, too few for a sample with %d target step(s); drop "
                           "the file or regenerate it longer", f->paths[k], (unsigned long long)dims[0], o->max_steps);
        if (st == WS_OK) f->times[k] = (int)dims[0];
    }
    if (st == WS_OK) st = check_opts(f, o, err);
    if (st == WS_OK) st = read_metadata(f, o, err);
    wsi_h5_unlock();
    if (st != WS_OK) goto fail;
    if ((st = read_stats(f, o, root, err)) != WS_OK) goto fail;
    for (size_t k = 0; k < f->nfiles; k++) f->first[k + 1] = f->first[k] + (f->times[k] - o->max_steps);
    f->info.count = (size_t)f->first[f->nfiles];
    f->info.files = f->nfiles;
    f->labels = malloc(f->info.count * sizeof *f->labels);
    if (!f->labels) {
        st = wsi_error(err, WS_ENOMEM, "ws_fields_open(%s): out of memory for %zu labels", f->dir, f->info.count);
        goto fail;
    }
    for (size_t k = 0; k < f->nfiles; k++)
        for (int64_t i = f->first[k]; i < f->first[k + 1]; i++) f->labels[i] = (int32_t)k;
    f->info.channel_names = f->name_ptrs;
    f->info.lat_deg = f->lat;
    f->info.lon_deg = f->lon;
    f->info.mean = f->mean;
    f->info.std = f->std;
    *out = f;
    return WS_OK;
fail:
    ws_fields_close(f);
    return st;
}

const ws_fields_info *ws_fields_info_get(const ws_fields *f) { return &f->info; }
const int32_t *ws_fields_labels(const ws_fields *f) { return f->labels; }

void ws_fields_sample_time(const ws_fields *f, int64_t index, int *file, int *time) {
    *file = *time = -1;
    if (index < 0 || (uint64_t)index >= f->info.count) return;
    size_t lo = 0, hi = f->nfiles; /* the last k with first[k] <= index */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (f->first[mid] <= index) lo = mid;
        else hi = mid;
    }
    *file = (int)lo;
    *time = (int)(index - f->first[lo]);
}

/* ---- loading ---- */

/* Reads time t of file k, channel subset, crop and stride, into out [c, h, w] (lock held). */
static ws_status read_time(const ws_fields *f, int k, int t, float *out, ws_error *err) {
    hid_t fs = H5Dget_space(f->dsets[k]);
    int nreads = f->all_channels ? 1 : f->info.c;
    hsize_t per = (hsize_t)f->info.h * (hsize_t)f->info.w;
    ws_status st = WS_OK;
    for (int r = 0; r < nreads && st == WS_OK; r++) {
        hsize_t start[4] = {(hsize_t)t, (hsize_t)(f->all_channels ? 0 : f->chan[r]), (hsize_t)f->row0,
                            (hsize_t)f->col0};
        hsize_t stride[4] = {1, 1, (hsize_t)f->stride, (hsize_t)f->stride};
        hsize_t count[4] = {1, (hsize_t)(f->all_channels ? f->info.c : 1), (hsize_t)f->info.h, (hsize_t)f->info.w};
        hsize_t mdim = count[1] * per;
        hid_t ms = H5Screate_simple(1, &mdim, NULL);
        if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, stride, count, NULL) < 0 ||
            H5Dread(f->dsets[k], H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out + (size_t)r * per) < 0) {
            char msg[256];
            st = wsi_error(err, WS_EIO, "H5Dread(%s, fields[%d]): %s", f->paths[k], t, wsi_h5_message(msg, sizeof msg));
        }
        H5Sclose(ms);
    }
    H5Sclose(fs);
    return st;
}

static void normalise(const ws_fields *f, float *x) {
    size_t per = (size_t)f->info.h * (size_t)f->info.w;
    for (int c = 0; c < f->info.c; c++) {
        float m = (float)f->mean[c], inv = (float)(1.0 / f->std[c]);
        float *p = x + (size_t)c * per;
        for (size_t k = 0; k < per; k++) p[k] = (p[k] - m) * inv;
    }
}

ws_status ws_fields_load(const ws_fields *f, const int64_t *indices, size_t n, int steps, float *x, float *y,
                         ws_error *err) {
    if (steps < 0 || steps > f->info.max_steps || (steps > 0 && !y))
        return wsi_error(err, WS_EINVAL, "ws_fields_load(%s): steps %d outside [0, max_steps=%d] (or no target "
                         "buffer)", f->dir, steps, f->info.max_steps);
    for (size_t i = 0; i < n; i++)
        if (indices[i] < 0 || (uint64_t)indices[i] >= f->info.count)
            return wsi_error(err, WS_EINVAL, "ws_fields_load(%s): indices[%zu] = %" PRId64 " is outside [0, %zu)",
                             f->dir, i, indices[i], f->info.count);
    size_t chw = (size_t)f->info.c * (size_t)f->info.h * (size_t)f->info.w;
    if (f->pool) { /* synthetic: copies of the pool's fields */
        for (size_t i = 0; i < n; i++) {
            if (x) memcpy(x + i * chw, f->pool + (size_t)ws_fields_synthetic_slot(f, indices[i], 0) * chw, chw * 4);
            for (int s = 0; s < steps; s++)
                memcpy(y + (i * steps + s) * chw, f->pool + (size_t)ws_fields_synthetic_slot(f, indices[i], s + 1) * chw,
                       chw * 4);
        }
        return WS_OK;
    }
    for (size_t i = 0; i < n; i++) {
        int k, t;
        ws_fields_sample_time(f, indices[i], &k, &t);
        ws_status st = WS_OK;
        wsi_h5_lock();
        if (x) st = read_time(f, k, t, x + i * chw, err);
        for (int s = 0; s < steps && st == WS_OK; s++) st = read_time(f, k, t + 1 + s, y + (i * steps + s) * chw, err);
        wsi_h5_unlock();
        if (st != WS_OK) return st;
        if (x) normalise(f, x + i * chw);
        for (int s = 0; s < steps; s++) normalise(f, y + (i * steps + s) * chw);
    }
    return WS_OK;
}

ws_status ws_fields_climatology(const ws_fields *f, float *clim, ws_error *err) {
    if (f->pool) { /* the time mean of N(0,1) fields */
        memset(clim, 0, (size_t)f->info.c * f->info.h * f->info.w * sizeof *clim);
        return WS_OK;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/time_means.npy", f->stats_dir);
    double *v;
    int nd;
    uint64_t d[WS_NPY_MAX_DIMS];
    ws_status st = ws_npy_read(path, &v, &nd, d, err);
    if (st != WS_OK) return st;
    if (nd != 4 || d[0] != 1 || d[1] != (uint64_t)f->info.file_c || d[2] != (uint64_t)f->info.file_h ||
        d[3] != (uint64_t)f->info.file_w) {
        free(v);
        return wsi_error(err, WS_EFORMAT, "%s: want shape [1, %d, %d, %d] (the files' channels and grid); recompute "
                         "the climatology for these files", path, f->info.file_c, f->info.file_h, f->info.file_w);
    }
    size_t fh = (size_t)f->info.file_h, fw = (size_t)f->info.file_w;
    for (int c = 0; c < f->info.c; c++)
        for (int j = 0; j < f->info.h; j++)
            for (int i = 0; i < f->info.w; i++)
                clim[((size_t)c * f->info.h + j) * f->info.w + i] =
                    (float)v[((size_t)f->chan[c] * fh + (size_t)(f->row0 + j * f->stride)) * fw +
                             (size_t)(f->col0 + i * f->stride)];
    free(v);
    return WS_OK;
}

void ws_fields_close(ws_fields *f) {
    if (!f) return;
    wsi_h5_lock();
    for (size_t k = 0; f->dsets && k < f->nfiles; k++)
        if (f->dsets[k] >= 0) H5Dclose(f->dsets[k]);
    for (size_t k = 0; f->files && k < f->nfiles; k++)
        if (f->files[k] >= 0) H5Fclose(f->files[k]);
    wsi_h5_unlock();
    for (size_t k = 0; f->paths && k < f->nfiles; k++) free(f->paths[k]);
    for (int c = 0; f->names && c < f->info.c; c++) free(f->names[c]);
    free(f->paths);
    free(f->files);
    free(f->dsets);
    free(f->times);
    free(f->first);
    free(f->labels);
    free(f->chan);
    free(f->names);
    free(f->name_ptrs);
    free(f->lat);
    free(f->lon);
    free(f->mean);
    free(f->std);
    free(f->pool);
    free(f);
}

/* ---- synthetic fields ---- */

const float *ws_fields_synthetic_pool(const ws_fields *f, int *pool) {
    *pool = f->pool ? f->pool_n : 0;
    return f->pool;
}

int ws_fields_synthetic_slot(const ws_fields *f, int64_t index, int step) {
    return f->pool ? (int)((uint64_t)(index + step) % (uint64_t)f->pool_n) : 0;
}

/* Pool slot k, channel c from its own stream of (seed, split): the same fields whatever
 * the thread count. */
static void draw_pool(ws_fields *f, uint64_t seed, ws_fields_split split) {
    const int C = f->info.c;
    const size_t hw = (size_t)f->info.h * f->info.w;
    const ws_rng root = ws_rng_seeded(seed ^ (0x5eedf1e1d5ULL + (uint64_t)split));
    const long planes = (long)f->pool_n * C;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic)
#endif
    for (long p = 0; p < planes; p++) {
        ws_rng r = ws_rng_split(&root, (uint64_t)p);
        float *dst = f->pool + (size_t)p * hw;
        for (size_t k = 0; k < hw; k++) dst[k] = (float)ws_rng_normal(&r);
    }
}

ws_status ws_fields_open_synthetic(ws_fields **out, const ws_fields_synthetic_opts *so, ws_fields_split split,
                                   const ws_fields_opts *opts, ws_error *err) {
    *out = NULL;
    ws_fields_opts def = ws_fields_opts_default();
    const ws_fields_opts *o = opts ? opts : &def;
    if (!so || so->c < 1 || so->c > WS_FIELDS_MAX_CHANNELS || so->h < 1 || so->w < 1 || so->count < 1 || so->pool < 0)
        return wsi_error(err, WS_EINVAL, "synthetic fields: want 1..%d channels, a grid and samples of at least 1",
                         WS_FIELDS_MAX_CHANNELS);
    if (o->max_steps < 1 || o->channels || o->n_channels || o->row0 || o->rows || o->col0 || o->cols || o->stride != 1)
        return wsi_error(err, WS_EINVAL, "synthetic fields: no crop, stride or channel subset (the shape is given: "
                         "--data synthetic-weather:CxHxW), max_steps >= 1");
    ws_fields *f = calloc(1, sizeof *f);
    if (!f) return wsi_error(err, WS_ENOMEM, "synthetic fields: out of memory");
    ws_fields_info *in = &f->info;
    snprintf(in->source, sizeof in->source, "synthetic");
    snprintf(f->dir, sizeof f->dir, "synthetic-weather:%dx%dx%d", so->c, so->h, so->w);
    in->count = so->count;
    in->c = in->file_c = so->c;
    in->h = in->file_h = so->h;
    in->w = in->file_w = so->w;
    in->max_steps = o->max_steps;
    in->dt_hours = 6.0;
    in->files = f->nfiles = 1;
    f->stride = 1;
    f->pool_n = so->pool > 0 ? so->pool : o->max_steps + 3;
    if ((size_t)f->pool_n > so->count + (size_t)o->max_steps) f->pool_n = (int)(so->count + (size_t)o->max_steps);
    size_t plane = (size_t)so->h * so->w;
    f->first = calloc(2, sizeof *f->first);
    f->labels = calloc(so->count, sizeof *f->labels); /* one "year": every label 0 */
    f->names = calloc((size_t)so->c, sizeof *f->names);
    f->name_ptrs = calloc((size_t)so->c, sizeof *f->name_ptrs);
    f->mean = calloc((size_t)so->c, sizeof *f->mean);
    f->std = malloc((size_t)so->c * sizeof *f->std);
    f->lat = malloc((size_t)so->h * sizeof *f->lat);
    f->lon = malloc((size_t)so->w * sizeof *f->lon);
    f->pool = malloc((size_t)f->pool_n * so->c * plane * sizeof *f->pool);
    if (!f->first || !f->labels || !f->names || !f->name_ptrs || !f->mean || !f->std || !f->lat || !f->lon || !f->pool) {
        ws_fields_close(f);
        return wsi_error(err, WS_ENOMEM, "synthetic fields %dx%dx%d: out of memory for %d fields of %.1f MiB", so->c,
                         so->h, so->w, f->pool_n, so->c * plane * 4.0 / 1048576.0);
    }
    f->first[1] = (int64_t)so->count;
    for (int c = 0; c < so->c; c++) {
        char name[16];
        snprintf(name, sizeof name, "ch%d", c);
        f->names[c] = strdup(name);
        f->name_ptrs[c] = f->names[c];
        f->std[c] = 1.0;
        if (!f->names[c]) {
            ws_fields_close(f);
            return wsi_error(err, WS_ENOMEM, "synthetic fields: out of memory");
        }
    }
    /* ERA5's grid, as files without "lat"/"lon" get (data/fields.h) */
    for (int j = 0; j < so->h; j++) f->lat[j] = so->h > 1 ? 90.0 - j * 180.0 / (so->h - 1) : 0.0;
    for (int i = 0; i < so->w; i++) f->lon[i] = i * 360.0 / so->w;
    draw_pool(f, so->seed, split);
    in->channel_names = f->name_ptrs;
    in->lat_deg = f->lat;
    in->lon_deg = f->lon;
    in->mean = f->mean;
    in->std = f->std;
    *out = f;
    return WS_OK;
}

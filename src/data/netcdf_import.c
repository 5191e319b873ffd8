/* data/netcdf_import.c - NetCDF variables into FourCastNet's layout through netCDF-C;
 * contract and conventions in data/netcdf_import.h. netCDF-C (like HDF5, which it uses for
 * NetCDF-4 files) is not thread-safe: the converter runs on one thread, and takes the
 * HDF5 lock of data/h5util.h only inside the writer. */
#include "data/netcdf_import.h"
#include "core/error.h"
#include "core/log.h"

#include <errno.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIN_PART 3 /* a sample and two targets */

ws_netcdf_import_opts ws_netcdf_import_opts_default(void) {
    return (ws_netcdf_import_opts){.level = -1, .split = {0.7, 0.15, 0.15}};
}

typedef struct {
    int id, ndims;
    double scale, offset;
    int has_fill, has_missing;
    double fill, missing;
    char units[64];
} var_info;

static ws_status list_vars(int nc, const char *path, const char *name, ws_error *err) {
    int n = 0;
    nc_inq_nvars(nc, &n);
    char names[1024] = "";
    size_t len = 0;
    for (int v = 0; v < n && len < sizeof names - 1; v++) {
        char vn[NC_MAX_NAME + 1];
        if (nc_inq_varname(nc, v, vn) == NC_NOERR)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", vn);
    }
    return wsi_error(err, WS_EINVAL, "%s has no variable %s; it has: %s", path, name, names);
}

static double att_or(int nc, int var, const char *name, double dflt, int *found) {
    double v;
    int ok = nc_get_att_double(nc, var, name, &v) == NC_NOERR;
    if (found) *found = ok;
    return ok ? v : dflt;
}

/* Hours per unit of a CF time axis ("days since 1980-01-01"), 0 when not understood. */
static double unit_hours(const char *units) {
    static const struct { const char *word; double hours; } table[] = {
        {"second", 1.0 / 3600}, {"minute", 1.0 / 60}, {"hour", 1}, {"day", 24}, {"month", 730.5}};
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
        if (!strncmp(units, table[k].word, strlen(table[k].word))) return table[k].hours;
    return 0;
}

/* Reads the coordinate variable of dimension `dim` into out [n] (index order if absent). */
static void read_coord(int nc, int dim, size_t n, double *out) {
    char name[NC_MAX_NAME + 1];
    int var;
    if (nc_inq_dimname(nc, dim, name) != NC_NOERR || nc_inq_varid(nc, name, &var) != NC_NOERR ||
        nc_get_var_double(nc, var, out) != NC_NOERR)
        for (size_t k = 0; k < n; k++) out[k] = (double)k;
}

static ws_status check_opts(const ws_netcdf_import_opts *o, ws_error *err) {
    if (!o->in_path || !o->out_dir || o->n_vars < 1 || o->n_vars > WS_FIELDS_MAX_CHANNELS)
        return wsi_error(err, WS_EINVAL, "ws_netcdf_import: need an input file, an output folder and 1..%d variables",
                         WS_FIELDS_MAX_CHANNELS);
    double sum = o->split[0] + o->split[1] + o->split[2];
    if (!(o->split[0] > 0 && o->split[1] >= 0 && o->split[2] >= 0 && fabs(sum - 1.0) < 1e-6))
        return wsi_error(err, WS_EINVAL, "ws_netcdf_import: split %g+%g+%g: fractions of the times, training > 0, "
                         "summing to 1", o->split[0], o->split[1], o->split[2]);
    return WS_OK;
}

/* Variable k's metadata and shape; all variables must match the first (dims [T, H, W]). */
static ws_status inspect(int nc, const ws_netcdf_import_opts *o, var_info *vi, size_t dims[3], int dimids[3],
                         ws_error *err) {
    for (int k = 0; k < o->n_vars; k++) {
        var_info *v = &vi[k];
        if (nc_inq_varid(nc, o->vars[k], &v->id) != NC_NOERR) return list_vars(nc, o->in_path, o->vars[k], err);
        int ids[NC_MAX_VAR_DIMS];
        nc_inq_varndims(nc, v->id, &v->ndims);
        nc_inq_vardimid(nc, v->id, ids);
        if (v->ndims != 3 && v->ndims != 4)
            return wsi_error(err, WS_EINVAL, "%s: %s has %d dimensions; want [time, lat, lon] or [time, level, lat, "
                             "lon]", o->in_path, o->vars[k], v->ndims);
        size_t nlev = 0;
        if (v->ndims == 4) {
            nc_inq_dimlen(nc, ids[1], &nlev);
            if (o->level < 0 || (size_t)o->level >= nlev)
                return wsi_error(err, WS_EINVAL, "%s: %s has a level dimension of %zu; pick one with --level K (0..%zu)",
                                 o->in_path, o->vars[k], nlev, nlev ? nlev - 1 : 0);
        }
        int t = ids[0], y = ids[v->ndims - 2], x = ids[v->ndims - 1];
        size_t d[3];
        nc_inq_dimlen(nc, t, &d[0]);
        nc_inq_dimlen(nc, y, &d[1]);
        nc_inq_dimlen(nc, x, &d[2]);
        if (k == 0) {
            memcpy(dims, d, sizeof d);
            dimids[0] = t;
            dimids[1] = y;
            dimids[2] = x;
        } else if (memcmp(d, dims, sizeof d)) {
            return wsi_error(err, WS_EINVAL, "%s: %s is [%zu, %zu, %zu] but %s is [%zu, %zu, %zu]; channels must "
                             "share time and grid", o->in_path, o->vars[k], d[0], d[1], d[2], o->vars[0], dims[0],
                             dims[1], dims[2]);
        }
        v->scale = att_or(nc, v->id, "scale_factor", 1.0, NULL);
        v->offset = att_or(nc, v->id, "add_offset", 0.0, NULL);
        v->fill = att_or(nc, v->id, "_FillValue", 0.0, &v->has_fill);
        v->missing = att_or(nc, v->id, "missing_value", 0.0, &v->has_missing);
        size_t ulen = 0;
        v->units[0] = '\0';
        if (nc_inq_attlen(nc, v->id, "units", &ulen) == NC_NOERR && ulen < sizeof v->units) {
            nc_get_att_text(nc, v->id, "units", v->units);
            v->units[ulen] = '\0';
        }
    }
    return WS_OK;
}

/* Reads time t of variable v into plane [H*W] (file row order), unpacked and gap-filled. */
static ws_status read_plane(int nc, const ws_netcdf_import_opts *o, const char *name, const var_info *v, size_t t,
                            const size_t dims[3], double *raw, float *plane, long *filled, ws_error *err) {
    size_t start[4] = {t, 0, 0, 0}, count[4] = {1, dims[1], dims[2], 0};
    if (v->ndims == 4) {
        start[1] = (size_t)o->level;
        count[1] = 1;
        count[2] = dims[1];
        count[3] = dims[2];
    }
    int rc = nc_get_vara_double(nc, v->id, start, count, raw);
    if (rc != NC_NOERR) return wsi_error(err, WS_EIO, "%s: reading %s at time %zu: %s", o->in_path, name, t, nc_strerror(rc));
    size_t n = dims[1] * dims[2];
    double sum = 0;
    long good = 0;
    for (size_t k = 0; k < n; k++) {
        int gap = (v->has_fill && raw[k] == v->fill) || (v->has_missing && raw[k] == v->missing) || !isfinite(raw[k]);
        if (gap) {
            raw[k] = NAN;
        } else {
            raw[k] = raw[k] * v->scale + v->offset;
            sum += raw[k];
            good++;
        }
    }
    if (good == 0) return wsi_error(err, WS_EFORMAT, "%s: %s at time %zu has no valid point", o->in_path, name, t);
    for (size_t k = 0; k < n; k++) {
        if (isnan(raw[k])) {
            raw[k] = sum / good;
            ++*filled;
        }
        plane[k] = (float)raw[k];
    }
    return WS_OK;
}

ws_status ws_netcdf_import(const ws_netcdf_import_opts *o, ws_netcdf_import_report *r, ws_error *err) {
    memset(r, 0, sizeof *r);
    ws_status st = check_opts(o, err);
    if (st != WS_OK) return st;
    int nc;
    int rc = nc_open(o->in_path, NC_NOWRITE, &nc);
    if (rc != NC_NOERR) return wsi_error(err, WS_EIO, "nc_open(%s): %s", o->in_path, nc_strerror(rc));
    var_info *vi = calloc((size_t)o->n_vars, sizeof *vi);
    size_t dims[3] = {0, 0, 0};
    int dimids[3] = {0, 0, 0};
    double *lat = NULL, *lon = NULL, *times = NULL, *raw = NULL;
    float *sample = NULL, *plane = NULL;
    ws_fields_stats *stats = NULL;
    ws_fields_writer *wr = NULL;
    if (!vi) {
        st = wsi_error(err, WS_ENOMEM, "ws_netcdf_import: out of memory");
        goto out;
    }
    if ((st = inspect(nc, o, vi, dims, dimids, err)) != WS_OK) goto out;
    size_t T = dims[0], H = dims[1], W = dims[2], C = (size_t)o->n_vars;
    long part[3];
    part[0] = lround(o->split[0] * (double)T);
    part[1] = lround(o->split[1] * (double)T);
    part[2] = (long)T - part[0] - part[1];
    for (int s = 0; s < 3; s++)
        if ((part[s] > 0 && part[s] < MIN_PART) || part[2] < 0 || part[0] < MIN_PART) {
            st = wsi_error(err, WS_EINVAL, "%s: %zu times split %g+%g+%g gives %ld+%ld+%ld; each part needs 0 or at "
                           "least %d times (training at least %d)", o->in_path, T, o->split[0], o->split[1],
                           o->split[2], part[0], part[1], part[2], MIN_PART, MIN_PART);
            goto out;
        }
    lat = malloc(H * sizeof *lat);
    lon = malloc(W * sizeof *lon);
    times = malloc(T * sizeof *times);
    raw = malloc(H * W * sizeof *raw);
    plane = malloc(H * W * sizeof *plane);
    sample = malloc(C * H * W * sizeof *sample);
    if (!lat || !lon || !times || !raw || !plane || !sample) {
        st = wsi_error(err, WS_ENOMEM, "ws_netcdf_import: out of memory for %zux%zu", H, W);
        goto out;
    }
    read_coord(nc, dimids[1], H, lat);
    read_coord(nc, dimids[2], W, lon);
    read_coord(nc, dimids[0], T, times);
    int flip = H > 1 && lat[0] < lat[H - 1]; /* south first in the file: store north first */
    if (flip)
        for (size_t j = 0; j < H / 2; j++) {
            double tmp = lat[j];
            lat[j] = lat[H - 1 - j];
            lat[H - 1 - j] = tmp;
        }
    r->dt_hours = 6.0;
    {
        char tname[NC_MAX_NAME + 1], units[128] = "";
        int tvar;
        size_t ulen = 0;
        if (T > 1 && nc_inq_dimname(nc, dimids[0], tname) == NC_NOERR && nc_inq_varid(nc, tname, &tvar) == NC_NOERR &&
            nc_inq_attlen(nc, tvar, "units", &ulen) == NC_NOERR && ulen < sizeof units &&
            nc_get_att_text(nc, tvar, "units", units) == NC_NOERR) {
            units[ulen] = '\0';
            double hours = unit_hours(units) * (times[1] - times[0]);
            if (hours > 0) r->dt_hours = hours;
            else ws_log(WS_LOG_WARN, "netcdf: time units '%s' not understood; dt_hours set to 6", units);
        }
    }
    if ((st = ws_fields_prepare_root(o->out_dir, o->overwrite, err)) != WS_OK) goto out;
    if ((st = ws_fields_stats_open(&stats, (int)C, (int)H, (int)W, err)) != WS_OK) goto out;
    const char *units[WS_FIELDS_MAX_CHANNELS];
    for (size_t k = 0; k < C; k++) units[k] = vi[k].units;
    const ws_fields_split split[3] = {WS_FIELDS_TRAIN, WS_FIELDS_VALID, WS_FIELDS_TEST};
    size_t t0 = 0;
    int file = 0;
    for (int s = 0; s < 3 && st == WS_OK; s++) {
        if (part[s] == 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", o->out_dir, ws_fields_split_dir(split[s]));
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            st = wsi_error(err, WS_EIO, "mkdir %s: %s", path, strerror(errno));
            break;
        }
        snprintf(path, sizeof path, "%s/%s/%04d.h5", o->out_dir, ws_fields_split_dir(split[s]), ++file);
        st = ws_fields_writer_open(&wr, path, (int)part[s], (int)C, (int)H, (int)W, o->vars, units, lat, lon,
                                   r->dt_hours, err);
        if (st == WS_OK) st = ws_fields_writer_attr_string(wr, "source", "netcdf", err);
        if (st == WS_OK) st = ws_fields_writer_attr_string(wr, "netcdf_file", o->in_path, err);
        if (st == WS_OK) st = ws_fields_writer_attr_double(wr, "netcdf_level", o->level, err);
        for (long t = 0; t < part[s] && st == WS_OK; t++) {
            for (size_t k = 0; k < C && st == WS_OK; k++) {
                st = read_plane(nc, o, o->vars[k], &vi[k], t0 + (size_t)t, dims, raw, plane, &r->filled, err);
                for (size_t j = 0; st == WS_OK && j < H; j++)
                    memcpy(sample + (k * H + j) * W, plane + (flip ? H - 1 - j : j) * W, W * sizeof *plane);
            }
            if (st == WS_OK && s == 0) ws_fields_stats_add(stats, sample);
            if (st == WS_OK) st = ws_fields_writer_put(wr, (int)t, sample, err);
        }
        if (st == WS_OK) {
            st = ws_fields_writer_close(wr, err);
            wr = NULL;
        }
        r->times[s] = part[s];
        t0 += (size_t)part[s];
    }
    if (st == WS_OK) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/stats", o->out_dir);
        st = ws_fields_stats_write(stats, dir, err);
    }
    r->c = (int)C;
    r->h = (int)H;
    r->w = (int)W;
    if (r->filled) ws_log(WS_LOG_WARN, "netcdf: %ld missing points replaced by their plane's mean", r->filled);
out:
    ws_fields_writer_abort(wr);
    ws_fields_stats_close(stats);
    nc_close(nc);
    free(vi);
    free(lat);
    free(lon);
    free(times);
    free(raw);
    free(plane);
    free(sample);
    return st;
}

/* data/fields_write.c - writing one year file of FourCastNet's layout (ws_fields_writer);
 * contract in data/fields.h (the statistics, which need no HDF5, are in data/fields.c).
 * Every HDF5 call holds the lock of data/h5util.h. */
#include <hdf5.h>

#include "data/fields.h"
#include "core/error.h"
#include "data/h5util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ws_fields_writer {
    char path[4096], tmp[4100];
    hid_t file, dset, space;
    int times, c, h, w;
};

/* Closes the HDF5 objects that are open (lock held). */
static void close_ids(ws_fields_writer *wr) {
    if (wr->space >= 0) H5Sclose(wr->space);
    if (wr->dset >= 0) H5Dclose(wr->dset);
    if (wr->file >= 0) H5Fclose(wr->file);
    wr->space = wr->dset = wr->file = -1;
}

static ws_status h5_fail(ws_fields_writer *wr, ws_error *err, const char *what) {
    char msg[256];
    return wsi_error(err, WS_EIO, "%s (%s): %s", what, wr->tmp, wsi_h5_message(msg, sizeof msg));
}

/* A 1-D string attribute on the root group (variable-length UTF-8: h5py reads str). */
static int put_strings(hid_t file, const char *name, const char *const *v, int n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t a = H5Acreate2(file, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, t, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

static int put_vector(hid_t file, const char *name, const double *v, int n) {
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t d = H5Dcreate2(file, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return ok;
}

static int put_double(hid_t file, const char *name, double value) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(file, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &value) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return ok;
}

ws_status ws_fields_writer_open(ws_fields_writer **out, const char *path, int times, int c, int h, int w,
                                const char *const *names, const char *const *units, const double *lat_deg,
                                const double *lon_deg, double dt_hours, ws_error *err) {
    *out = NULL;
    if (times < 1 || c < 1 || h < 1 || w < 1 || c > WS_FIELDS_MAX_CHANNELS || !names || !lat_deg || !lon_deg)
        return wsi_error(err, WS_EINVAL, "ws_fields_writer_open(%s): times %d, shape %dx%dx%d (channels up to %d), "
                         "names, lat and lon are all required", path, times, c, h, w, WS_FIELDS_MAX_CHANNELS);
    ws_fields_writer *wr = calloc(1, sizeof *wr);
    if (!wr) return wsi_error(err, WS_ENOMEM, "ws_fields_writer_open(%s): out of memory", path);
    snprintf(wr->path, sizeof wr->path, "%s", path);
    snprintf(wr->tmp, sizeof wr->tmp, "%s.tmp", path);
    wr->times = times;
    wr->c = c;
    wr->h = h;
    wr->w = w;
    wr->space = wr->dset = -1;
    ws_status st = WS_OK;
    wsi_h5_lock();
    wr->file = H5Fcreate(wr->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (wr->file < 0) {
        st = h5_fail(wr, err, "H5Fcreate");
        goto out;
    }
    hsize_t dims[4] = {(hsize_t)times, (hsize_t)c, (hsize_t)h, (hsize_t)w};
    hsize_t chunk[4] = {1, (hsize_t)c, (hsize_t)h, (hsize_t)w};
    wr->space = H5Screate_simple(4, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    wr->dset = H5Dcreate2(wr->file, "fields", H5T_IEEE_F32LE, wr->space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    if (wr->dset < 0) {
        st = h5_fail(wr, err, "H5Dcreate2(fields)");
        goto out;
    }
    const char *const *u = units;
    if (!put_strings(wr->file, "channel_names", names, c) || (u && !put_strings(wr->file, "channel_units", u, c)) ||
        !put_double(wr->file, "dt_hours", dt_hours) || !put_vector(wr->file, "lat", lat_deg, h) ||
        !put_vector(wr->file, "lon", lon_deg, w))
        st = h5_fail(wr, err, "writing the grid and channel attributes");
out:
    if (st != WS_OK) {
        close_ids(wr);
        remove(wr->tmp);
        free(wr);
    } else {
        *out = wr;
    }
    wsi_h5_unlock();
    return st;
}

ws_status ws_fields_writer_attr_double(ws_fields_writer *wr, const char *name, double value, ws_error *err) {
    wsi_h5_lock();
    ws_status st = put_double(wr->file, name, value) ? WS_OK : h5_fail(wr, err, name);
    wsi_h5_unlock();
    return st;
}

ws_status ws_fields_writer_attr_string(ws_fields_writer *wr, const char *name, const char *value, ws_error *err) {
    wsi_h5_lock();
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(wr->file, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    ws_status st = (a >= 0 && H5Awrite(a, t, &value) >= 0) ? WS_OK : h5_fail(wr, err, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    wsi_h5_unlock();
    return st;
}

ws_status ws_fields_writer_put(ws_fields_writer *wr, int t, const float *sample, ws_error *err) {
    if (t < 0 || t >= wr->times)
        return wsi_error(err, WS_EINVAL, "ws_fields_writer_put(%s): time %d outside [0, %d)", wr->path, t, wr->times);
    wsi_h5_lock();
    hsize_t start[4] = {(hsize_t)t, 0, 0, 0}, count[4] = {1, (hsize_t)wr->c, (hsize_t)wr->h, (hsize_t)wr->w};
    hid_t mem = H5Screate_simple(4, count, NULL);
    ws_status st = WS_OK;
    if (H5Sselect_hyperslab(wr->space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dwrite(wr->dset, H5T_NATIVE_FLOAT, mem, wr->space, H5P_DEFAULT, sample) < 0)
        st = h5_fail(wr, err, "H5Dwrite(fields)");
    H5Sclose(mem);
    wsi_h5_unlock();
    return st;
}

ws_status ws_fields_writer_close(ws_fields_writer *wr, ws_error *err) {
    if (!wr) return WS_OK;
    wsi_h5_lock();
    ws_status st = WS_OK;
    if (H5Fflush(wr->file, H5F_SCOPE_LOCAL) < 0) st = h5_fail(wr, err, "H5Fflush");
    close_ids(wr);
    wsi_h5_unlock();
    if (st == WS_OK && rename(wr->tmp, wr->path) != 0)
        st = wsi_error(err, WS_EIO, "rename %s to %s: %s", wr->tmp, wr->path, strerror(errno));
    if (st != WS_OK) remove(wr->tmp);
    free(wr);
    return st;
}

void ws_fields_writer_abort(ws_fields_writer *wr) {
    if (!wr) return;
    wsi_h5_lock();
    close_ids(wr);
    wsi_h5_unlock();
    remove(wr->tmp);
    free(wr);
}

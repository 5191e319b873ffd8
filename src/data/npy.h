/* data/npy.h - NumPy's .npy files (format version 1.0), the form FourCastNet keeps its
 * normalisation statistics in (global_means.npy, global_stds.npy, time_means.npy).
 * defines: ws_npy_write, ws_npy_read. Implementation: data/npy.c.
 * Only what those files need: little-endian float32 ('<f4') and float64 ('<f8') arrays in
 * C order, up to WS_NPY_MAX_DIMS dimensions. */
#ifndef WS_DATA_NPY_H
#define WS_DATA_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

#define WS_NPY_MAX_DIMS 8

/* Writes data (count = product of dims elements of float32 when f64 is 0, else float64)
 * atomically (temp file and rename). Errors: WS_EINVAL, WS_EIO, WS_ENOMEM. */
ws_status ws_npy_write(const char *path, int f64, int ndims, const uint64_t *dims, const void *data, ws_error *err);

/* Reads a '<f4' or '<f8' C-order array, converted to double, into *data (malloc'd; the
 * caller frees), its shape into ndims/dims. Errors: WS_EIO (missing, unreadable,
 * truncated), WS_EFORMAT (not .npy, another dtype, Fortran order, too many dims), WS_ENOMEM.
 * The path is in every message. */
ws_status ws_npy_read(const char *path, double **data, int *ndims, uint64_t dims[WS_NPY_MAX_DIMS], ws_error *err);

#endif

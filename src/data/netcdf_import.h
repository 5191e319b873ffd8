/* data/netcdf_import.h - real fields from a NetCDF file (e.g. Debian's ferret-datasets
 * monthly_navy_winds.cdf) converted into FourCastNet's layout (data/fields.h), for a small
 * real-data run. defines: ws_netcdf_import_opts, ws_netcdf_import_opts_default,
 * ws_netcdf_import_report, ws_netcdf_import. Implementation: data/netcdf_import.c
 * (netCDF-C; built where it exists, WS_HAVE_NETCDF).
 *
 * Each chosen variable becomes a channel. Variables are [time, lat, lon], or [time, level,
 * lat, lon] with one level chosen; all must share the shape. Values are unpacked
 * (scale_factor, add_offset); points equal to _FillValue or missing_value are replaced by
 * the mean of the valid points of their plane (FourCastNet cannot train on gaps; the
 * report counts them). Rows are stored north first (flipped when the file's latitudes
 * ascend). dt_hours comes from the first two times and the time variable's units
 * ("hours|days|minutes|seconds since ...", "months" as 730.5 h); 6 when it cannot be read.
 * The times are cut into contiguous training, validation and test parts, one file each
 * (DIR/train/0001.h5, DIR/test/0002.h5, DIR/out_of_sample/0003.h5), statistics from the
 * training part (DIR/stats). Root attributes: source "netcdf", netcdf_file, netcdf_level,
 * channel names (the variables') and units. */
#ifndef WS_DATA_NETCDF_IMPORT_H
#define WS_DATA_NETCDF_IMPORT_H

#include "data/fields.h"
#include "wattscale/status.h"

typedef struct {
    const char *in_path, *out_dir;
    const char *vars[WS_FIELDS_MAX_CHANNELS];
    int n_vars;
    int level;        /* index into the level dimension of 4-D variables; -1: none */
    double split[3];  /* fractions of the times for train, validation, test */
    int overwrite;
} ws_netcdf_import_opts;

/* No paths or variables, level -1, split 0.7 / 0.15 / 0.15, no overwrite. */
ws_netcdf_import_opts ws_netcdf_import_opts_default(void);

typedef struct {
    long times[3];     /* per split */
    int c, h, w;
    double dt_hours;
    long filled;       /* missing points replaced */
} ws_netcdf_import_report;

/* Errors (naming the file and variable): WS_EIO (cannot open: netCDF's words), WS_EINVAL
 * (a variable that is not there: the message lists those that are; shapes that differ; a
 * level dimension without a level, or a level out of range; a split leaving a part of 1 or
 * 2 times; existing data without overwrite), WS_EFORMAT (a plane with no valid point),
 * WS_ENOTSUP (built without netCDF-C or HDF5), WS_ENOMEM. */
ws_status ws_netcdf_import(const ws_netcdf_import_opts *o, ws_netcdf_import_report *r, ws_error *err);

#endif

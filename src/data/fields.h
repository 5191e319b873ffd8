/* data/fields.h - forecasting datasets: global weather fields in FourCastNet's HDF5 layout
 * (ERA5, or the project's shallow-water data, data/swe.h), what an AFNO trains on.
 * defines: ws_fields_split, ws_fields_opts, ws_fields_opts_default, ws_fields_info,
 *          ws_fields (opaque), ws_fields_open, ws_fields_info_get, ws_fields_load,
 *          ws_fields_climatology, ws_fields_sample_time, ws_fields_labels, ws_fields_subset,
 *          ws_fields_sampler_open, ws_fields_close (reader: data/fields_h5.c; HDF5-free
 *          parts: data/fields.c); ws_fields_writer and ws_fields_write_stats (writer:
 *          data/fields_write.c). Built with HDF5 only (WS_HAVE_HDF5); without it open and
 *          the writer return WS_ENOTSUP saying to install libhdf5-dev.
 *
 * Layout (NVlabs/FourCastNet utils/data_loader_multifiles.py and its configs):
 *   ROOT/train/YEAR.h5         training years       (FourCastNet's train_data_path)
 *   ROOT/test/YEAR.h5          validation years     (its valid_data_path: "test" there)
 *   ROOT/out_of_sample/YEAR.h5 held-out test years  (its inf_data_path)
 *   ROOT/stats/global_means.npy, global_stds.npy   float, shape [1, C, 1, 1]
 *   ROOT/stats/time_means.npy                      float, shape [1, C, H, W] (climatology)
 * Each .h5 file holds one year (files sorted by name, as FourCastNet's glob + sort) as the
 * dataset "fields": float32 (any float type is converted) [T, C, H, W], rows north to
 * south. Optional, read when present (our writer adds them): root attributes
 * "channel_names" (strings), "dt_hours" (default 6, ERA5's), datasets "lat" [H] and "lon"
 * [W] in degrees (default ERA5's grid: lat 90 - j*180/(H-1), lon i*360/W).
 *
 * Samples: sample (file k, time t) is x = fields[t] and the targets fields[t+1 .. t+steps],
 * all inside file k (a forecast never crosses a year boundary), so file k with T_k times
 * has T_k - max_steps samples; sample indices run over the files in order. (FourCastNet
 * instead maps a year's last samples onto "predict yourself" or an earlier time; we
 * simply have fewer samples. Files may differ in T, e.g. leap years.)
 * Normalisation: x = (raw - global_mean[c]) / global_std[c], targets alike (FourCastNet's
 * zscore); ws_fields_info gives the mean and std to undo it.
 *
 * Thread-safety: ws_fields_load and ws_fields_climatology may run concurrently from any
 * number of threads on one dataset. HDF5 itself is thread-safe only when built so
 * (--enable-threadsafe, then it serialises every call behind its own global lock; Debian's
 * and Ubuntu's serial builds are), so every HDF5 call in wattscale goes through one
 * process-wide mutex of our own (data/h5util.h), which is correct for either kind of
 * build. The reads are therefore serialised; normalisation runs outside the lock. */
#ifndef WS_DATA_FIELDS_H
#define WS_DATA_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "data/sampler.h"
#include "wattscale/status.h"

typedef enum { WS_FIELDS_TRAIN = 0, WS_FIELDS_VALID = 1, WS_FIELDS_TEST = 2 } ws_fields_split;

/* Subfolder of a split: "train", "test", "out_of_sample" (FourCastNet's names); NULL
 * for a value outside the enum. */
const char *ws_fields_split_dir(ws_fields_split split);

#define WS_FIELDS_MAX_CHANNELS 256

typedef struct {
    const char *stats_dir;  /* folder with global_means.npy etc.; NULL: ROOT/stats */
    int max_steps;          /* targets per sample: 1 pre-training, 2 two-step fine-tuning */
    /* channel subset: indices into the file's channels, in the order wanted; NULL/0: all */
    const int *channels;
    int n_channels;
    /* crop, then stride, of the file's grid: rows [row0, row0+rows), columns [col0,
     * col0+cols) (0: to the end), every stride-th row and column from the first. E.g.
     * ERA5's 721 rows: rows 720, as FourCastNet drops the last (south pole) row. */
    int row0, rows, col0, cols, stride;
} ws_fields_opts;

/* stats_dir NULL, max_steps 1, all channels, the whole grid, stride 1. */
ws_fields_opts ws_fields_opts_default(void);

typedef struct {
    char source[64];        /* root attribute "source", else "fourcastnet-h5" */
    size_t count;           /* samples in the split */
    int c, h, w;            /* a sample's shape after channel subset, crop and stride */
    int max_steps;
    double dt_hours;        /* time between a sample and its target */
    size_t files;           /* year files in the split */
    int file_c, file_h, file_w;      /* the files' own shape */
    const char *const *channel_names; /* [c] */
    const double *lat_deg;  /* [h], the rows read (north first in FourCastNet files) */
    const double *lon_deg;  /* [w] */
    const double *mean, *std;        /* [c] normalisation, physical units */
} ws_fields_info;

typedef struct ws_fields ws_fields; /* opaque: fields live in data/fields_h5.c */

/* Opens split `split` of the dataset at `root` (see Layout): finds the year files, checks
 * that each has a float "fields" dataset of rank 4, that all share C, H and W, that each
 * has more than max_steps times, and reads the stats. Every file stays open (one HDF5
 * handle each) until close.
 * Errors (each names the file and the fix): WS_EIO (root or split folder missing, no .h5
 * file in it, a file HDF5 cannot open, stats missing), WS_EFORMAT (no "fields" dataset:
 * the message lists what the file holds; rank not 4; not a float type; C/H/W differ from
 * the first file; a file too short; stats of another shape or channel count; a std that is
 * not positive and finite), WS_EINVAL (bad options: channel index out of range, crop
 * outside the grid, max_steps < 1), WS_ENOTSUP (built without HDF5), WS_ENOMEM. */
ws_status ws_fields_open(ws_fields **out, const char *root, ws_fields_split split, const ws_fields_opts *opts,
                         ws_error *err);

const ws_fields_info *ws_fields_info_get(const ws_fields *f); /* cannot fail */

/* Fills x [n, c, h, w] with the normalised inputs and, when steps > 0, y [n, steps, c, h,
 * w] with the normalised targets of the given samples (0 <= steps <= max_steps; y may be
 * NULL when steps is 0; x may be NULL to load targets only). Duplicated indices are fine.
 * An index outside [0, count) or a bad steps is WS_EINVAL, checked before anything is
 * read; WS_EIO when HDF5 fails to read (the message names file and time). Thread-safe. */
ws_status ws_fields_load(const ws_fields *f, const int64_t *indices, size_t n, int steps, float *x, float *y,
                         ws_error *err);

/* The climatology [c, h, w] in physical units (stats/time_means.npy, channel subset, crop
 * and stride applied), for the anomaly correlation. WS_EIO when the file is missing,
 * WS_EFORMAT when its shape is not [1, file_c, file_h, file_w]. Thread-safe. */
ws_status ws_fields_climatology(const ws_fields *f, float *clim, ws_error *err);

/* Which file and time a sample starts at (index in range, else both -1). */
void ws_fields_sample_time(const ws_fields *f, int64_t index, int *file, int *time);

/* Per sample, the index of its year file (count entries, owned by the dataset), so that
 * ws_sampler_open can treat years like classes. */
const int32_t *ws_fields_labels(const ws_fields *f);

/* --data-fraction for fields: from each year file with n_k samples keep round(fraction *
 * n_k) (halves up, at least 1), spread evenly over the year: they are the first ones of
 * the year's bit-reversal order (0, n/2, n/4, 3n/4, ...), so the kept times sample the
 * whole seasonal cycle, no two are nearer than needed, the choice involves no randomness,
 * and a larger fraction keeps a superset of a smaller one's samples (the study's growing-
 * dataset series). A contiguous fraction would cover only part of the seasons, and a
 * random one (the class-stratified rule) would waste samples on neighbours 6 h apart.
 * Writes the kept sample indices, ascending, to *out (malloc'd; the caller frees) and their
 * number to *n. Errors: WS_EINVAL (fraction outside (0, 1]), WS_ENOMEM. */
ws_status ws_fields_subset(const ws_fields *f, double fraction, int64_t **out, size_t *n, ws_error *err);

/* The data-parallel sampler over ws_fields_subset(f, opts->fraction): per-epoch
 * permutation from (seed, epoch), interleaved shards of each global batch, drop_last as
 * in data/sampler.h; ws_sampler_batch then yields sample indices for ws_fields_load. */
ws_status ws_fields_sampler_open(ws_sampler **out, const ws_fields *f, const ws_sampler_opts *opts, ws_error *err);

void ws_fields_close(ws_fields *f); /* NULL is a no-op */

/* ---- synthetic fields (no file): for throughput and energy benchmarks ---- */

/* Random fields of a given shape, N(0,1) values (already "normalised": mean 0, std 1 per
 * channel, climatology 0), on ERA5's default grid coordinates, 6 h apart. A split is one
 * "year" of count + max_steps times; time t is field t % pool of a pool of distinct fields
 * drawn at open from (seed, split), so sample i is x = pool[i % pool], targets
 * pool[(i + 1 + s) % pool]: the data of a pure-compute benchmark (nothing to learn), cheap
 * to load (a copy), the same on every run and device. */
typedef struct {
    int c, h, w;       /* 20 x 720 x 1440: FourCastNet's ERA5 sample */
    size_t count;      /* samples in the split (>= 1) */
    int pool;          /* distinct fields kept (memory: pool x c x h x w floats); 0: max_steps + 3 */
    uint64_t seed;
} ws_fields_synthetic_opts;

/* Opens synthetic fields as a dataset of this interface (info.source "synthetic"; opts:
 * only max_steps applies; a crop or channel subset is WS_EINVAL, as the shape is given
 * here). The pool is drawn with OpenMP threads where the build has them. Errors:
 * WS_EINVAL (a size below 1, more than WS_FIELDS_MAX_CHANNELS channels), WS_ENOMEM,
 * WS_ENOTSUP (built without HDF5, like every dataset of this interface). */
ws_status ws_fields_open_synthetic(ws_fields **out, const ws_fields_synthetic_opts *so, ws_fields_split split,
                                   const ws_fields_opts *opts, ws_error *err);
/* Synthetic fields only (else NULL and 0): the pool [pool, c, h, w], host memory owned by
 * f, so a GPU run can keep it on the device and build batches by device copies; and the
 * pool slot of sample `index`'s time step `step` (0 the input, s >= 1 target s). */
const float *ws_fields_synthetic_pool(const ws_fields *f, int *pool);
int ws_fields_synthetic_slot(const ws_fields *f, int64_t index, int step);

/* ---- writing the layout (data/fields_write.c) ---- */

typedef struct ws_fields_writer ws_fields_writer; /* one year file being written */

/* Creates PATH.tmp holding "fields" float32 [times, c, h, w], chunked one time step per
 * chunk (a sample is one contiguous read), plus the datasets "lat" [h], "lon" [w] and the
 * root attributes "channel_names", "channel_units" (units may be NULL) and "dt_hours".
 * Close renames it to PATH, so a reader never sees half a file. Errors: WS_EINVAL,
 * WS_EIO (HDF5's words and the path), WS_ENOTSUP (no HDF5). */
ws_status ws_fields_writer_open(ws_fields_writer **out, const char *path, int times, int c, int h, int w,
                                const char *const *names, const char *const *units, const double *lat_deg,
                                const double *lon_deg, double dt_hours, ws_error *err);
/* Root attributes: a number, a string. */
ws_status ws_fields_writer_attr_double(ws_fields_writer *wr, const char *name, double value, ws_error *err);
ws_status ws_fields_writer_attr_string(ws_fields_writer *wr, const char *name, const char *value, ws_error *err);
/* Writes time step t (0 <= t < times) from sample [c, h, w]. */
ws_status ws_fields_writer_put(ws_fields_writer *wr, int t, const float *sample, ws_error *err);
/* Flushes, closes and renames to the final path; frees wr in any case. */
ws_status ws_fields_writer_close(ws_fields_writer *wr, ws_error *err);
/* Closes and deletes the temporary file; NULL is a no-op. */
void ws_fields_writer_abort(ws_fields_writer *wr);

/* Prepares ROOT for writing a dataset: creates it, and refuses (WS_EINVAL, naming the folder
 * and --force) when a split folder already holds .h5 files, unless overwrite is set. */
ws_status ws_fields_prepare_root(const char *root, int overwrite, ws_error *err);

/* Statistics of the training samples as they are written: per channel mean and std over
 * all samples and grid points (unweighted, as FourCastNet's get_stats.py) and the time mean
 * of every grid point (the climatology). Double accumulators with a per-channel shift (the
 * first sample's channel mean), so the variance of a field far from 0 (z ~ 5e4) does not
 * cancel away. */
typedef struct ws_fields_stats ws_fields_stats;
ws_status ws_fields_stats_open(ws_fields_stats **out, int c, int h, int w, ws_error *err);
void ws_fields_stats_add(ws_fields_stats *s, const float *sample); /* [c, h, w], physical */
long ws_fields_stats_count(const ws_fields_stats *s);
/* ws_fields_write_stats of what was added to DIR (WS_EINVAL when nothing was). */
ws_status ws_fields_stats_write(const ws_fields_stats *s, const char *dir, ws_error *err);
void ws_fields_stats_close(ws_fields_stats *s); /* NULL is a no-op */

/* Writes DIR/global_means.npy and DIR/global_stds.npy ([1, c, 1, 1] float64) and, when
 * time_means is non-NULL, DIR/time_means.npy ([1, c, h, w] float32), each atomically;
 * creates DIR. NumPy's .npy format, so FourCastNet's np.load reads them. */
ws_status ws_fields_write_stats(const char *dir, int c, int h, int w, const double *mean, const double *std,
                                const float *time_means, ws_error *err);

#endif

/* data/dataset.c - the backend-independent half of ws_dataset: the handle, index checking,
 * labels, output formats, counters and close. Contract in data/dataset.h; backends:
 * data/dataset_idx.c, data/dataset_synthetic.c, data/dataset_imagenet.c. */
#include "data/dataset.h"
#include "core/error.h"

#include <inttypes.h>
#include <stdlib.h>

struct ws_dataset {
    ws_dataset_info info;
    int32_t *labels; /* [count] */
    const wsi_dataset_ops *ops;
    void *impl;
};

ws_status wsi_dataset_create(ws_dataset **out, const ws_dataset_info *info, int32_t *labels,
                             const wsi_dataset_ops *ops, void *impl, ws_error *err) {
    *out = NULL;
    ws_dataset *d = malloc(sizeof *d);
    if (!d) {
        free(labels);
        if (ops->free_impl) ops->free_impl(impl);
        return wsi_error(err, WS_ENOMEM, "%s: out of memory for the dataset handle", info->name);
    }
    d->info = *info;
    d->labels = labels;
    d->ops = ops;
    d->impl = impl;
    *out = d;
    return WS_OK;
}

const ws_dataset_info *ws_dataset_info_get(const ws_dataset *d) { return &d->info; }

const int32_t *ws_dataset_labels(const ws_dataset *d) { return d->labels; }

const void *wsi_dataset_impl(const ws_dataset *d) { return d->impl; }
const wsi_dataset_ops *wsi_dataset_get_ops(const ws_dataset *d) { return d->ops; }

ws_load_opts ws_load_opts_default(void) { return (ws_load_opts){.epoch = 0, .format = WS_SAMPLES_NCHW_F32}; }

size_t ws_dataset_sample_bytes(const ws_dataset *d, ws_sample_format format) {
    size_t chw = (size_t)d->info.c * (size_t)d->info.h * (size_t)d->info.w;
    return format == WS_SAMPLES_NHWC_U8 ? chw : chw * sizeof(float);
}

uint64_t ws_dataset_corrupt_files(const ws_dataset *d) {
    return d->ops->corrupt_files ? d->ops->corrupt_files(d->impl) : 0;
}

uint64_t ws_dataset_substituted(const ws_dataset *d) { return d->ops->substituted ? d->ops->substituted(d->impl) : 0; }

ws_status ws_dataset_load_ex(const ws_dataset *d, const int64_t *indices, size_t n, const ws_load_opts *lo, void *x,
                             int32_t *labels, ws_error *err) {
    ws_load_opts def = ws_load_opts_default();
    if (!lo) lo = &def;
    /* all checks first: a bad batch writes nothing, so the caller never trains on half of it */
    if (lo->format != WS_SAMPLES_NCHW_F32 && lo->format != WS_SAMPLES_NHWC_U8)
        return wsi_error(err, WS_EINVAL, "ws_dataset_load_ex(%s): format %d is neither WS_SAMPLES_NCHW_F32 nor "
                         "WS_SAMPLES_NHWC_U8", d->info.name, (int)lo->format);
    if (x && lo->format == WS_SAMPLES_NHWC_U8 && !d->ops->sample &&
        (!d->ops->fill_u8 || d->info.c > WS_DATASET_MAX_CHANNELS))
        return wsi_error(err, WS_ENOTSUP, "ws_dataset_load_ex(%s): no uint8 form for %d-channel samples (at most %d "
                         "channels); load WS_SAMPLES_NCHW_F32 instead", d->info.name, d->info.c,
                         WS_DATASET_MAX_CHANNELS);
    for (size_t i = 0; i < n; i++) {
        if (indices[i] < 0 || (uint64_t)indices[i] >= d->info.count)
            return wsi_error(err, WS_EINVAL, "ws_dataset_load(%s): indices[%zu] = %" PRId64
                             " is outside [0, %zu)", d->info.name, i, indices[i], d->info.count);
    }
    size_t bytes = ws_dataset_sample_bytes(d, lo->format);
    for (size_t i = 0; i < n; i++) {
        if (labels) labels[i] = d->labels[indices[i]];
        if (!x) continue;
        void *xi = (unsigned char *)x + i * bytes;
        if (d->ops->sample) {
            ws_status st = d->ops->sample(d->impl, &d->info, indices[i], lo, xi, err);
            if (st != WS_OK) return st;
        } else if (lo->format == WS_SAMPLES_NHWC_U8) {
            d->ops->fill_u8(d->impl, &d->info, indices[i], xi);
        } else {
            d->ops->fill(d->impl, &d->info, indices[i], xi);
        }
    }
    return WS_OK;
}

ws_status ws_dataset_load(const ws_dataset *d, const int64_t *indices, size_t n, float *x, int32_t *labels,
                          ws_error *err) {
    return ws_dataset_load_ex(d, indices, n, NULL, x, labels, err);
}

void ws_dataset_close(ws_dataset *d) {
    if (!d) return;
    if (d->ops->free_impl) d->ops->free_impl(d->impl);
    free(d->labels);
    free(d);
}

/* data/dataset.c - the backend-independent half of ws_dataset: the handle, index checking,
 * labels and close. Contract in data/dataset.h; backends: data/dataset_idx.c,
 * data/dataset_synthetic.c. */
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

ws_status ws_dataset_load(const ws_dataset *d, const int64_t *indices, size_t n, float *x, int32_t *labels,
                          ws_error *err) {
    /* all indices first: a bad batch writes nothing, so the caller never trains on half of it */
    for (size_t i = 0; i < n; i++) {
        if (indices[i] < 0 || (uint64_t)indices[i] >= d->info.count)
            return wsi_error(err, WS_EINVAL, "ws_dataset_load(%s): indices[%zu] = %" PRId64
                             " is outside [0, %zu)", d->info.name, i, indices[i], d->info.count);
    }
    size_t chw = (size_t)d->info.c * (size_t)d->info.h * (size_t)d->info.w;
    for (size_t i = 0; i < n; i++) {
        if (labels) labels[i] = d->labels[indices[i]];
        if (x) d->ops->fill(d->impl, &d->info, indices[i], x + i * chw);
    }
    return WS_OK;
}

void ws_dataset_close(ws_dataset *d) {
    if (!d) return;
    if (d->ops->free_impl) d->ops->free_impl(d->impl);
    free(d->labels);
    free(d);
}

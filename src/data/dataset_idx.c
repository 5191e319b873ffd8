/* data/dataset_idx.c - MNIST and Fashion-MNIST from their IDX files.
 * defines: ws_dataset_open_idx (contract in data/dataset.h); file reading: data/idx.c.
 *
 * Both splits are held whole as the files' uint8 pixels (60000x28x28 = 47 MB for train);
 * normalisation happens per load through a 256-entry table, so memory stays a quarter of
 * what fp32 would take and a load is one table look-up per pixel. */
#include "data/dataset.h"
#include "data/idx.h"
#include "core/error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IDX_CLASSES 10 /* both MNIST (digits) and Fashion-MNIST (10 garment types) */

typedef struct {
    ws_idx images;  /* [count, h, w] uint8 */
    float lut[256]; /* pixel value -> normalised fp32; read-only after open */
} idx_impl;

static void idx_fill(const void *impl, const ws_dataset_info *info, int64_t index, float *x) {
    const idx_impl *m = impl;
    size_t hw = (size_t)info->h * (size_t)info->w;
    const uint8_t *px = m->images.data + (size_t)index * hw;
    for (size_t p = 0; p < hw; p++) x[p] = m->lut[px[p]];
}

/* uint8 [H,W,1]: the file's pixels as they are (normalised later with info.norm_mean/std) */
static void idx_fill_u8(const void *impl, const ws_dataset_info *info, int64_t index, uint8_t *x) {
    const idx_impl *m = impl;
    size_t hw = (size_t)info->h * (size_t)info->w;
    memcpy(x, m->images.data + (size_t)index * hw, hw);
}

static void idx_free(void *impl) {
    idx_impl *m = impl;
    if (!m) return;
    ws_idx_free(&m->images);
    free(m);
}

static const wsi_dataset_ops idx_ops = {.fill = idx_fill, .fill_u8 = idx_fill_u8, .free_impl = idx_free};

static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

/* dir/stem, else dir/stem.gz (the plain file wins: someone who gunzipped the files meant
 * those). Neither: WS_EIO naming both, with the fix. */
static ws_status find_file(char *path, size_t size, const char *kind, const char *dir, int is_default,
                           const char *stem, ws_error *err) {
    if ((size_t)snprintf(path, size, "%s/%s", dir, stem) >= size)
        return wsi_error(err, WS_EINVAL, "%s: folder path too long: %s", kind, dir);
    if (is_file(path)) return WS_OK;
    if ((size_t)snprintf(path, size, "%s/%s.gz", dir, stem) >= size)
        return wsi_error(err, WS_EINVAL, "%s: folder path too long: %s", kind, dir);
    if (is_file(path)) return WS_OK;
    struct stat sb;
    int dir_exists = stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (is_default)
        return wsi_error(err, WS_EIO, "%s: no %s/%s[.gz]%s; install Debian's Fashion-MNIST with "
                         "`apt-get install dataset-fashion-mnist`, or pass the folder that holds the files",
                         kind, dir, stem, dir_exists ? "" : " (the folder does not exist)");
    return wsi_error(err, WS_EIO, "%s: no %s/%s[.gz]%s; pass the folder that holds train-images-idx3-ubyte, "
                     "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (plain or .gz)",
                     kind, dir, stem, dir_exists ? "" : " (the folder does not exist)");
}

ws_status ws_dataset_open_idx(ws_dataset **out, const char *kind, const char *dir, ws_split split, ws_error *err) {
    *out = NULL;
    if (!kind) kind = "fashion-mnist";
    double mean, std;
    if (strcmp(kind, "fashion-mnist") == 0) {
        mean = WS_FASHION_MNIST_MEAN;
        std = WS_FASHION_MNIST_STD;
    } else if (strcmp(kind, "mnist") == 0) {
        mean = WS_MNIST_MEAN;
        std = WS_MNIST_STD;
    } else {
        return wsi_error(err, WS_EINVAL, "ws_dataset_open_idx: unknown kind \"%s\"; use \"fashion-mnist\" or \"mnist\"",
                         kind);
    }
    if (split != WS_SPLIT_TRAIN && split != WS_SPLIT_VAL)
        return wsi_error(err, WS_EINVAL, "ws_dataset_open_idx(%s): split %d is neither WS_SPLIT_TRAIN nor WS_SPLIT_VAL",
                         kind, (int)split);
    int is_default = !dir || strcmp(dir, WS_DATASET_DEFAULT_DIR) == 0;
    if (!dir) {
        if (strcmp(kind, "mnist") == 0)
            return wsi_error(err, WS_EINVAL, "ws_dataset_open_idx(mnist): no default folder (%s holds Fashion-MNIST); "
                             "pass the folder that holds the MNIST files", WS_DATASET_DEFAULT_DIR);
        dir = WS_DATASET_DEFAULT_DIR;
    }

    const char *prefix = split == WS_SPLIT_TRAIN ? "train" : "t10k";
    char stem[64], images_path[4096], labels_path[4096];
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
    ws_status st = find_file(images_path, sizeof images_path, kind, dir, is_default, stem, err);
    if (st != WS_OK) return st;
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
    st = find_file(labels_path, sizeof labels_path, kind, dir, is_default, stem, err);
    if (st != WS_OK) return st;

    idx_impl *m = calloc(1, sizeof *m);
    if (!m) return wsi_error(err, WS_ENOMEM, "%s: out of memory", kind);
    ws_idx labels = {0};
    int32_t *label32 = NULL;
    st = ws_idx_read(&m->images, images_path, WS_IDX_MAGIC_IMAGES, err);
    if (st == WS_OK) st = ws_idx_read(&labels, labels_path, WS_IDX_MAGIC_LABELS, err);
    if (st != WS_OK) goto fail;

    size_t count = m->images.dims[0];
    if (labels.dims[0] != count) {
        st = wsi_error(err, WS_EFORMAT, "%s: %s holds %zu images but %s holds %u labels; the two files must come "
                       "from the same split", kind, images_path, count, labels_path, labels.dims[0]);
        goto fail;
    }
    if ((uint64_t)m->images.dims[1] * m->images.dims[2] > INT_MAX) {
        st = wsi_error(err, WS_EFORMAT, "%s: %s: images of %ux%u pixels are implausibly large", kind, images_path,
                       m->images.dims[1], m->images.dims[2]);
        goto fail;
    }
    label32 = malloc(count * sizeof *label32);
    if (!label32) {
        st = wsi_error(err, WS_ENOMEM, "%s: out of memory for %zu labels", kind, count);
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        if (labels.data[i] >= IDX_CLASSES) {
            st = wsi_error(err, WS_EFORMAT, "%s: %s: label %u at index %zu, expected 0..%d", kind, labels_path,
                           labels.data[i], i, IDX_CLASSES - 1);
            goto fail;
        }
        label32[i] = labels.data[i];
    }
    ws_idx_free(&labels);
    for (int v = 0; v < 256; v++) m->lut[v] = (float)((v / 255.0 - mean) / std);

    ws_dataset_info info = {.count = count, .c = 1, .h = (int)m->images.dims[1], .w = (int)m->images.dims[2],
                            .classes = IDX_CLASSES, .mean = mean, .std = std,
                            .norm_mean = {mean}, .norm_std = {std}};
    snprintf(info.name, sizeof info.name, "%s", kind);
    return wsi_dataset_create(out, &info, label32, &idx_ops, m, err);

fail:
    free(label32);
    ws_idx_free(&labels);
    idx_free(m);
    return st;
}

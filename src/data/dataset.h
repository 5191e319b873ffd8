/* data/dataset.h - image classification datasets: what the trainer loads samples from.
 * defines: ws_split, ws_dataset_info, ws_dataset (opaque), ws_dataset_open_idx (MNIST and
 *          Fashion-MNIST, data/dataset_idx.c), ws_synthetic_opts, ws_synthetic_opts_default,
 *          ws_dataset_open_synthetic (data/dataset_synthetic.c), ws_dataset_info_get,
 *          ws_dataset_labels, ws_dataset_load, ws_dataset_close (data/dataset.c), and the
 *          backend hook wsi_dataset_create.
 *
 * Shapes: a sample is [C,H,W]; ws_dataset_load writes x [N,C,H,W] (NCHW, fp32, already
 * normalised) and labels [N] (int32 in [0, classes)).
 *
 * Thread-safety: a dataset is immutable after open. ws_dataset_load may run concurrently
 * from any number of threads on one dataset (data-loader threads); open and close may not
 * overlap with anything else on the same dataset. */
#ifndef WS_DATA_DATASET_H
#define WS_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

typedef enum { WS_SPLIT_TRAIN = 0, WS_SPLIT_VAL = 1 } ws_split;

typedef struct {
    char name[64];      /* "fashion-mnist", "mnist", "synthetic" */
    size_t count;       /* samples in the opened split */
    int c, h, w;        /* sample shape */
    int classes;        /* labels are in [0, classes) */
    double mean, std;   /* normalisation used: x = (pixel/255 - mean) / std (IDX); 0 and 1
                           for synthetic data, which is generated already centred */
} ws_dataset_info;

typedef struct ws_dataset ws_dataset; /* opaque: fields live in data/dataset.c */

/* Default folder: Debian's dataset-fashion-mnist package installs the four .gz files here. */
#define WS_DATASET_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* Normalisation constants: the mean and standard deviation of the training pixels scaled to
 * [0,1], as in the torchvision tutorials (transforms.Normalize((0.1307,), (0.3081,)) for
 * MNIST; (0.2860,), (0.3530,) for Fashion-MNIST). The same constants serve the val split,
 * as in PyTorch: statistics come from the training data only. */
#define WS_FASHION_MNIST_MEAN 0.2860
#define WS_FASHION_MNIST_STD 0.3530
#define WS_MNIST_MEAN 0.1307
#define WS_MNIST_STD 0.3081

/* MNIST-layout IDX files. kind: "fashion-mnist" or "mnist" (only the name and the
 * normalisation constants differ). dir: the folder holding train-images-idx3-ubyte,
 * train-labels-idx1-ubyte (WS_SPLIT_TRAIN) and t10k-images-idx3-ubyte,
 * t10k-labels-idx1-ubyte (WS_SPLIT_VAL), each plain or with ".gz" (the plain file wins when
 * both exist). dir NULL: WS_DATASET_DEFAULT_DIR, which holds Fashion-MNIST only, so NULL
 * with kind "mnist" is WS_EINVAL rather than silently reading the wrong dataset.
 * Reads both files whole into memory as uint8 (47 MB for the Fashion-MNIST training
 * images); nothing touches the disk after open.
 * Errors: WS_EINVAL (unknown kind, bad split), WS_EIO (a file is missing or unreadable; for
 * the default folder the message says to apt-get install dataset-fashion-mnist),
 * WS_EFORMAT (bad magic, truncated file, image and label counts differ, a label >= 10),
 * WS_ENOMEM. On error *out is NULL. */
ws_status ws_dataset_open_idx(ws_dataset **out, const char *kind, const char *dir, ws_split split, ws_error *err);

typedef struct {
    size_t count;    /* samples in the opened split */
    int c, h, w;     /* sample shape */
    int classes;     /* labels uniform over [0, classes) */
    uint64_t seed;
    double signal;   /* amplitude of the class pattern added to the noise; 0: pure noise
                        (nothing to learn) */
} ws_synthetic_opts;

/* count 10000, 3x224x224 (ImageNet's training shape), 1000 classes, seed 0, signal 0.5. */
ws_synthetic_opts ws_synthetic_opts_default(void);

/* Synthetic data of any shape, generated on demand (nothing but the labels is stored), for
 * measuring the cost of training at a shape with no dataset on disk.
 * Sample i of a split is a function of (seed, split, i) alone: its label and pixels come
 * from ws_rng_split(split stream, i), so it is the same whatever order, batch or thread
 * loads it. Label ~ uniform over classes. Pixel = N(0,1) noise + signal * P_label, where
 * P_k is a fixed per-class pattern of +-1 (one random sign per element, a function of
 * (seed, k) only, shared by both splits), so a model can learn the classes from the train
 * split and be checked on the val split; with the default signal 0.5 each element carries
 * a weak cue that many elements together make easy. Values are not normalised further:
 * info mean 0, std 1 (the true std is sqrt(1 + signal^2)).
 * Cost: generation is CPU work on every load, ~3.7 ms per 3x224x224 sample on one core of
 * the development machine (-O2), i.e. ~270 samples/s per thread: feed a GPU from several
 * loader threads (loads are thread-safe) or reuse a loaded batch when only compute matters.
 * Errors: WS_EINVAL (count, c, h, w or classes < 1, a sample over 2^31 elements, signal not
 * finite), WS_ENOMEM. */
ws_status ws_dataset_open_synthetic(ws_dataset **out, const ws_synthetic_opts *o, ws_split split, ws_error *err);

const ws_dataset_info *ws_dataset_info_get(const ws_dataset *d); /* cannot fail */
const int32_t *ws_dataset_labels(const ws_dataset *d);           /* count labels, in order */

/* Fills x [n,C,H,W] (fp32, normalised) and labels [n] for the given dataset indices; either
 * output may be NULL to skip it. Duplicated indices are fine. An index outside [0, count)
 * is WS_EINVAL, checked before anything is written. Thread-safe (see top). */
ws_status ws_dataset_load(const ws_dataset *d, const int64_t *indices, size_t n, float *x, int32_t *labels,
                          ws_error *err);

void ws_dataset_close(ws_dataset *d); /* NULL is a no-op */

/* ---- for backends (data/dataset_idx.c, data/dataset_synthetic.c) ---- */

typedef struct {
    /* Writes sample `index` (already range-checked) to x [C,H,W]. Must only read impl. */
    void (*fill)(const void *impl, const ws_dataset_info *info, int64_t index, float *x);
    void (*free_impl)(void *impl);
} wsi_dataset_ops;

/* Wraps a backend: takes ownership of labels (malloc'd, info->count entries) and impl, also
 * on failure (they are freed then), so a failed open leaves nothing to undo. */
ws_status wsi_dataset_create(ws_dataset **out, const ws_dataset_info *info, int32_t *labels,
                             const wsi_dataset_ops *ops, void *impl, ws_error *err);

#endif

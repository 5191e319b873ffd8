/* data/dataset.h - image classification datasets: what the trainer loads samples from.
 * defines: ws_split, ws_dataset_info, ws_dataset (opaque), ws_dataset_open_idx (MNIST and
 *          Fashion-MNIST, data/dataset_idx.c), ws_synthetic_opts, ws_synthetic_opts_default,
 *          ws_dataset_open_synthetic (data/dataset_synthetic.c), ws_imagenet_opts,
 *          ws_imagenet_opts_default, ws_dataset_open_imagenet (data/dataset_imagenet.c),
 *          ws_sample_format, ws_load_opts, ws_load_opts_default, ws_dataset_info_get,
 *          ws_dataset_labels, ws_dataset_load, ws_dataset_load_ex, ws_dataset_sample_bytes,
 *          ws_dataset_corrupt_files, ws_dataset_substituted, ws_dataset_close
 *          (data/dataset.c), and the backend hook wsi_dataset_create.
 *
 * Shapes: a sample is [C,H,W]; ws_dataset_load writes x [N,C,H,W] (NCHW, fp32, already
 * normalised) and labels [N] (int32 in [0, classes)). ws_dataset_load_ex can instead write
 * x [N,H,W,C] uint8 before normalisation (WS_SAMPLES_NHWC_U8: a quarter of the bytes, for a
 * GPU that normalises on the device with info.norm_mean/norm_std), and takes the epoch that
 * augmenting datasets (ImageNet's random crops) draw their randomness from.
 *
 * Thread-safety: a dataset is immutable after open (but for its atomic counters of
 * unreadable files). ws_dataset_load and ws_dataset_load_ex may run concurrently from any
 * number of threads on one dataset (data-loader threads: data/loader.h); open and close may
 * not overlap with anything else on the same dataset. */
#ifndef WS_DATA_DATASET_H
#define WS_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

typedef enum { WS_SPLIT_TRAIN = 0, WS_SPLIT_VAL = 1 } ws_split;

/* Channels whose normalisation ws_dataset_info can describe (uint8 output needs c <= this). */
#define WS_DATASET_MAX_CHANNELS 4

typedef struct {
    char name[64];      /* "fashion-mnist", "mnist", "synthetic", "imagenet" */
    size_t count;       /* samples in the opened split */
    int c, h, w;        /* sample shape */
    int classes;        /* labels are in [0, classes) */
    double mean, std;   /* normalisation used when it is the same for every channel:
                           x = (pixel/255 - mean) / std (IDX); 0 and 1 for synthetic data,
                           which is generated already centred; NAN when it differs per
                           channel (ImageNet): then read norm_mean/norm_std */
    /* Per channel, in [0,1] units, what turns the uint8 form into the fp32 form:
     * x[c] = (u8[c]/255 - norm_mean[c]) / norm_std[c]. Filled for channels
     * 0..min(c, WS_DATASET_MAX_CHANNELS)-1: IDX its mean/std, ImageNet (0.485, 0.456, 0.406)
     * and (0.229, 0.224, 0.225), synthetic 128/255 and 32/255 (its uint8 form quantises
     * x to 1/32 and clips it to about +-4). */
    double norm_mean[WS_DATASET_MAX_CHANNELS], norm_std[WS_DATASET_MAX_CHANNELS];
} ws_dataset_info;

typedef enum {
    WS_SAMPLES_NCHW_F32 = 0, /* x [N,C,H,W] float, normalised: what the CPU backend trains on */
    WS_SAMPLES_NHWC_U8 = 1   /* x [N,H,W,C] uint8, HWC per sample, before normalisation */
} ws_sample_format;

/* How ws_dataset_load_ex makes samples. */
typedef struct {
    uint64_t epoch;          /* augmenting datasets: sample i's randomness is a function of
                                (dataset seed, epoch, i) alone, so it is the same whatever
                                thread, batch or order loads it; others ignore it */
    ws_sample_format format; /* WS_SAMPLES_NCHW_F32 */
} ws_load_opts;

ws_load_opts ws_load_opts_default(void); /* epoch 0, NCHW fp32: what ws_dataset_load does */

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

/* ImageNet-layout folders of JPEG files (data/dataset_imagenet.c; decoding data/jpeg.c,
 * transforms data/transform.c). */
typedef struct {
    int random_crop;         /* -1: by split (train: random crop + flip, val: centre crop);
                                1: RandomResizedCrop + flip; 0: Resize + CenterCrop */
    int crop_size;           /* output side (224); samples are 3 x crop_size x crop_size */
    int resize_size;         /* centre crop: the shorter side is resized to this first (256) */
    double scale_min, scale_max; /* random crop: area fraction range (0.08, 1), as torchvision;
                                    the study used (0.5, 1) */
    double ratio_min, ratio_max; /* random crop: aspect ratio range (3/4, 4/3) */
    double flip_p;           /* random crop: horizontal flip probability (0.5) */
    int dct_scaling;         /* 1: let libjpeg decode at M/8 size (M = 1..8) where the crop is
                                still at least crop_size after it (much faster); 0: decode at
                                full size (what nvJPEG does; for comparisons) */
    uint64_t seed;           /* augmentation randomness: (seed, epoch, index) */
    const char *val_labels;  /* flat val folder: its label file; NULL: look for
                                DIR/LOC_val_solution.csv, DIR/val/LOC_val_solution.csv,
                                DIR/val_labels.txt, DIR/val/val_labels.txt (see below) */
} ws_imagenet_opts;

/* random_crop -1, 224, 256, scale (0.08, 1), ratio (3/4, 4/3), flip 0.5, dct_scaling 1,
 * seed 0, val_labels NULL. */
ws_imagenet_opts ws_imagenet_opts_default(void);

/* The ImageNet folder layout, as torchvision's ImageFolder reads it:
 *   DIR/train/<class>/<image>.JPEG    (WS_SPLIT_TRAIN)
 *   DIR/val/<class>/<image>.JPEG      (WS_SPLIT_VAL, class folders), or
 *   DIR/val/<image>.JPEG + a label file (WS_SPLIT_VAL, flat: the ILSVRC2012 download).
 * Classes are the class folder names sorted by byte value (strcmp; Python's sorted() on
 * the names), index 0 first, as ImageFolder assigns them; folders whose name starts with
 * '.' are skipped (ImageFolder would count them). Images are the files directly inside a
 * class folder ending in .jpg or .jpeg (any case), sorted by name within the class; index
 * order is class by class, so sample indices equal ImageFolder's on JPEG-only trees.
 * Files with another extension and nested folders are ignored (one warning with the count).
 * Val, flat: the classes come from DIR/train's class folders (their names only: no image
 * list is read) and every image needs a label from the label file, one of:
 *   - LOC_val_solution.csv (the Kaggle ILSVRC download): header "ImageId,PredictionString",
 *     rows "ILSVRC2012_val_00000001,n01751748 <box> ..." (the first word is the class);
 *   - a text file of lines "FILE CLASS" (whitespace-separated; '#' starts a comment): FILE
 *     an image name with or without its extension, CLASS a class folder name (n01751748)
 *     or a 0-based index into the sorted classes.
 * Val with class folders must have the same class names as train when train exists.
 * Scanning reads directory entries only (readdir, no stat per file): the file list is held
 * in memory (about 40 bytes per image), not cached on disk, and is re-read at every open.
 * Samples: 3 x crop_size x crop_size, RGB (greyscale and CMYK/YCCK JPEGs converted),
 * normalised with ImageNet's mean and std. Train: RandomResizedCrop (torchvision's
 * algorithm: 10 attempts, then its centre fallback) + horizontal flip; val: Resize (the
 * shorter side to resize_size) + CenterCrop. Resampling is antialiased bilinear (a triangle
 * filter widened by the downscale factor, as PIL's BILINEAR and torchvision's antialias=True),
 * after the DCT downscaling.
 * Unreadable images (truncated, corrupt, not a JPEG, vanished): the sample is replaced by
 * the next image of the same class (index + 1, + 2, ..., wrapping inside the class; the
 * label stays right), with the same crop randomness; each bad file is warned about once,
 * naming it, and skipped from then on; ws_dataset_corrupt_files counts them. A class with
 * no readable image gives a mean-grey sample (counted, warned).
 * Errors: WS_EIO (DIR, its split folder or the label file missing or unreadable: the
 * message names the folder and the layout expected), WS_EFORMAT (no class folders, no
 * images, a flat val image without a label, a label naming an unknown class, val's classes
 * differing from train's), WS_EINVAL (bad options), WS_ENOMEM. On error *out is NULL. */
ws_status ws_dataset_open_imagenet(ws_dataset **out, const char *dir, ws_split split, const ws_imagenet_opts *o,
                                   ws_error *err);

/* ImageNet's normalisation (torchvision's transforms.Normalize in its reference scripts). */
#define WS_IMAGENET_MEAN_R 0.485
#define WS_IMAGENET_MEAN_G 0.456
#define WS_IMAGENET_MEAN_B 0.406
#define WS_IMAGENET_STD_R 0.229
#define WS_IMAGENET_STD_G 0.224
#define WS_IMAGENET_STD_B 0.225

const ws_dataset_info *ws_dataset_info_get(const ws_dataset *d); /* cannot fail */
const int32_t *ws_dataset_labels(const ws_dataset *d);           /* count labels, in order */

/* Fills x [n,C,H,W] (fp32, normalised) and labels [n] for the given dataset indices; either
 * output may be NULL to skip it. Duplicated indices are fine. An index outside [0, count)
 * is WS_EINVAL, checked before anything is written. Thread-safe (see top). */
ws_status ws_dataset_load(const ws_dataset *d, const int64_t *indices, size_t n, float *x, int32_t *labels,
                          ws_error *err);

/* ws_dataset_load with options (lo NULL: ws_load_opts_default()): the epoch for augmenting
 * datasets and the output format; x then holds n * ws_dataset_sample_bytes(d, format)
 * bytes. WS_ENOTSUP for uint8 output with c > WS_DATASET_MAX_CHANNELS; WS_EINVAL for a bad
 * index or format (nothing written); WS_ENOMEM, or another backend error, after part of x
 * may be written. Thread-safe (see top). */
ws_status ws_dataset_load_ex(const ws_dataset *d, const int64_t *indices, size_t n, const ws_load_opts *lo, void *x,
                             int32_t *labels, ws_error *err);

/* Bytes of one sample in a format: c*h*w*4 (fp32) or c*h*w (uint8). Cannot fail. */
size_t ws_dataset_sample_bytes(const ws_dataset *d, ws_sample_format format);

/* Files found unreadable so far (each counted once; 0 for datasets without files), and
 * samples served by a substitute because of them (every time). Thread-safe; they only grow.
 * For the run record (corrupt files skipped). */
uint64_t ws_dataset_corrupt_files(const ws_dataset *d);
uint64_t ws_dataset_substituted(const ws_dataset *d);

void ws_dataset_close(ws_dataset *d); /* NULL is a no-op */

/* ---- for backends (data/dataset_idx.c, data/dataset_synthetic.c) ---- */

typedef struct {
    /* Writes sample `index` (already range-checked) to x [C,H,W]. Must only read impl. */
    void (*fill)(const void *impl, const ws_dataset_info *info, int64_t index, float *x);
    /* Optional: the same sample as uint8 [H,W,C] (NULL: uint8 output is WS_ENOTSUP). */
    void (*fill_u8)(const void *impl, const ws_dataset_info *info, int64_t index, uint8_t *x);
    /* Optional, replaces fill and fill_u8 when set: a fallible, epoch-aware sample (one
     * sample, x in lo->format). May update atomic counters inside impl, nothing else. */
    ws_status (*sample)(const void *impl, const ws_dataset_info *info, int64_t index, const ws_load_opts *lo,
                        void *x, ws_error *err);
    /* Optional: the two counters of ws_dataset_corrupt_files / ws_dataset_substituted. */
    uint64_t (*corrupt_files)(const void *impl);
    uint64_t (*substituted)(const void *impl);
    void (*free_impl)(void *impl);
} wsi_dataset_ops;

/* The backend's impl, for other files of the data layer that know its type (the loader's
 * nvJPEG path asks the ImageNet backend for file bytes and crop plans). */
const void *wsi_dataset_impl(const ws_dataset *d);
const wsi_dataset_ops *wsi_dataset_get_ops(const ws_dataset *d);

/* Wraps a backend: takes ownership of labels (malloc'd, info->count entries) and impl, also
 * on failure (they are freed then), so a failed open leaves nothing to undo. */
ws_status wsi_dataset_create(ws_dataset **out, const ws_dataset_info *info, int32_t *labels,
                             const wsi_dataset_ops *ops, void *impl, ws_error *err);

#endif

/* data/dataset_imagenet.h - what the rest of the data layer may ask an ImageNet dataset
 * beyond ws_dataset's interface: the loader's nvJPEG path reads the file bytes itself and
 * plans the crops with the same randomness as the CPU path (data/loader.c).
 * defines: wsi_imagenet_is, wsi_imagenet_read_file, wsi_imagenet_transform, wsi_imagenet_rng,
 *          wsi_imagenet_path. Implementation: data/dataset_imagenet.c. */
#ifndef WS_DATA_DATASET_IMAGENET_H
#define WS_DATA_DATASET_IMAGENET_H

#include "core/rng.h"
#include "data/dataset.h"
#include "data/transform.h"

int wsi_imagenet_is(const ws_dataset *d); /* 1 for ws_dataset_open_imagenet's datasets */

/* The bytes of sample index's file, malloc'd into *data (the caller frees). WS_EFORMAT: the
 * file cannot be read (why says why; the CPU path then substitutes it); WS_EIO: the process
 * cannot open files (EMFILE, ENFILE), WS_ENOMEM: no memory, both errors. Thread-safe. */
ws_status wsi_imagenet_read_file(const ws_dataset *d, int64_t index, uint8_t **data, size_t *len, char *why,
                                 size_t why_size);

/* The dataset's transform (crop geometry, DCT scaling allowed or not). */
const wsi_transform *wsi_imagenet_transform(const ws_dataset *d);

/* The augmentation stream of sample index in epoch: the crop and flip draw from it. */
ws_rng wsi_imagenet_rng(const ws_dataset *d, uint64_t epoch, int64_t index);

/* "train/n01440764/n01440764_10026.JPEG": the file of sample index, relative to DIR, for
 * messages, into buf. */
void wsi_imagenet_path(const ws_dataset *d, int64_t index, char *buf, size_t size);

#endif

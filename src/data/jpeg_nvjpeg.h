/* data/jpeg_nvjpeg.h - GPU JPEG decoding for the loader: nvJPEG's batched decode (the
 * library is loaded at run time with dlopen; our declarations: data/nvjpeg_api.h) into
 * device memory, then one kernel that crops, resizes (the same taps as the CPU path,
 * data/resample_taps.h) and flips into a uint8 NHWC device batch. Built only with CUDA
 * (WS_HAVE_CUDA); implementation data/jpeg_nvjpeg.cu, the CPU twin data/transform.c.
 * defines: wsi_nvjpeg (opaque), wsi_nvjpeg_job, wsi_nvjpeg_open, wsi_nvjpeg_accepts,
 *          wsi_nvjpeg_decode, wsi_nvjpeg_upload, wsi_nvjpeg_sync, wsi_nvjpeg_device_alloc,
 *          wsi_nvjpeg_device_free, wsi_nvjpeg_backend, wsi_nvjpeg_close.
 *
 * Backends: nvJPEG's hardware decoder (A100, H100: NVJPG engines) when it exists, else its
 * default (GPU-hybrid) one; WATTSCALE_NVJPEG_BACKEND=hardware|default forces one.
 * Thread-safety: one thread uses a wsi_nvjpeg at a time (the loader's GPU stage). */
#ifndef WS_DATA_JPEG_NVJPEG_H
#define WS_DATA_JPEG_NVJPEG_H

#include <stddef.h>
#include <stdint.h>

#include "data/jpeg.h"
#include "data/transform.h"
#include "wattscale/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsi_nvjpeg wsi_nvjpeg;

typedef struct {
    const uint8_t *data; /* the file's bytes (host) */
    size_t len;
    int width, height;   /* full size, from wsi_jpeg_peek */
    wsi_crop crop;       /* from wsi_transform_crop: the same boxes as the CPU path */
    int clamp_to_box;    /* 1: sources stay in the crop box (RandomResizedCrop), 0: in the image */
    int slot;            /* position of the tile in the output batch */
} wsi_nvjpeg_job;

/* device: CUDA ordinal; max_batch: jobs per decode at most; size: output tiles are
 * size x size x 3. WS_ENOTSUP: no libnvjpeg or no GPU (the message says which);
 * WS_ELIBRARY: a CUDA or nvJPEG call failed. */
ws_status wsi_nvjpeg_open(wsi_nvjpeg **out, int device, int max_batch, int size, ws_error *err);

/* 1 if this decoder takes an image with this header: 1 or 3 components (no CMYK/YCCK),
 * Huffman coded, an EOI at the end (nvJPEG decodes a truncated file without complaint, so
 * those go to the CPU path, which finds them), and baseline for the hardware backend. */
int wsi_nvjpeg_accepts(const wsi_nvjpeg *g, const wsi_jpeg_info *info);

/* Decodes jobs[0..n) and writes each tile to d_out + job.slot * size*size*3 (uint8 NHWC),
 * asynchronously on the decoder's stream (wsi_nvjpeg_sync waits). WS_EFORMAT: nvJPEG
 * refused the batch (why in err; the caller decodes these jobs on the CPU instead);
 * WS_ELIBRARY, WS_ENOMEM: the GPU is in trouble. */
ws_status wsi_nvjpeg_decode(wsi_nvjpeg *g, const wsi_nvjpeg_job *jobs, int n, uint8_t *d_out, ws_error *err);

/* Copies bytes from host to device on the decoder's stream. */
ws_status wsi_nvjpeg_upload(wsi_nvjpeg *g, void *d_dst, const void *h_src, size_t bytes, ws_error *err);
ws_status wsi_nvjpeg_sync(wsi_nvjpeg *g, ws_error *err);

ws_status wsi_nvjpeg_device_alloc(wsi_nvjpeg *g, void **p, size_t bytes, ws_error *err);
void wsi_nvjpeg_device_free(wsi_nvjpeg *g, void *p);

const char *wsi_nvjpeg_backend(const wsi_nvjpeg *g); /* "hardware" or "default" */
void wsi_nvjpeg_close(wsi_nvjpeg *g);                /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif

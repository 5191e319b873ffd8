/* data/transform.h - torchvision's ImageNet transforms on decoded JPEGs: which region of an
 * image a sample uses (RandomResizedCrop + flip for training, Resize + CenterCrop for
 * evaluation), the DCT scale to decode it at, and the antialiased bilinear resampling.
 * defines: wsi_transform, wsi_crop, wsi_transform_crop, wsi_transform_dct_scale, wsi_axis,
 *          wsi_axis_plan, wsi_axis_free, wsi_resample_rgb, wsi_transform_jpeg.
 * Implementation: data/transform.c; the taps: data/resample_taps.h (shared with the GPU
 * twin in data/jpeg_nvjpeg.cu). */
#ifndef WS_DATA_TRANSFORM_H
#define WS_DATA_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "data/jpeg.h"
#include "wattscale/status.h"

typedef struct {
    int random_crop;             /* 1: RandomResizedCrop(size) + RandomHorizontalFlip(flip_p);
                                    0: Resize(resize) + CenterCrop(size) */
    int size, resize;
    double scale_min, scale_max; /* area fraction of the crop */
    double ratio_min, ratio_max; /* aspect ratio w/h of the crop */
    double flip_p;
    int dct_scaling;             /* allow decoding at m/8 scale */
} wsi_transform;

/* What a sample takes from a w x h image, in full-size pixels: the box is resized to
 * out_w x out_h and the size x size window at (win_x, win_y) of that is kept, mirrored
 * left-right when flip. RandomResizedCrop: box = the crop, out = size x size, window 0,0.
 * Resize + CenterCrop: box = the image, out = the resized size, window = the centre. */
typedef struct {
    int box_x, box_y, box_w, box_h;
    int out_w, out_h;
    int win_x, win_y;
    int flip;
} wsi_crop;

/* torchvision's RandomResizedCrop.get_params (10 attempts: area ~ U(scale) x image area,
 * log aspect ~ U(log ratio), w = round(sqrt(area*aspect)), h = round(sqrt(area/aspect)),
 * rounding halves to even as Python; accepted if it fits, top ~ U{0..h_img-h}, left ~
 * U{0..w_img-w}; else the centre crop clamped to the ratio range), then the flip
 * (U[0,1) < flip_p); or Resize (shorter side to resize, the longer int(resize*long/short))
 * + CenterCrop (offsets round((out - size)/2), halves to even). Draws from r in that order. */
void wsi_transform_crop(const wsi_transform *t, int w, int h, ws_rng *r, wsi_crop *c);

/* The libjpeg scale m/8 (1..8) to decode at: the smallest at which the box still has at
 * least out_w x out_h pixels, so DCT scaling never makes the resampler enlarge; 8 when
 * dct_scaling is off. */
int wsi_transform_dct_scale(const wsi_transform *t, const wsi_crop *c);

/* Taps of one axis for the outputs [win0, win0 + n) of a resize of [box0, box0 + box_len)
 * to out_size (see resample_taps.h); sources clipped to [lo, hi). */
typedef struct {
    int n, taps;     /* outputs; most taps of any output */
    int *first;      /* [n] first source (absolute) */
    int *count;      /* [n] sources used */
    float *w;        /* [n * taps] normalised weights */
    int src_lo, src_hi; /* the sources any output uses: [src_lo, src_hi) */
} wsi_axis;

ws_status wsi_axis_plan(wsi_axis *a, double box0, double box_len, int out_size, int lo, int hi, int win0, int n);
void wsi_axis_free(wsi_axis *a); /* NULL fields are fine */

/* out [ay.n][ax.n][3] from src, the RGB rows [ay.src_lo, ay.src_hi) x columns
 * [ax.src_lo, ax.src_hi) (src points at pixel (ax.src_lo, ay.src_lo); row stride in bytes).
 * Horizontal pass into float rows, then vertical, rounded to nearest and clamped; flip
 * mirrors the output columns. */
ws_status wsi_resample_rgb(const uint8_t *src, size_t stride, const wsi_axis *ax, const wsi_axis *ay, int flip,
                           uint8_t *out);

/* The whole CPU path for one encoded image: header, crop (draws from r), DCT scale, decode
 * of the region the taps need, resample into tile [size][size][3]. `crop` (may be NULL)
 * receives the crop used, `info` (may be NULL) the header. WS_EFORMAT: unreadable (why
 * says why); WS_ENOMEM. */
ws_status wsi_transform_jpeg(const wsi_transform *t, const uint8_t *data, size_t len, ws_rng *r, uint8_t *tile,
                             wsi_crop *crop, wsi_jpeg_info *info, char *why, size_t why_size);

#endif

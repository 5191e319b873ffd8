/* data/jpeg.h - JPEG decoding on the CPU with libjpeg-turbo, for the ImageNet dataset.
 * defines: wsi_jpeg_info, wsi_rect, wsi_jpeg_peek, wsi_jpeg_scaled_dim, wsi_jpeg_decode_rect,
 *          wsi_jpeg_cmyk_to_rgb, wsi_jpeg_write (the small encoder the tests and the benchmark
 *          generator make their trees with). Implementation: data/jpeg.c.
 *
 * An unreadable image is data, not a failure of the program: these return WS_EFORMAT with
 * the reason in `why` (libjpeg's own words where it gave some), and the caller substitutes
 * the sample. Only WS_ENOMEM is an error worth stopping for. Thread-safe: no state outside
 * the call (each call has its own libjpeg decompressor). */
#ifndef WS_DATA_JPEG_H
#define WS_DATA_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

typedef enum {
    WSI_JPEG_GRAY = 1,
    WSI_JPEG_RGB = 2,
    WSI_JPEG_YCBCR = 3,
    WSI_JPEG_CMYK = 4,
    WSI_JPEG_YCCK = 5,
    WSI_JPEG_OTHER = 0
} wsi_jpeg_color;

typedef struct {
    int width, height;     /* full size, pixels */
    int components;        /* 1, 3 or 4 */
    wsi_jpeg_color color;  /* colour space of the file */
    int progressive;       /* progressive (else sequential) DCT */
    int arithmetic;        /* arithmetic (else Huffman) coding */
    int h_samp[4], v_samp[4]; /* sampling factors per component (chroma subsampling) */
    int has_eoi;           /* an EOI marker (FF D9) ends the file, give or take 1 KiB of
                              trailing bytes: without one the file is surely cut short, or has
                              junk appended, and only a decode to the end tells which */
} wsi_jpeg_info;

typedef struct {
    int x, y, w, h;
} wsi_rect;

/* Reads the headers only (SOI, frame, tables: ~10-50 us). WS_EFORMAT: not a JPEG, or a
 * header libjpeg refuses (why says which). */
ws_status wsi_jpeg_peek(const uint8_t *data, size_t len, wsi_jpeg_info *info, char *why, size_t why_size);

/* Size of a dimension decoded at scale m/8 (m = 1..8): ceil(dim * m / 8), as libjpeg. */
int wsi_jpeg_scaled_dim(int dim, int m);

/* Decodes the region `rect` of the image scaled by m/8 (rect in scaled pixels, inside
 * [0, scaled_w) x [0, scaled_h)) into out [rect.h][rect.w][3], RGB. Greyscale is replicated
 * into R, G and B; CMYK and YCCK are converted as PIL does (wsi_jpeg_cmyk_to_rgb). Only the
 * rows the region needs are decoded (jpeg_skip_scanlines) and only the iMCU columns around
 * it (jpeg_crop_scanline), with a margin so that the region's pixels equal a full decode's.
 * A file whose header promises more than its data holds (libjpeg's "Premature end of JPEG
 * file"), or a decode error, is WS_EFORMAT; when info->has_eoi is 0 the whole file is
 * decoded to its end first, so a truncated file is found whatever the region. Other libjpeg
 * warnings (extraneous bytes, ...) are ignored, as PIL does. */
ws_status wsi_jpeg_decode_rect(const uint8_t *data, size_t len, const wsi_jpeg_info *info, int m, wsi_rect rect,
                               uint8_t *out, char *why, size_t why_size);

/* One CMYK pixel as libjpeg returns it to RGB. inverted: the file has an Adobe marker, whose
 * convention (Photoshop's) stores 255 - ink; then the values are un-inverted first. Then
 * PIL's cmyk2rgb: R = (255-K) - C(255-K)/255 with its rounding, likewise G (M), B (Y). */
void wsi_jpeg_cmyk_to_rgb(const uint8_t cmyk[4], int inverted, uint8_t rgb[3]);

/* Writes pixels [h][w][components] (1 grey, 3 RGB, 4 CMYK as stored: libjpeg adds an
 * Adobe marker, so readers take the values as Photoshop's inverted inks) as a baseline JPEG
 * of the given quality (1..100), chroma subsampled 4:2:0 when subsample420 (else 4:4:4),
 * to path. WS_EIO (cannot write; err names the path), WS_EINVAL. */
ws_status wsi_jpeg_write(const char *path, const uint8_t *pixels, int w, int h, int components, int quality,
                         int subsample420, ws_error *err);

#endif

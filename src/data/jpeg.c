/* data/jpeg.c - JPEG decoding with libjpeg-turbo: headers, scaled and cropped decoding,
 * colour conversion to RGB. Contract in data/jpeg.h.
 *
 * libjpeg reports fatal errors through error_exit, which must not return: we longjmp back
 * to the call that started the decode (one jmp_buf per decompressor, on the stack of the
 * calling thread, so concurrent decodes never share one). Warnings go to emit_message:
 * we only remember whether the data ran out (JWRN_JPEG_EOF) and print nothing. */
#include "data/jpeg.h"
#include "core/error.h"

#include <errno.h>

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t first */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/* Columns decoded either side of a region: the fancy (triangle) chroma upsampler treats the
 * edge of a cropped decode like the image's edge, so the outermost columns of a crop can
 * differ from a full decode's; 16 columns of margin keep them out of the region. */
#define CROP_MARGIN 16
/* Bytes at the end of a file searched for its EOI marker. */
#define EOI_TAIL 1024

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int data_ended;  /* JWRN_JPEG_EOF seen: libjpeg padded the missing data with an EOI */
    char *why;
    size_t why_size;
} error_mgr;

static void on_error_exit(j_common_ptr cinfo) {
    error_mgr *e = (error_mgr *)cinfo->err;
    if (e->why && e->why_size) {
        char msg[JMSG_LENGTH_MAX];
        e->pub.format_message(cinfo, msg);
        snprintf(e->why, e->why_size, "%s", msg);
    }
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
    error_mgr *e = (error_mgr *)cinfo->err;
    if (level < 0 && e->pub.msg_code == JWRN_JPEG_EOF) e->data_ended = 1;
    if (level < 0) e->pub.num_warnings++;
}

static void setup_errors(struct jpeg_decompress_struct *cinfo, error_mgr *e, char *why, size_t why_size) {
    memset(e, 0, sizeof *e);
    cinfo->err = jpeg_std_error(&e->pub);
    e->pub.error_exit = on_error_exit;
    e->pub.emit_message = on_message;
    e->why = why;
    e->why_size = why_size;
}

static int tail_has_eoi(const uint8_t *data, size_t len) {
    size_t start = len > EOI_TAIL ? len - EOI_TAIL : 0;
    for (size_t i = len; i-- > start + 1;)
        if (data[i - 1] == 0xFF && data[i] == 0xD9) return 1;
    return 0;
}

static wsi_jpeg_color color_of(J_COLOR_SPACE cs) {
    switch (cs) {
    case JCS_GRAYSCALE: return WSI_JPEG_GRAY;
    case JCS_RGB: return WSI_JPEG_RGB;
    case JCS_YCbCr: return WSI_JPEG_YCBCR;
    case JCS_CMYK: return WSI_JPEG_CMYK;
    case JCS_YCCK: return WSI_JPEG_YCCK;
    default: return WSI_JPEG_OTHER;
    }
}

/* The checks a header must pass before its size is trusted (a corrupt SOF can claim
 * 65500 x 65500). */
static ws_status check_header(const struct jpeg_decompress_struct *c, char *why, size_t why_size) {
    if (c->num_components != 1 && c->num_components != 3 && c->num_components != 4) {
        snprintf(why, why_size, "%d colour components (1, 3 or 4 are decoded)", c->num_components);
        return WS_EFORMAT;
    }
    if (color_of(c->jpeg_color_space) == WSI_JPEG_OTHER) {
        snprintf(why, why_size, "unknown colour space %d", (int)c->jpeg_color_space);
        return WS_EFORMAT;
    }
    if ((uint64_t)c->image_width * c->image_height > ((uint64_t)1 << 28)) {
        snprintf(why, why_size, "implausible size %ux%u", c->image_width, c->image_height);
        return WS_EFORMAT;
    }
    return WS_OK;
}

static void fill_info(const struct jpeg_decompress_struct *c, const uint8_t *data, size_t len, wsi_jpeg_info *info) {
    memset(info, 0, sizeof *info);
    info->width = (int)c->image_width;
    info->height = (int)c->image_height;
    info->components = c->num_components;
    info->color = color_of(c->jpeg_color_space);
    info->progressive = c->progressive_mode;
    info->arithmetic = c->arith_code;
    for (int k = 0; k < c->num_components && k < 4; k++) {
        info->h_samp[k] = c->comp_info[k].h_samp_factor;
        info->v_samp[k] = c->comp_info[k].v_samp_factor;
    }
    info->has_eoi = tail_has_eoi(data, len);
}

static int not_jpeg(const uint8_t *data, size_t len, char *why, size_t why_size) {
    if (len >= 2 && data[0] == 0xFF && data[1] == 0xD8) return 0;
    if (len == 0) snprintf(why, why_size, "empty file");
    else if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) snprintf(why, why_size, "a PNG file, not a JPEG");
    else snprintf(why, why_size, "not a JPEG file (no SOI marker)");
    return 1;
}

int wsi_jpeg_scaled_dim(int dim, int m) { return (int)(((long)dim * m + 7) / 8); }

static uint8_t muldiv255(int a, int b) {
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

void wsi_jpeg_cmyk_to_rgb(const uint8_t cmyk[4], int inverted, uint8_t rgb[3]) {
    int k = inverted ? 255 - cmyk[3] : cmyk[3];
    int nk = 255 - k;
    for (int ch = 0; ch < 3; ch++) {
        int ink = inverted ? 255 - cmyk[ch] : cmyk[ch];
        int v = nk - muldiv255(ink, nk);
        rgb[ch] = (uint8_t)(v < 0 ? 0 : v);
    }
}

/* The decode itself; `rows` is the caller's (malloc'd by it before setjmp, so that a
 * longjmp leaks nothing). */
static void decode_rows(struct jpeg_decompress_struct *c, wsi_rect rect, JDIMENSION xoff, uint8_t *row,
                        uint8_t *out) {
    int comps = c->out_color_components;
    int inverted = c->saw_Adobe_marker;
    size_t skip_cols = (size_t)(rect.x - (int)xoff);
    for (int y = 0; y < rect.h; y++) {
        JSAMPROW rp = row;
        if (jpeg_read_scanlines(c, &rp, 1) != 1) ERREXIT(c, JERR_BAD_BUFFER_MODE); /* cannot happen */
        uint8_t *o = out + (size_t)y * (size_t)rect.w * 3;
        const uint8_t *in = row + skip_cols * (size_t)comps;
        if (comps == 3) {
            memcpy(o, in, (size_t)rect.w * 3);
        } else {
            for (int x = 0; x < rect.w; x++) wsi_jpeg_cmyk_to_rgb(in + 4 * x, inverted, o + 3 * x);
        }
    }
}

/* The one libjpeg session of both entry points: the headers (out NULL: into *info), or the
 * decode of rect at scale m/8 into out (then *info is the peeked header, checked). */
static ws_status run_decoder(const uint8_t *data, size_t len, wsi_jpeg_info *info, int m, wsi_rect rect, uint8_t *out,
                             char *why, size_t why_size) {
    if (not_jpeg(data, len, why, why_size)) return WS_EFORMAT;
    int sw = 0, sh = 0;
    uint8_t *row = NULL;
    if (out) {
        if (m < 1 || m > 8) {
            snprintf(why, why_size, "scale %d/8 outside 1/8..8/8", m);
            return WS_EFORMAT;
        }
        sw = wsi_jpeg_scaled_dim(info->width, m);
        sh = wsi_jpeg_scaled_dim(info->height, m);
        if (rect.w < 1 || rect.h < 1 || rect.x < 0 || rect.y < 0 || rect.x + rect.w > sw || rect.y + rect.h > sh) {
            snprintf(why, why_size, "region %dx%d+%d+%d outside the %dx%d image at scale %d/8", rect.w, rect.h,
                     rect.x, rect.y, sw, sh, m);
            return WS_EFORMAT;
        }
        /* room for the widest row libjpeg may hand back: the whole scaled width, 4 components;
         * allocated before setjmp, so that a longjmp leaks nothing */
        row = malloc((size_t)sw * 4);
        if (!row) {
            snprintf(why, why_size, "out of memory for a %d-pixel row", sw);
            return WS_ENOMEM;
        }
    }
    struct jpeg_decompress_struct cinfo;
    error_mgr e;
    setup_errors(&cinfo, &e, why, why_size);
    jpeg_create_decompress(&cinfo);
    if (setjmp(e.jump)) {
        int oom = e.pub.msg_code == JERR_OUT_OF_MEMORY;
        jpeg_destroy_decompress(&cinfo);
        free(row);
        return oom ? WS_ENOMEM : WS_EFORMAT;
    }
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    ws_status st = check_header(&cinfo, why, why_size);
    if (st == WS_OK && !out) fill_info(&cinfo, data, len, info);
    if (st == WS_OK && out && ((int)cinfo.image_width != info->width || (int)cinfo.image_height != info->height)) {
        snprintf(why, why_size, "header changed between reads");
        st = WS_EFORMAT;
    }
    if (st != WS_OK || !out) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        return st;
    }
    cinfo.scale_num = (unsigned)m;
    cinfo.scale_denom = 8;
    cinfo.dct_method = JDCT_ISLOW; /* the accurate IDCT, as PIL's default */
    J_COLOR_SPACE cs = cinfo.jpeg_color_space;
    cinfo.out_color_space = cs == JCS_CMYK || cs == JCS_YCCK ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_width != sw || (int)cinfo.output_height != sh) {
        snprintf(why, why_size, "libjpeg scaled to %ux%u, expected %dx%d", cinfo.output_width, cinfo.output_height, sw,
                 sh);
        jpeg_destroy_decompress(&cinfo);
        free(row);
        return WS_EFORMAT;
    }
    JDIMENSION xoff = (JDIMENSION)(rect.x > CROP_MARGIN ? rect.x - CROP_MARGIN : 0);
    JDIMENSION xend = (JDIMENSION)(rect.x + rect.w + CROP_MARGIN < sw ? rect.x + rect.w + CROP_MARGIN : sw);
    JDIMENSION cw = xend - xoff;
    if (cw < (JDIMENSION)sw) jpeg_crop_scanline(&cinfo, &xoff, &cw); /* widens to iMCU boundaries */
    if (rect.y > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)rect.y);
    decode_rows(&cinfo, rect, xoff, row, out);
    if (!info->has_eoi) {
        /* no EOI at the end: decode on to the end, where libjpeg notices missing data
         * (jpeg_skip_scanlines would not: skipping to the end reads nothing) */
        while (cinfo.output_scanline < cinfo.output_height) {
            JSAMPROW rp = row;
            jpeg_read_scanlines(&cinfo, &rp, 1);
        }
        jpeg_finish_decompress(&cinfo);
    }
    int ended = e.data_ended;
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (ended) {
        snprintf(why, why_size, "Premature end of JPEG file (truncated)");
        return WS_EFORMAT;
    }
    return WS_OK;
}

ws_status wsi_jpeg_peek(const uint8_t *data, size_t len, wsi_jpeg_info *info, char *why, size_t why_size) {
    return run_decoder(data, len, info, 0, (wsi_rect){0, 0, 0, 0}, NULL, why, why_size);
}

ws_status wsi_jpeg_decode_rect(const uint8_t *data, size_t len, const wsi_jpeg_info *info, int m, wsi_rect rect,
                               uint8_t *out, char *why, size_t why_size) {
    wsi_jpeg_info copy = *info; /* run_decoder only reads it when decoding */
    return run_decoder(data, len, &copy, m, rect, out, why, why_size);
}

/* ---- encoding (test trees, benchmark trees) ---- */

ws_status wsi_jpeg_write(const char *path, const uint8_t *pixels, int w, int h, int components, int quality,
                         int subsample420, ws_error *err) {
    if (w < 1 || h < 1 || (components != 1 && components != 3 && components != 4) || quality < 1 || quality > 100)
        return wsi_error(err, WS_EINVAL, "wsi_jpeg_write(%s): %dx%d, %d components, quality %d", path, w, h,
                         components, quality);
    FILE *f = fopen(path, "wb");
    if (!f) return wsi_error(err, WS_EIO, "cannot write %s: %s", path, strerror(errno));
    struct jpeg_compress_struct c;
    error_mgr e;
    char why[JMSG_LENGTH_MAX] = "";
    memset(&e, 0, sizeof e);
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error_exit;
    e.pub.emit_message = on_message;
    e.why = why;
    e.why_size = sizeof why;
    jpeg_create_compress(&c);
    if (setjmp(e.jump)) {
        jpeg_destroy_compress(&c);
        fclose(f);
        return wsi_error(err, WS_EIO, "encoding %s: %s", path, why);
    }
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (components == 3) {
        c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = subsample420 ? 2 : 1;
        c.comp_info[1].h_samp_factor = c.comp_info[1].v_samp_factor = 1;
        c.comp_info[2].h_samp_factor = c.comp_info[2].v_samp_factor = 1;
    }
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * (size_t)w * (size_t)components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (fclose(f) != 0) return wsi_error(err, WS_EIO, "writing %s: %s", path, strerror(errno));
    return WS_OK;
}

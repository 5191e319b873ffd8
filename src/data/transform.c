/* data/transform.c - crop geometry (torchvision's RandomResizedCrop, Resize + CenterCrop),
 * DCT scale choice, antialiased bilinear resampling, and the CPU path from JPEG bytes to a
 * uint8 tile. Contract in data/transform.h; taps in data/resample_taps.h. */
#include "data/transform.h"
#include "data/resample_taps.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Python's round(): to nearest, halves to even (nearbyint in the default rounding mode). */
static int py_round(double v) { return (int)nearbyint(v); }

static void random_resized_crop(const wsi_transform *t, int width, int height, ws_rng *r, wsi_crop *c) {
    double area = (double)width * (double)height;
    double log_lo = log(t->ratio_min), log_hi = log(t->ratio_max);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (t->scale_min + (t->scale_max - t->scale_min) * ws_rng_uniform(r));
        double aspect = exp(log_lo + (log_hi - log_lo) * ws_rng_uniform(r));
        int w = py_round(sqrt(target * aspect)), h = py_round(sqrt(target / aspect));
        if (0 < w && w <= width && 0 < h && h <= height) {
            c->box_y = (int)ws_rng_below(r, (uint64_t)(height - h + 1));
            c->box_x = (int)ws_rng_below(r, (uint64_t)(width - w + 1));
            c->box_w = w;
            c->box_h = h;
            return;
        }
    }
    /* torchvision's fallback: the centre crop, clamped to the ratio range */
    double in_ratio = (double)width / (double)height;
    int w = width, h = height;
    if (in_ratio < t->ratio_min) h = py_round(w / t->ratio_min);
    else if (in_ratio > t->ratio_max) w = py_round(h * t->ratio_max);
    c->box_w = w;
    c->box_h = h;
    c->box_y = (height - h) / 2;
    c->box_x = (width - w) / 2;
}

void wsi_transform_crop(const wsi_transform *t, int w, int h, ws_rng *r, wsi_crop *c) {
    memset(c, 0, sizeof *c);
    if (t->random_crop) {
        random_resized_crop(t, w, h, r, c);
        c->out_w = c->out_h = t->size;
        c->flip = ws_rng_uniform(r) < t->flip_p;
        return;
    }
    /* torchvision's Resize(int): the shorter side to `resize`, the longer truncated */
    c->box_w = w;
    c->box_h = h;
    if (w <= h) {
        c->out_w = t->resize;
        c->out_h = (int)((double)t->resize * h / w);
    } else {
        c->out_h = t->resize;
        c->out_w = (int)((double)t->resize * w / h);
    }
    c->win_x = py_round((c->out_w - t->size) / 2.0);
    c->win_y = py_round((c->out_h - t->size) / 2.0);
}

int wsi_transform_dct_scale(const wsi_transform *t, const wsi_crop *c) {
    if (!t->dct_scaling) return 8;
    int mx = (8 * c->out_w + c->box_w - 1) / c->box_w, my = (8 * c->out_h + c->box_h - 1) / c->box_h;
    int need = mx > my ? mx : my;
    /* powers of two only (as PIL's draft): libjpeg-turbo has SIMD IDCTs for 8x8, 4x4, 2x2
     * and 1x1, while 3/8, 5/8, 6/8, 7/8 take its plain C ones (and 4:2:0 chroma then needs
     * 6x6 .. 14x14 ones): 6/8 measured slower than 8/8 */
    int m = 1;
    while (m < need && m < 8) m *= 2;
    return m;
}

void wsi_axis_free(wsi_axis *a) {
    free(a->first);
    free(a->count);
    free(a->w);
    a->first = a->count = NULL;
    a->w = NULL;
}

ws_status wsi_axis_plan(wsi_axis *a, double box0, double box_len, int out_size, int lo, int hi, int win0, int n) {
    memset(a, 0, sizeof *a);
    wsi_axis_geom g = wsi_axis_geometry(box0, box_len, out_size, lo, hi);
    a->n = n;
    a->taps = (int)ceil(g.support) * 2 + 1; /* PIL's ksize */
    a->first = malloc((size_t)n * sizeof *a->first);
    a->count = malloc((size_t)n * sizeof *a->count);
    a->w = malloc((size_t)n * (size_t)a->taps * sizeof *a->w);
    if (!a->first || !a->count || !a->w) {
        wsi_axis_free(a);
        return WS_ENOMEM;
    }
    a->src_lo = hi;
    a->src_hi = lo;
    for (int k = 0; k < n; k++) {
        int first, end;
        double center;
        wsi_axis_window(&g, win0 + k, &first, &end, &center);
        if (end - first > a->taps) end = first + a->taps; /* cannot happen: the window is 2*support+1 wide */
        int cnt = end - first;
        double sum = 0;
        for (int j = 0; j < cnt; j++) sum += wsi_axis_weight(&g, first + j, center);
        for (int j = 0; j < a->taps; j++)
            a->w[(size_t)k * a->taps + j] = j < cnt && sum != 0 ? (float)(wsi_axis_weight(&g, first + j, center) / sum) : 0;
        a->first[k] = first;
        a->count[k] = cnt;
        if (cnt > 0 && first < a->src_lo) a->src_lo = first;
        if (cnt > 0 && first + cnt > a->src_hi) a->src_hi = first + cnt;
    }
    if (a->src_hi <= a->src_lo) { /* no source at all: an empty box */
        a->src_lo = lo;
        a->src_hi = lo + 1 <= hi ? lo + 1 : lo;
    }
    return WS_OK;
}

/* Round to nearest (halves up) and clamp: on [0, 256) truncation is floor, so no floorf
 * (a library call without SSE4.1) in the hottest loop. The GPU twin rounds alike. */
static uint8_t to_u8(float v) {
    float r = v + 0.5f;
    r = r < 0.f ? 0.f : r;
    r = r > 255.f ? 255.f : r;
    return (uint8_t)(int)r;
}

ws_status wsi_resample_rgb(const uint8_t *src, size_t stride, const wsi_axis *ax, const wsi_axis *ay, int flip,
                           uint8_t *out) {
    int rows = ay->src_hi - ay->src_lo, n = ax->n;
    float *tmp = malloc(((size_t)rows + 1) * (size_t)n * 3 * sizeof *tmp);
    if (!tmp) return WS_ENOMEM;
    /* horizontal: every source row the vertical pass needs, into float rows of n pixels */
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)y * stride;
        float *t = tmp + (size_t)y * n * 3;
        for (int k = 0; k < n; k++) {
            const float *w = ax->w + (size_t)k * ax->taps;
            const uint8_t *p = in + (size_t)(ax->first[k] - ax->src_lo) * 3;
            float r = 0, g = 0, b = 0;
            for (int j = 0; j < ax->count[k]; j++) {
                r += w[j] * p[3 * j];
                g += w[j] * p[3 * j + 1];
                b += w[j] * p[3 * j + 2];
            }
            float *o = t + (size_t)(flip ? n - 1 - k : k) * 3;
            o[0] = r;
            o[1] = g;
            o[2] = b;
        }
    }
    /* vertical: a weighted sum of whole float rows, tap by tap over a row accumulator (the
     * inner loop runs along the row, so it vectorises); the sum's order per pixel is still
     * tap 0, 1, ... as in the GPU twin */
    size_t row = (size_t)n * 3;
    float *restrict acc = tmp + (size_t)rows * row; /* one more row, allocated with tmp */
    for (int k = 0; k < ay->n; k++) {
        const float *w = ay->w + (size_t)k * ay->taps;
        const float *base = tmp + (size_t)(ay->first[k] - ay->src_lo) * row;
        uint8_t *restrict o = out + (size_t)k * row;
        for (size_t i = 0; i < row; i++) acc[i] = 0;
        for (int j = 0; j < ay->count[k]; j++) {
            const float *restrict b = base + (size_t)j * row;
            float wj = w[j];
            for (size_t i = 0; i < row; i++) acc[i] += wj * b[i];
        }
        for (size_t i = 0; i < row; i++) o[i] = to_u8(acc[i]);
    }
    free(tmp);
    return WS_OK;
}

ws_status wsi_transform_jpeg(const wsi_transform *t, const uint8_t *data, size_t len, ws_rng *r, uint8_t *tile,
                             wsi_crop *crop, wsi_jpeg_info *info_out, char *why, size_t why_size) {
    wsi_jpeg_info info;
    ws_status st = wsi_jpeg_peek(data, len, &info, why, why_size);
    if (st != WS_OK) return st;
    if (info_out) *info_out = info;
    wsi_crop c;
    wsi_transform_crop(t, info.width, info.height, r, &c);
    if (crop) *crop = c;
    int m = wsi_transform_dct_scale(t, &c);
    int sw = wsi_jpeg_scaled_dim(info.width, m), sh = wsi_jpeg_scaled_dim(info.height, m);
    double sx = (double)sw / info.width, sy = (double)sh / info.height;
    double bx = c.box_x * sx, by = c.box_y * sy, bw = c.box_w * sx, bh = c.box_h * sy;
    /* RandomResizedCrop crops, then resizes: sources stay inside the (scaled) box */
    int lox = 0, hix = sw, loy = 0, hiy = sh;
    if (t->random_crop) {
        lox = (int)floor(bx + 1e-9);
        loy = (int)floor(by + 1e-9);
        hix = (int)ceil(bx + bw - 1e-9);
        hiy = (int)ceil(by + bh - 1e-9);
        if (hix > sw) hix = sw;
        if (hiy > sh) hiy = sh;
    }
    wsi_axis ax, ay;
    st = wsi_axis_plan(&ax, bx, bw, c.out_w, lox, hix, c.win_x, t->size);
    if (st == WS_OK) {
        st = wsi_axis_plan(&ay, by, bh, c.out_h, loy, hiy, c.win_y, t->size);
        if (st != WS_OK) wsi_axis_free(&ax);
    }
    if (st != WS_OK) {
        snprintf(why, why_size, "out of memory for the resampling taps");
        return st;
    }
    wsi_rect rect = {ax.src_lo, ay.src_lo, ax.src_hi - ax.src_lo, ay.src_hi - ay.src_lo};
    uint8_t *pix = malloc((size_t)rect.w * (size_t)rect.h * 3);
    if (!pix) {
        snprintf(why, why_size, "out of memory for a %dx%d region", rect.w, rect.h);
        st = WS_ENOMEM;
    } else {
        st = wsi_jpeg_decode_rect(data, len, &info, m, rect, pix, why, why_size);
        if (st == WS_OK) st = wsi_resample_rgb(pix, (size_t)rect.w * 3, &ax, &ay, c.flip, tile);
        if (st == WS_ENOMEM && !*why) snprintf(why, why_size, "out of memory resampling");
    }
    free(pix);
    wsi_axis_free(&ax);
    wsi_axis_free(&ay);
    return st;
}

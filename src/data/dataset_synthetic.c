/* data/dataset_synthetic.c - synthetic image data of any shape, generated on demand.
 * defines: ws_synthetic_opts_default, ws_dataset_open_synthetic (contract and the data's
 * definition in data/dataset.h).
 *
 * Random streams, all from ws_rng_seeded(seed) = root:
 *   split stream  S = ws_rng_split(root, split)        (0 train, 1 val)
 *   sample i      R = ws_rng_split(S, i): first draw the label, then the noise
 *   class k       P = ws_rng_split(ws_rng_split(root, PATTERN_STREAM), k): one bit per
 *                 element, 64 elements per draw, gives the sign of the class pattern
 * Nothing depends on another sample, so a sample is a pure function of (seed, split, i).
 * Only the labels are stored (count int32), because the sampler stratifies on them. */
#include "data/dataset.h"
#include "core/error.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>

#define PATTERN_STREAM 0x7061747465726eull /* "pattern": far from the split streams 0 and 1 */
#define MAX_SAMPLE_ELEMS ((size_t)1 << 31)

typedef struct {
    ws_rng split_rng;   /* S above */
    ws_rng pattern_rng; /* parent of the per-class P */
    double signal;
} synth_impl;

ws_synthetic_opts ws_synthetic_opts_default(void) {
    return (ws_synthetic_opts){.count = 10000, .c = 3, .h = 224, .w = 224, .classes = 1000, .seed = 0,
                               .signal = 0.5};
}

static int32_t draw_label(ws_rng *r, int classes) { return (int32_t)ws_rng_below(r, (uint64_t)classes); }

/* uint8 form: q = round(U8_ZERO + U8_STEPS * x) clipped to [0, 255], so that
 * (q/255 - U8_ZERO/255) / (U8_STEPS/255) = x to within 1/64 where |x| < ~4 (the noise is
 * N(0,1), so clipping touches about 1 element in 10^4): the same data, only quantised. */
#define U8_ZERO 128.0
#define U8_STEPS 32.0

static uint8_t quantise(double v) {
    double q = nearbyint(U8_ZERO + U8_STEPS * v);
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

/* Element p of the CHW sample goes to xf[p] (fp32 CHW) or to its HWC place in xu (uint8). */
static void put(float *xf, uint8_t *xu, size_t p, size_t hw, size_t c, double v) {
    if (xf) xf[p] = (float)v;
    else xu[(p % hw) * c + p / hw] = quantise(v);
}

/* Generated in CHW element order: noise pairs from the sample stream, then the pattern
 * from the class stream, so both forms hold the same values. */
static void synth_generate(const synth_impl *m, const ws_dataset_info *info, int64_t index, float *xf, uint8_t *xu) {
    size_t hw = (size_t)info->h * (size_t)info->w, c = (size_t)info->c, n = c * hw;
    ws_rng r = ws_rng_split(&m->split_rng, (uint64_t)index);
    int32_t label = draw_label(&r, info->classes);
    ws_rng pr = ws_rng_split(&m->pattern_rng, (uint64_t)label);
    float s = (float)m->signal;
    uint64_t bits = 0;
    /* Box-Muller keeping both outputs (ws_rng_normal drops the sine half to stay stateless):
     * half the log/sqrt calls, and a 3x224x224 sample costs ~150k normals */
    for (size_t p = 0; p < n; p += 2) {
        double u1 = 1.0 - ws_rng_uniform(&r); /* (0, 1]: log is finite */
        double u2 = ws_rng_uniform(&r);
        double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586 * u2;
        float v[2] = {(float)(rad * cos(ang)), (float)(rad * sin(ang))};
        for (size_t q = p; q < p + 2 && q < n; q++) {
            float x = v[q - p];
            if (m->signal != 0.0) {
                if (q % 64 == 0) bits = ws_rng_u64(&pr);
                x += (bits >> (q % 64)) & 1 ? s : -s;
            }
            put(xf, xu, q, hw, c, x);
        }
    }
}

static void synth_fill(const void *impl, const ws_dataset_info *info, int64_t index, float *x) {
    synth_generate(impl, info, index, x, NULL);
}

static void synth_fill_u8(const void *impl, const ws_dataset_info *info, int64_t index, uint8_t *x) {
    synth_generate(impl, info, index, NULL, x);
}

static const wsi_dataset_ops synth_ops = {.fill = synth_fill, .fill_u8 = synth_fill_u8, .free_impl = free};

ws_status ws_dataset_open_synthetic(ws_dataset **out, const ws_synthetic_opts *o, ws_split split, ws_error *err) {
    *out = NULL;
    ws_synthetic_opts def = ws_synthetic_opts_default();
    if (!o) o = &def;
    if (o->count < 1 || o->c < 1 || o->h < 1 || o->w < 1 || o->classes < 1)
        return wsi_error(err, WS_EINVAL, "ws_dataset_open_synthetic: count %zu, shape %dx%dx%d, classes %d: "
                         "each must be >= 1", o->count, o->c, o->h, o->w, o->classes);
    if ((size_t)o->c * (size_t)o->h > MAX_SAMPLE_ELEMS / (size_t)o->w)
        return wsi_error(err, WS_EINVAL, "ws_dataset_open_synthetic: a %dx%dx%d sample is over 2^31 elements; "
                         "use a smaller c, h or w", o->c, o->h, o->w);
    if (!isfinite(o->signal))
        return wsi_error(err, WS_EINVAL, "ws_dataset_open_synthetic: signal %g is not finite; 0 means none",
                         o->signal);
    if (split != WS_SPLIT_TRAIN && split != WS_SPLIT_VAL)
        return wsi_error(err, WS_EINVAL, "ws_dataset_open_synthetic: split %d is neither WS_SPLIT_TRAIN nor "
                         "WS_SPLIT_VAL", (int)split);

    synth_impl *m = malloc(sizeof *m);
    int32_t *labels = o->count <= SIZE_MAX / sizeof *labels ? malloc(o->count * sizeof *labels) : NULL;
    if (!m || !labels) {
        free(m);
        free(labels);
        return wsi_error(err, WS_ENOMEM, "ws_dataset_open_synthetic: out of memory for %zu labels", o->count);
    }
    ws_rng root = ws_rng_seeded(o->seed);
    m->split_rng = ws_rng_split(&root, (uint64_t)split);
    m->pattern_rng = ws_rng_split(&root, PATTERN_STREAM);
    m->signal = o->signal;
    for (size_t i = 0; i < o->count; i++) {
        ws_rng r = ws_rng_split(&m->split_rng, i);
        labels[i] = draw_label(&r, o->classes); /* the same first draw as synth_fill */
    }
    ws_dataset_info info = {.name = "synthetic", .count = o->count, .c = o->c, .h = o->h, .w = o->w,
                            .classes = o->classes, .mean = 0.0, .std = 1.0};
    for (int k = 0; k < WS_DATASET_MAX_CHANNELS; k++) {
        info.norm_mean[k] = k < o->c ? U8_ZERO / 255.0 : 0.0;
        info.norm_std[k] = k < o->c ? U8_STEPS / 255.0 : 0.0;
    }
    return wsi_dataset_create(out, &info, labels, &synth_ops, m, err);
}

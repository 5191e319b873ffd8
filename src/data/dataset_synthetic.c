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

static void synth_fill(const void *impl, const ws_dataset_info *info, int64_t index, float *x) {
    const synth_impl *m = impl;
    size_t n = (size_t)info->c * (size_t)info->h * (size_t)info->w;
    ws_rng r = ws_rng_split(&m->split_rng, (uint64_t)index);
    int32_t label = draw_label(&r, info->classes);
    /* Box-Muller keeping both outputs (ws_rng_normal drops the sine half to stay stateless):
     * half the log/sqrt calls, and a 3x224x224 sample costs ~150k normals */
    for (size_t p = 0; p < n; p += 2) {
        double u1 = 1.0 - ws_rng_uniform(&r); /* (0, 1]: log is finite */
        double u2 = ws_rng_uniform(&r);
        double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586 * u2;
        x[p] = (float)(rad * cos(ang));
        if (p + 1 < n) x[p + 1] = (float)(rad * sin(ang));
    }
    if (m->signal == 0.0) return;
    ws_rng pr = ws_rng_split(&m->pattern_rng, (uint64_t)label);
    float s = (float)m->signal;
    uint64_t bits = 0;
    for (size_t p = 0; p < n; p++) {
        if (p % 64 == 0) bits = ws_rng_u64(&pr);
        x[p] += (bits >> (p % 64)) & 1 ? s : -s;
    }
}

static const wsi_dataset_ops synth_ops = {.fill = synth_fill, .free_impl = free};

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
    return wsi_dataset_create(out, &info, labels, &synth_ops, m, err);
}

/* analysis/advise.c - a search over configurations; contract in analysis/advise.h. */
#include "analysis/advise.h"
#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ws_advise_opts ws_advise_opts_default(void) {
    ws_advise_opts o;
    memset(&o, 0, sizeof o);
    o.max_gpus = 8;
    o.min_gpus = 1;
    o.gpu_memory_bytes = NAN;
    o.deadline_s = INFINITY;
    o.base = ws_predict_config_default();
    return o;
}

void ws_advice_free(ws_advice *a) {
    if (!a) return;
    free(a->rows);
    memset(a, 0, sizeof *a);
}

static int cmp_energy(const void *a, const void *b) {
    double x = ((const ws_advice_row *)a)->p.energy_kwh.mid, y = ((const ws_advice_row *)b)->p.energy_kwh.mid;
    return x < y ? -1 : x > y;
}
static int cmp_gpu_hours(const void *a, const void *b) {
    double x = ((const ws_advice_row *)a)->p.gpu_hours.mid, y = ((const ws_advice_row *)b)->p.gpu_hours.mid;
    return x < y ? -1 : x > y;
}

static void add_size(int *out, size_t *n, size_t max, int b) {
    for (size_t i = 0; i < *n; i++)
        if (out[i] == b) return;
    if (*n < max) out[(*n)++] = b;
}

/* the local batch sizes to try for one calibration: the measured range's ends and the powers
 * of two inside it; extrapolating, powers of two up to what fits in memory (or 4x the
 * largest measured size when the memory is not known) */
static size_t lbs_candidates(const ws_calibration *c, const ws_advise_opts *o, int *out, size_t max) {
    size_t n = 0;
    if (o->lbs) {
        for (size_t i = 0; i < o->n_lbs; i++)
            add_size(out, &n, max, o->lbs[i]);
        return n;
    }
    int lo = c->lbs_min, hi = c->lbs_max;
    if (o->extrapolate_lbs && c->time.kind >= 2) {
        lo = 1;
        hi = 4 * c->lbs_max;
        if (isfinite(o->gpu_memory_bytes) && c->memory.kind >= 2 && c->memory.fit.slope > 0)
            hi = (int)fmin(65536, (o->gpu_memory_bytes - c->memory.fit.intercept) / c->memory.fit.slope);
    }
    add_size(out, &n, max, c->lbs_min);
    add_size(out, &n, max, c->lbs_max);
    for (int b = 1; b <= hi; b *= 2)
        if (b >= lo) add_size(out, &n, max, b);
    return n;
}

/* 1, 2, 4, ... up to max, and max itself; 0 after it */
static int next_gpus(int g, int max) { return g >= max ? 0 : 2 * g <= max ? 2 * g : max; }

ws_status ws_advise(const ws_calibration *const *cals, size_t n_cals, const ws_network *net, const ws_advise_opts *o,
                    ws_advice *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    out->by_energy = 1;
    for (size_t k = 0; k < n_cals; k++)
        out->by_energy &= cals[k]->energy.kind != 0;
    size_t cap = 64;
    out->rows = malloc(cap * sizeof *out->rows);
    if (!out->rows) return wsi_error(err, WS_ENOMEM, "advise: out of memory");
    for (size_t k = 0; k < n_cals; k++) {
        const ws_calibration *c = cals[k];
        int lbs[64];
        size_t nl = lbs_candidates(c, o, lbs, 64);
        for (int g = o->min_gpus > 0 ? o->min_gpus : 1; g > 0; g = next_gpus(g, o->max_gpus)) {
            for (size_t i = 0; i < nl; i++) {
                ws_predict_config cfg = o->base;
                cfg.gpus = g;
                cfg.local_batch = lbs[i];
                cfg.global_batch = 0;
                cfg.accum = 1;
                ws_prediction p;
                ws_error e = {0};
                ws_interval ep;
                out->considered++;
                if (o->base.target && o->base.epochs <= 0 && o->base.steps <= 0 &&
                    ws_epochs_at(o->base.target, (double)g * lbs[i], &ep, NULL) != WS_OK) {
                    out->outside_target++;
                    continue;
                }
                if (ws_predict(c, net, &cfg, &p, &e) != WS_OK) {
                    if (!out->invalid) snprintf(out->first_error, sizeof out->first_error, "%s", e.msg);
                    out->invalid++;
                    continue;
                }
                double mem = p.peak_memory_bytes.hi;
                if (!isfinite(mem)) mem = p.peak_memory_bytes.mid;
                if (isfinite(o->gpu_memory_bytes) && isfinite(mem) && mem > o->gpu_memory_bytes) {
                    out->over_memory++;
                    continue;
                }
                double t = isfinite(p.time_s.hi) ? p.time_s.hi : p.time_s.mid;
                if (t > o->deadline_s) {
                    out->over_deadline++;
                    continue;
                }
                if (out->n == cap) {
                    ws_advice_row *more = realloc(out->rows, 2 * cap * sizeof *more);
                    if (!more) {
                        ws_advice_free(out);
                        return wsi_error(err, WS_ENOMEM, "advise: out of memory");
                    }
                    out->rows = more;
                    cap *= 2;
                }
                out->rows[out->n++] = (ws_advice_row){c, p};
            }
        }
    }
    qsort(out->rows, out->n, sizeof *out->rows, out->by_energy ? cmp_energy : cmp_gpu_hours);
    return WS_OK;
}

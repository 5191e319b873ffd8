/* train/lr_schedule.c - scaling rule, warm-up and schedules; formulas and the PyTorch
 * counterparts are written in train/lr_schedule.h.
 * defines: everything declared in train/lr_schedule.h. */
#include "train/lr_schedule.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ReduceLROnPlateau's eps: a reduction smaller than this is not applied (PyTorch's
 * default, so that a lr already at min_lr is not "reduced" again). */
#define PLATEAU_EPS 1e-8

/* M_PI is POSIX, not C11. */
#define PI 3.14159265358979323846

#define STATE_MAGIC 0x31484353524c5357ull /* the bytes "WSLRSCH1" on a little-endian machine */
#define STATE_VERSION 1u

/* The checkpoint blob, fixed size; also the plateau state itself. */
typedef struct {
    uint64_t magic;
    uint32_t version, kind;
    double lr;            /* the current plateau lr (the scaled lr for other kinds) */
    double best;          /* best validation loss so far; +inf before the first */
    int64_t num_bad;      /* epochs since the last improvement (or reduction) */
    int64_t last_epoch;   /* the last epoch index counted by the plateau logic; -1: none */
    int64_t n_reductions; /* how often the lr was reduced */
} lr_state;

struct ws_lr_schedule {
    ws_lr_opts o;
    double scaled;
    lr_state st;
};

int ws_lr_rule_parse(const char *s, ws_lr_rule *out) {
    if (!s) return -1;
    if (strcmp(s, "none") == 0) *out = WS_LR_RULE_NONE;
    else if (strcmp(s, "linear") == 0) *out = WS_LR_RULE_LINEAR;
    else if (strcmp(s, "sqrt") == 0) *out = WS_LR_RULE_SQRT;
    else return -1;
    return 0;
}

int ws_sched_parse(const char *s, ws_sched_kind *out) {
    static const struct {
        const char *name;
        ws_sched_kind kind;
    } names[] = {{"constant", WS_SCHED_CONSTANT}, {"plateau", WS_SCHED_PLATEAU}, {"cosine", WS_SCHED_COSINE},
                 {"multistep", WS_SCHED_MULTISTEP}, {"poly", WS_SCHED_POLY}};
    if (!s) return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].kind;
            return 0;
        }
    }
    return -1;
}

static const char *sched_name(int kind) {
    switch (kind) {
    case WS_SCHED_CONSTANT: return "constant";
    case WS_SCHED_PLATEAU: return "plateau";
    case WS_SCHED_COSINE: return "cosine";
    case WS_SCHED_MULTISTEP: return "multistep";
    case WS_SCHED_POLY: return "poly";
    }
    return "unknown";
}

ws_lr_opts ws_lr_opts_default(void) {
    ws_lr_opts o = {
        .base_lr = 0.1,
        .rule = WS_LR_RULE_LINEAR,
        .global_batch = 256,
        .reference_batch = 256,
        .warmup_epochs = 5.0,
        .kind = WS_SCHED_PLATEAU,
        .total_epochs = 90.0,
        .plateau_factor = 0.5,
        .plateau_threshold = 1e-4,
        .plateau_patience = 5,
        .min_lr = 0.0,
        .n_milestones = 0,
        .gamma = 0.1,
        .poly_power = 2.0,
    };
    return o;
}

static double scaled_lr(const ws_lr_opts *o) {
    double ratio = (double)o->global_batch / (double)o->reference_batch;
    switch (o->rule) {
    case WS_LR_RULE_NONE: return o->base_lr;
    case WS_LR_RULE_LINEAR: return o->base_lr * ratio;
    case WS_LR_RULE_SQRT: return o->base_lr * sqrt(ratio);
    }
    return o->base_lr;
}

/* Every check written as !(good) so that NaN fails it too. */
static ws_status check_opts(const ws_lr_opts *o, ws_error *err) {
    if (!(o->base_lr > 0) || !isfinite(o->base_lr))
        return wsi_error(err, WS_EINVAL, "lr schedule: base_lr %g must be finite and > 0", o->base_lr);
    if (o->rule != WS_LR_RULE_NONE && o->rule != WS_LR_RULE_LINEAR && o->rule != WS_LR_RULE_SQRT)
        return wsi_error(err, WS_EINVAL, "lr schedule: rule %d is not none, linear or sqrt", (int)o->rule);
    if (o->rule != WS_LR_RULE_NONE) {
        if (o->global_batch <= 0)
            return wsi_error(err, WS_EINVAL, "lr schedule: global_batch %d must be > 0", o->global_batch);
        if (o->reference_batch <= 0)
            return wsi_error(err, WS_EINVAL, "lr schedule: reference_batch %d must be > 0", o->reference_batch);
    }
    if (!(o->warmup_epochs >= 0) || !isfinite(o->warmup_epochs))
        return wsi_error(err, WS_EINVAL, "lr schedule: warmup_epochs %g must be finite and >= 0", o->warmup_epochs);
    if (!(o->min_lr >= 0) || !isfinite(o->min_lr))
        return wsi_error(err, WS_EINVAL, "lr schedule: min_lr %g must be finite and >= 0", o->min_lr);
    double scaled = scaled_lr(o);
    switch (o->kind) {
    case WS_SCHED_CONSTANT: break;
    case WS_SCHED_PLATEAU:
        if (!(o->plateau_factor > 0 && o->plateau_factor < 1))
            return wsi_error(err, WS_EINVAL, "lr schedule plateau: plateau_factor %g must be in (0, 1)",
                             o->plateau_factor);
        if (!(o->plateau_threshold >= 0 && o->plateau_threshold < 1))
            return wsi_error(err, WS_EINVAL, "lr schedule plateau: plateau_threshold %g must be in [0, 1)",
                             o->plateau_threshold);
        if (o->plateau_patience < 0)
            return wsi_error(err, WS_EINVAL, "lr schedule plateau: plateau_patience %d must be >= 0",
                             o->plateau_patience);
        break;
    case WS_SCHED_COSINE:
    case WS_SCHED_POLY:
        if (!(o->total_epochs > o->warmup_epochs) || !isfinite(o->total_epochs))
            return wsi_error(err, WS_EINVAL, "lr schedule %s: total_epochs %g must be finite and > warmup_epochs %g",
                             sched_name(o->kind), o->total_epochs, o->warmup_epochs);
        if (!(o->min_lr <= scaled))
            return wsi_error(err, WS_EINVAL, "lr schedule %s: min_lr %g must not exceed the scaled lr %g",
                             sched_name(o->kind), o->min_lr, scaled);
        if (o->kind == WS_SCHED_POLY && (!(o->poly_power > 0) || !isfinite(o->poly_power)))
            return wsi_error(err, WS_EINVAL, "lr schedule poly: poly_power %g must be finite and > 0", o->poly_power);
        break;
    case WS_SCHED_MULTISTEP:
        if (o->n_milestones < 0 || o->n_milestones > (int)(sizeof o->milestones / sizeof o->milestones[0]))
            return wsi_error(err, WS_EINVAL, "lr schedule multistep: n_milestones %d must be in [0, 16]",
                             o->n_milestones);
        if (!(o->gamma > 0) || !isfinite(o->gamma))
            return wsi_error(err, WS_EINVAL, "lr schedule multistep: gamma %g must be finite and > 0", o->gamma);
        for (int i = 0; i < o->n_milestones; i++) {
            double m = o->milestones[i];
            /* A milestone inside the warm-up would make the lr jump down at its end. */
            if (!(m >= o->warmup_epochs) || !isfinite(m))
                return wsi_error(err, WS_EINVAL, "lr schedule multistep: milestones[%d] = %g must be finite and >= "
                                 "warmup_epochs %g", i, m, o->warmup_epochs);
            if (i > 0 && !(m >= o->milestones[i - 1]))
                return wsi_error(err, WS_EINVAL, "lr schedule multistep: milestones[%d] = %g is below milestones[%d] = %g "
                                 "(they must not decrease)", i, m, i - 1, o->milestones[i - 1]);
        }
        break;
    default:
        return wsi_error(err, WS_EINVAL, "lr schedule: kind %d is not constant, plateau, cosine, multistep or poly",
                         (int)o->kind);
    }
    return WS_OK;
}

ws_status ws_lr_open(ws_lr_schedule **out, const ws_lr_opts *o, ws_error *err) {
    *out = NULL;
    if (!o) return wsi_error(err, WS_EINVAL, "ws_lr_open: opts is NULL");
    ws_status st = check_opts(o, err);
    if (st != WS_OK) return st;
    ws_lr_schedule *s = calloc(1, sizeof *s);
    if (!s) return wsi_error(err, WS_ENOMEM, "ws_lr_open: out of memory");
    s->o = *o;
    s->scaled = scaled_lr(o);
    s->st = (lr_state){
        .magic = STATE_MAGIC,
        .version = STATE_VERSION,
        .kind = (uint32_t)o->kind,
        .lr = s->scaled,
        .best = INFINITY,
        .num_bad = 0,
        .last_epoch = -1,
        .n_reductions = 0,
    };
    *out = s;
    return WS_OK;
}

void ws_lr_close(ws_lr_schedule *s) { free(s); }

double ws_lr_scaled(const ws_lr_schedule *s) { return s->scaled; }

double ws_lr_at(const ws_lr_schedule *s, double epoch) {
    const ws_lr_opts *o = &s->o;
    const double S = s->scaled, W = o->warmup_epochs;
    double e = epoch > 0 ? epoch : 0; /* also maps NaN to 0 */
    if (e < W) return o->base_lr + (S - o->base_lr) * (e / W);
    double u = 0; /* progress through the decay phase, in [0, 1] */
    if (o->kind == WS_SCHED_COSINE || o->kind == WS_SCHED_POLY) {
        u = (e - W) / (o->total_epochs - W);
        if (u > 1) u = 1;
    }
    switch (o->kind) {
    case WS_SCHED_CONSTANT: return S;
    case WS_SCHED_PLATEAU: return s->st.lr;
    case WS_SCHED_COSINE: return o->min_lr + (S - o->min_lr) * 0.5 * (1.0 + cos(PI * u));
    case WS_SCHED_POLY: return o->min_lr + (S - o->min_lr) * pow(1.0 - u, o->poly_power);
    case WS_SCHED_MULTISTEP: {
        int passed = 0;
        for (int i = 0; i < o->n_milestones; i++) passed += o->milestones[i] <= e;
        return S * pow(o->gamma, passed);
    }
    }
    return S;
}

int ws_lr_epoch_end(ws_lr_schedule *s, int epoch, double val_loss) {
    const ws_lr_opts *o = &s->o;
    if (o->kind != WS_SCHED_PLATEAU || !((double)epoch >= o->warmup_epochs)) return 0;
    lr_state *st = &s->st;
    st->last_epoch = epoch;
    /* ReduceLROnPlateau.is_better, mode 'min', threshold_mode 'rel'; NaN is never better. */
    if (val_loss < st->best * (1.0 - o->plateau_threshold)) {
        st->best = val_loss;
        st->num_bad = 0;
    } else {
        st->num_bad++;
    }
    if (st->num_bad > o->plateau_patience) {
        st->num_bad = 0; /* PyTorch resets the count whether or not the lr could still fall */
        double old_lr = st->lr;
        double new_lr = fmax(old_lr * o->plateau_factor, o->min_lr);
        if (old_lr - new_lr > PLATEAU_EPS) {
            st->lr = new_lr;
            st->n_reductions++;
            return 1;
        }
    }
    return 0;
}

size_t ws_lr_state_bytes(void) { return sizeof(lr_state); }

void ws_lr_state_save(const ws_lr_schedule *s, void *buf) { memcpy(buf, &s->st, sizeof s->st); }

ws_status ws_lr_state_load(ws_lr_schedule *s, const void *buf, size_t bytes, ws_error *err) {
    lr_state st;
    if (!buf || bytes != sizeof st)
        return wsi_error(err, WS_EFORMAT, "lr schedule state: %zu bytes, expected %zu", buf ? bytes : 0, sizeof st);
    memcpy(&st, buf, sizeof st);
    if (st.magic != STATE_MAGIC || st.version != STATE_VERSION)
        return wsi_error(err, WS_EFORMAT, "lr schedule state: not a schedule checkpoint (magic/version %u)",
                         (unsigned)st.version);
    if (st.kind != (uint32_t)s->o.kind)
        return wsi_error(err, WS_EFORMAT, "lr schedule state: saved by a %s schedule, this one is %s",
                         sched_name((int)st.kind), sched_name((int)s->o.kind));
    s->st = st;
    return WS_OK;
}

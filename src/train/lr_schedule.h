/* train/lr_schedule.h - the learning rate as a function of training progress: a batch-size
 * scaling rule, a per-step linear warm-up, then one schedule (constant, reduce-on-plateau,
 * cosine, multistep, polynomial).
 * defines: ws_lr_rule, ws_sched_kind, ws_lr_rule_parse, ws_sched_parse, ws_lr_opts,
 *          ws_lr_opts_default, ws_lr_schedule (opaque), ws_lr_open, ws_lr_scaled, ws_lr_at,
 *          ws_lr_epoch_end, ws_lr_state_bytes, ws_lr_state_save, ws_lr_state_load,
 *          ws_lr_close. Implementation: train/lr_schedule.c.
 *
 * Positions are fractional epochs e = epoch + step/steps_per_epoch, from 0. With
 * S = the scaled lr (ws_lr_scaled), B = base_lr, W = warmup_epochs, T = total_epochs:
 *   e < W (warm-up, Goyal et al. 2017, per step):  B + (S - B) * e / W
 *   e >= W, by kind:
 *     constant:   S
 *     plateau:    the current plateau lr: S, then reduced by ws_lr_epoch_end following
 *                 torch.optim.lr_scheduler.ReduceLROnPlateau(mode='min', factor, patience,
 *                 threshold, threshold_mode='rel', cooldown=0, min_lr, eps=1e-8)
 *     cosine:     min_lr + (S - min_lr) * 0.5 * (1 + cos(pi * u)),  u = min(1, (e-W)/(T-W))
 *     multistep:  S * gamma^(number of milestones <= e)   (milestones in absolute epochs)
 *     poly:       min_lr + (S - min_lr) * (1 - u)^poly_power   (the spec's S*(1-u)^p when
 *                 min_lr = 0, the default; MLPerf's end_lr otherwise)
 * T is the epoch the decay ends (the whole run, warm-up included), so cosine and poly
 * decay over [W, T] and stay at min_lr after T. So ws_lr_at(W) == S exactly, and
 * ws_lr_at(0) == B. */
#ifndef WS_TRAIN_LR_SCHEDULE_H
#define WS_TRAIN_LR_SCHEDULE_H

#include <stddef.h>

#include "wattscale/status.h"

/* scaled = base (none), base * GBS/ref (linear, Goyal et al.), base * sqrt(GBS/ref) (sqrt) */
typedef enum { WS_LR_RULE_NONE, WS_LR_RULE_LINEAR, WS_LR_RULE_SQRT } ws_lr_rule;
typedef enum { WS_SCHED_CONSTANT, WS_SCHED_PLATEAU, WS_SCHED_COSINE, WS_SCHED_MULTISTEP, WS_SCHED_POLY } ws_sched_kind;

/* "none", "linear", "sqrt" and "constant", "plateau", "cosine", "multistep", "poly"
 * (exact, lower case) -> *out; 0 on success, -1 for any other name (out untouched). */
int ws_lr_rule_parse(const char *s, ws_lr_rule *out);
int ws_sched_parse(const char *s, ws_sched_kind *out);

/* Defaults (ws_lr_opts_default) are the study's ResNet-50 settings. */
typedef struct {
    double base_lr;       /* the lr at GBS = reference_batch; 0.1; > 0 */
    ws_lr_rule rule;      /* linear */
    int global_batch;     /* images per optimizer step over all ranks; 256; > 0 */
    int reference_batch;  /* 256; > 0 */
    double warmup_epochs; /* linear warm-up from base_lr to the scaled lr over this many
                           * epochs, per step (fractional epochs), as Goyal et al. and the
                           * study do; 5; 0: none */
    ws_sched_kind kind;   /* plateau */
    double total_epochs;  /* cosine/poly: the epoch the decay ends, counted from 0 with the
                           * warm-up included; must exceed warmup_epochs; 90 */
    double plateau_factor;    /* 0.5; in (0, 1) */
    double plateau_threshold; /* 1e-4, relative (mode min: better means < best*(1-thr)); in [0, 1) */
    int plateau_patience;     /* 5; >= 0 */
    double min_lr;            /* floor for plateau, end value of cosine/poly; 0; >= 0, and
                               * <= the scaled lr for cosine/poly */
    double milestones[16];    /* multistep: epochs, non-decreasing, >= warmup_epochs */
    int n_milestones;         /* 0..16 */
    double gamma;             /* multistep factor per milestone; 0.1; > 0 */
    double poly_power;        /* 2.0; > 0 */
} ws_lr_opts;

ws_lr_opts ws_lr_opts_default(void);

typedef struct ws_lr_schedule ws_lr_schedule;

/* Checks every option the kind uses (WS_EINVAL naming the option and its value) and
 * allocates the schedule. On failure *out is NULL. */
ws_status ws_lr_open(ws_lr_schedule **out, const ws_lr_opts *o, ws_error *err);

double ws_lr_scaled(const ws_lr_schedule *s); /* the target lr after the scaling rule */

/* lr for a position given in fractional epochs (epoch + step/steps_per_epoch); e < 0 is
 * treated as 0. For plateau it returns the lr as of the last ws_lr_epoch_end call. */
double ws_lr_at(const ws_lr_schedule *s, double epoch);

/* Called once at the end of each epoch (index `epoch`, 0-based) with the validation loss.
 * Only plateau uses it, and only for epochs trained wholly after warm-up
 * (epoch >= warmup_epochs; with W = 5, epochs 0..4 are ignored and epoch 5 is the first
 * one counted, like `if epoch >= warmup: plateau.step(val_loss)`). Returns 1 when it
 * reduced the lr, else 0. A NaN loss counts as no improvement, as in PyTorch. */
int ws_lr_epoch_end(ws_lr_schedule *s, int epoch, double val_loss);

/* Checkpointing: the plateau state (current lr, best loss, bad-epoch count, ...) as a
 * fixed-size blob in this machine's byte order. Loading a blob of another size, of
 * another schedule kind or that is not a schedule blob gives WS_EFORMAT and changes nothing. */
size_t ws_lr_state_bytes(void);
void ws_lr_state_save(const ws_lr_schedule *s, void *buf);
ws_status ws_lr_state_load(ws_lr_schedule *s, const void *buf, size_t bytes, ws_error *err);

void ws_lr_close(ws_lr_schedule *s); /* NULL is a no-op */

#endif

/* analysis/predict.h - time and energy of data-parallel configurations not yet run, from a
 * model calibrated on measured runs (analysis/perf.h) and the all-reduce model
 * (analysis/allreduce.h).
 * defines: ws_line, ws_line_at, ws_calib_select, ws_calibration, ws_calibrate, ws_calibration_describe,
 * ws_interval, ws_epochs_model, ws_epochs_model_build, ws_epochs_at, ws_predict_config,
 * ws_predict_config_default, ws_prediction, ws_predict, wsi_predict_vnote, WS_PREDICT_BACKWARD_SHARE,
 * WS_PREDICT_BUCKET_BYTES.
 * Implementation: analysis/predict_calib.c (calibration), analysis/predict.c (prediction),
 * analysis/predict_epochs.c (epochs to a target).
 *
 * The model. G GPUs on N nodes, local batch b, a accumulated micro-batches, GBS B = b G a:
 *   t_c(b) = c0 + c1 b        compute of one micro-batch on one GPU, s: a line (GSL) through
 *                             the runs' window step time less their data wait and exposed
 *                             all-reduce, over a
 *   t_d(b) = d b              data-loading wait of a micro-batch: d the runs' mean per sample
 *   T_ar, t_last              the step's gradient all-reduce (4 bytes per parameter, in
 *                             buckets) and its last bucket, from the all-reduce model
 *   f                         the overlapped fraction: exposed = (1 - f) T_ar, where f <= f_max =
 *                             min(1 - t_last / T_ar, t_bwd / T_ar), t_bwd = 2/3 t_c(b) (backward
 *                             does twice forward's FLOP); measured from multi-GPU runs (their
 *                             all-reduce wait against T_ar), else anywhere in [0, f_max]
 *   step = a (t_c + t_d) + (1 - f) T_ar
 *   e(b) = e0 + e1 b          GPU energy of one micro-batch on one GPU, J: a line through the
 *                             window's GPU energy per step and GPU, less P_wait x exposed, over a
 *   P_wait                    GPU power while it waits for the all-reduce: measured (the
 *                             all-reduce-wait phase of multi-GPU runs), else between the GPU's
 *                             power outside compute (measured) and its power in compute
 *   P_host                    CPU + DRAM power per node: measured (RAPL), else an assumed
 *                             figure when given, else not counted (the energy is the GPUs')
 *   E_step = G (a e(b) + P_wait (1 - f) T_ar) + N P_host step
 *   run time   = s0 + w n_eval x / G + steps x step  (start-up s0 and evaluation time w per
 *                pass over the validation set on one GPU: a line through the runs' time outside
 *                their epochs; x the data fraction)
 *   run energy = steps x E_step + G P_over (s0 + ...) + N P_host (run time - steps x step)
 *   steps = epochs floor(samples per epoch / B), or as given; epochs as given, or to a target
 *   metric from the measured epochs-to-target against GBS (ws_epochs_model).
 * Intervals are 95%: a line's prediction interval for a new run (t quantile, GSL), a mean's
 * t sd sqrt(1 + 1/n), combined in quadrature; an unmeasured overlap or wait power adds its
 * whole range. A term without an interval (a line through two points, one run) leaves the
 * prediction's interval NAN. Assumptions (the network's, unmeasured terms) are listed in the
 * prediction's notes, never folded into an interval. */
#ifndef WS_ANALYSIS_PREDICT_H
#define WS_ANALYSIS_PREDICT_H

#include <stdarg.h>

#include "analysis/allreduce.h"
#include "analysis/fit.h"
#include "analysis/perf.h"
#include "analysis/runset.h"
#include "wattscale/status.h"

#define WS_PREDICT_BACKWARD_SHARE (2.0 / 3.0)
/* the runs' gradient buckets (dist/grad_sync.h: 25 MiB, PyTorch DDP's bucket_cap_mb) */
#define WS_PREDICT_BUCKET_BYTES ((double)(25 << 20))

/* y against local batch size: a fitted line (n >= 3 distinct sizes), the line through two
 * sizes (no interval), or one size's mean (usable at that size only). */
typedef struct {
    int kind; /* 0 none, 1 one size, 2 two sizes, 3 fitted */
    ws_linfit fit;
    double x_only; /* the one size, for kind 1 */
} ws_line;

/* The line's value at x; *hw (may be NULL) the half width of its 95% prediction interval for
 * one new run, NAN where there is none. Kind 1 gives its mean at any x; NAN for kind 0. */
double ws_line_at(const ws_line *l, double x, double *hw);

typedef struct {
    const char *model, *hardware, *precision, *data_kind; /* NULL or "": the one the runs have */
    const char *exclude_run;                              /* leave this run out; NULL: none */
} ws_calib_select;

typedef struct {
    char model[32], hardware[128], precision[8], data_kind[32], device_kind[16];
    size_t n_runs;        /* runs calibrated on */
    char runs[1024];      /* their keys, ", "-separated */
    int lbs_min, lbs_max; /* measured local batch sizes */
    int max_world;
    double parameters, grad_bytes;
    ws_line time;                      /* t_c(b): s per micro-batch */
    ws_line energy;                    /* e(b): GPU J per micro-batch (kind 0: energy not measured) */
    ws_line memory;                    /* peak device bytes (kind 0: not recorded) */
    double data_s_per_sample, data_sd; /* d and the runs' spread */
    size_t n_data;
    double wait_power_w, wait_power_sd; /* P_wait when measured */
    int wait_measured;
    size_t n_wait, n_host;      /* runs that measured P_wait, P_host */
    double idle_power_w;        /* GPU power outside compute (data + other phases) */
    double overlap, overlap_sd; /* f when measured */
    size_t n_overlap;
    double host_power_w, host_power_sd; /* P_host per node when measured */
    int host_measured;
    ws_line startup;             /* run time outside epochs against n_eval x / G */
    int evals_measured;          /* some calibration run evaluated */
    double overhead_gpu_power_w; /* GPU power per GPU outside epochs; NAN */
    double samples_per_epoch;    /* of the runs' full epochs when they agree; NAN */
    double data_fraction;
    char notes[1024]; /* what could not be calibrated, and why */
} ws_calibration;

/* Calibrates on the finished runs of one model / hardware / precision / data kind. The
 * network model is needed for the overlapped fraction of multi-GPU runs. WS_EINVAL, naming
 * the choices, when sel leaves the group ambiguous or no run matches. */
ws_status ws_calibrate(const ws_perf_set *ps, const ws_calib_select *sel, const ws_network *net, ws_calibration *out,
                       ws_error *err);
/* A few lines: the group, the runs, each term with its figure or why it is missing. */
void ws_calibration_describe(const ws_calibration *c, char *out, size_t size);

typedef struct {
    double mid, lo, hi; /* lo and hi NAN: no interval */
} ws_interval;

/* Epochs until the target metric against GBS, from the study's evaluated runs. */
typedef struct {
    char metric[16];
    double value;
    size_t n;                                   /* distinct GBS with a run that reached the target */
    double gbs[64], epochs[64], lo[64], hi[64]; /* mean and range over the runs, by GBS */
    size_t n_runs, n_reached;
    double data_fraction; /* of the runs used: the largest the model's runs had */
} ws_epochs_model;

/* From rs (its target_metric and target_value): the finished runs of c's model and data kind
 * on the largest data fraction they have (1 where any ran on all the data), any precision.
 * n = 0 when none reached the target. */
ws_status ws_epochs_model_build(const ws_runset *rs, const ws_calibration *c, ws_epochs_model *out, ws_error *err);
/* Epochs at gbs: interpolated linearly in log2(GBS) (gsl_interp) between measured GBS; WS_EINVAL
 * outside them (extrapolating how accuracy degrades with batch size is not done). */
ws_status ws_epochs_at(const ws_epochs_model *m, double gbs, ws_interval *out, ws_error *err);

typedef struct {
    int gpus, gpus_per_node;
    int global_batch, local_batch, accum; /* 0: derived from the others */
    double epochs;                        /* > 0: this many */
    long steps;                           /* > 0: this many global steps (and no epochs) */
    const ws_epochs_model *target;        /* epochs to its target (epochs and steps 0) */
    double samples_per_epoch;             /* NAN: the calibration's */
    double data_fraction;                 /* NAN: the calibration's (for evaluation time) */
    int evals;                            /* evaluations; -1: one per epoch (none for steps) */
    ws_allreduce_algo algo;
    double bucket_bytes; /* 0: 25 MiB (dist/grad_sync.h) */
    double host_power_w; /* assumed CPU + DRAM W per node when unmeasured; NAN */
} ws_predict_config;

ws_predict_config ws_predict_config_default(void);

typedef struct {
    ws_predict_config cfg; /* resolved: batch sizes, nodes */
    int nodes;
    ws_interval compute_s, data_s, allreduce_s, exposed_s, step_s; /* per global step */
    ws_interval overlap;
    ws_interval samples_per_s, step_energy_j, gpu_power_w, j_per_sample;
    ws_interval epochs;
    double steps;
    ws_interval time_s, gpu_hours, energy_kwh, gpu_energy_kwh, host_energy_kwh;
    ws_interval peak_memory_bytes;
    ws_allreduce_algo algo_used;
    int n_buckets;
    int lbs_extrapolated; /* b outside the calibration's sizes */
    int energy_predicted; /* the calibration has energy */
    int host;             /* 0 host energy not counted, 1 measured, -1 assumed */
    char notes[1536];     /* the assumptions this prediction rests on */
} ws_prediction;

/* Appends a sentence to the text in buf (size bytes), after sep when buf is not empty;
 * what does not fit is dropped. For the notes of calibrations and predictions. */
void wsi_predict_vnote(char *buf, size_t size, char sep, const char *fmt, va_list ap);

/* WS_EINVAL naming the problem: batch sizes that do not divide, a layout that does not fit,
 * a local batch the calibration cannot reach (one measured size), a GBS outside the epochs
 * model, no workload. */
ws_status ws_predict(const ws_calibration *c, const ws_network *net, const ws_predict_config *cfg, ws_prediction *out,
                     ws_error *err);

#endif

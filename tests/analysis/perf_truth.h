/* tests/analysis/perf_truth.h - run records made from a known performance model (the terms
 * of analysis/predict.h with chosen values), so that tests can check that the calibration
 * recovers them and that predictions match the model's closed form.
 * defines: ws_truth, ws_truth_default, ws_truth_run, ws_truth_step_s, ws_truth_record,
 * ws_truth_write_study. Implementation: tests/analysis/perf_truth.c. */
#ifndef WS_TEST_PERF_TRUTH_H
#define WS_TEST_PERF_TRUTH_H

#include "analysis/allreduce.h"
#include "core/rng.h"

typedef struct {
    double c0_s, c1_s;        /* compute of a micro-batch: c0 + c1 LBS */
    double d_s;               /* data wait per sample */
    double e0_j, e1_j;        /* GPU energy of a micro-batch: e0 + e1 LBS */
    double wait_w, idle_w;    /* GPU power in the all-reduce wait, in the data wait */
    double host_w;            /* CPU + DRAM per node; NAN: no sensor */
    double overlap;           /* f: exposed = (1 - f) T_ar */
    double startup_s, eval_s; /* outside epochs: startup + eval x evals x fraction / GPUs */
    double over_w;            /* GPU power outside epochs */
    double mem0_b, mem1_b;    /* peak memory: mem0 + mem1 LBS */
    double parameters;
    double noise; /* relative sd of each run's compute time and energy (0: exact) */
    ws_network net;
} ws_truth;

ws_truth ws_truth_default(void);

typedef struct {
    int gpus, gpus_per_node, lbs, accum;
    int epochs, evals;
    double samples_per_epoch, fraction;
    const char *precision;
} ws_truth_run;

/* The model's step time (noise-free) for a configuration: a (c0 + c1 b + d b) + (1 - f) T_ar,
 * T_ar written out from the ring/tree closed forms (not through ws_allreduce_buckets). */
double ws_truth_step_s(const ws_truth *t, int gpus, int nodes, int lbs, int accum);
/* T_ar for 4-byte gradients of t->parameters in 25 MiB buckets, by the closed forms */
double ws_truth_allreduce_s(const ws_truth *t, int gpus, int nodes);

/* The record's text (malloc'd). rng draws the noise. */
char *ws_truth_record(const ws_truth *t, const ws_truth_run *r, ws_rng *rng);

/* A study of two series on 1, 2, 4, 8 GPUs (nodes of 4), two repetitions: constant GBS 512
 * and constant LBS 128, bf16, 2 epochs of 102,400 samples evaluated each epoch, as run
 * folders (run.json and the runner's study.json) under dir. */
void ws_truth_write_study(const ws_truth *t, const char *dir);

#endif

/* analysis/runset.h - what the analysis reads: a study's runs as plain values.
 * defines: ws_run, ws_run_epoch, ws_member, ws_runset, ws_runset_free, ws_run_metric,
 * ws_metric_higher_is_better, ws_run_ok, ws_run_group_key, ws_run_task_key,
 * ws_run_same_config, ws_runs_repeat, ws_run_first_of_config.
 * Implementation: analysis/runset.c.
 *
 * The analysis layer knows nothing of SQLite or files: the study layer fills a ws_runset
 * (study/store_runs.c) and every analysis function takes one, so that fits and statistics
 * can be used from C on runs from anywhere (prediction, tests with synthetic runs).
 * Figures that were not measured are NAN, never 0. A run can stand for points of several
 * series (a shared point): memberships are listed apart from the runs. */
#ifndef WS_ANALYSIS_RUNSET_H
#define WS_ANALYSIS_RUNSET_H

#include <stddef.h>

typedef struct {
    char run_key[128];
    char status[24]; /* completed | target_reached | failed | running */
    char model[32], data[256], precision[8], device[8];
    char device_kind[16]; /* gpu | cpu_process: what a device-hour counts */
    char hardware[128];   /* GPU name, or the CPU model on the CPU backend */
    int world, nodes;
    int global_batch, local_batch, accum;
    double data_fraction;
    int epochs_requested;
    long steps_requested;
    double time_s, device_hours;
    double energy_j, energy_gpu_j, energy_cpu_j, energy_dram_j; /* NAN: not measured */
    double samples, updates;
    double samples_per_device_hour, updates_per_device_hour;
    double kwh_per_device_hour;          /* NAN without energy */
    double val_loss, val_top1, val_top5; /* last evaluation; NAN: none */
    double val_rmse_norm, val_acc;       /* forecasts: RMSE/std and ACC at the first lead; NAN: none */
    int gpu_devices, cpu_sockets;        /* metered GPUs and CPU packages of the run (0: none) */
    double sacct_energy_j;               /* Slurm's ConsumedEnergy of the job; NAN: none */
    char missing[1536];                  /* why domains were not measured ("" when all were) */
    char missing_domains[32];            /* "gpu, cpu, dram": the domains without a sensor */
    size_t first_epoch, n_epochs;        /* into ws_runset.epochs */
    size_t first_power, n_power;         /* into ws_runset.power */
} ws_run;

typedef struct {
    int epoch;
    double time_s, energy_j; /* of this epoch; energy NAN when not measured */
    double samples;
    double val_loss, val_top1, val_top5; /* NAN when not evaluated this epoch */
    double val_rmse_norm, val_acc;       /* forecasts; NAN otherwise */
} ws_run_epoch;

typedef struct {
    size_t run; /* index into ws_runset.runs */
    char series[64];
    char scaling[16]; /* constant_gbs | constant_lbs | points */
    int growing;      /* dataset grows with the GPU count */
    int point, repetition;
} ws_member;

typedef struct {
    int node;
    char device[96], kind[8];
    double t_s, power_w;
} ws_power_sample;

typedef struct {
    char study[64];
    char metric[16];        /* the predictive metric the study reports (val_top1) */
    char target_metric[16]; /* "" none */
    double target_value;
    double degradation_tolerance;
    ws_run *runs;
    size_t n_runs;
    ws_run_epoch *epochs;
    size_t n_epochs;
    ws_member *members;
    size_t n_members;
    ws_power_sample *power;
    size_t n_power;
} ws_runset;

void ws_runset_free(ws_runset *rs); /* frees the arrays; NULL is a no-op */

/* The predictive metrics a study can report, as a "|"-separated list for messages:
 * classification top-1/top-5 accuracy, the validation loss, and for forecasts the RMSE/std
 * (mean over channels) and the anomaly correlation at the first lead. */
#define WS_METRICS "val_top1|val_top5|val_loss|val_rmse_norm|val_acc"
int ws_metric_known(const char *metric); /* one of WS_METRICS */
/* The run's last value of metric (one of WS_METRICS); NAN if unknown. */
double ws_run_metric(const ws_run *r, const char *metric);
/* The same for one epoch of a run. */
double ws_run_epoch_metric(const ws_run_epoch *e, const char *metric);
int ws_metric_higher_is_better(const char *metric); /* accuracies and ACC yes; loss and RMSE no */

/* "model / hardware / precision": the groups energy is fitted in. */
void ws_run_group_key(const ws_run *r, char *out, size_t size);
/* "model on data (fraction F), N epochs, precision": runs whose accuracy, time and energy
 * are comparable (accuracy vs GBS, the Pareto front, energy to target). */
void ws_run_task_key(const ws_run *r, char *out, size_t size);
/* Same world size, batch sizes and data fraction: repetitions of one configuration. */
int ws_run_same_config(const ws_run *a, const ws_run *b);
int ws_run_ok(const ws_run *r); /* finished: completed or target_reached */
/* Runs i and j are finished repetitions of one configuration of one task. */
int ws_runs_repeat(const ws_runset *rs, size_t i, size_t j);
/* Run i is finished and no earlier run repeats it: one i per configuration of a task. */
int ws_run_first_of_config(const ws_runset *rs, size_t i);

#endif

/* study/study_file.h - a study described in one YAML file (libyaml), as typed values.
 * defines: ws_study (and its series, points, launcher), ws_study_load, ws_study_free,
 * ws_study_scaling_name. Implementation: study/study_file.c. The keys, their types and the
 * error messages are documented in docs/study-file.md.
 *
 * A study is series x repetitions. Every run of a study shares the settings of the file
 * (model, data, precision, stopping rule, optimizer and lr rule, ...): they become the
 * `wattscale train` flags in `train_args`, in file order. A series varies the world size
 * and the batch sizes: constant GBS (LBS = GBS / GPUs), constant LBS (GBS = LBS x GPUs)
 * or explicit points, each optionally with the dataset growing with the GPU count
 * (data fraction = base fraction x GPUs / the series' largest GPU count, as the study's
 * "1 GPU on 1/256 of the data"). Paths in the file are relative to the working directory. */
#ifndef WS_STUDY_STUDY_FILE_H
#define WS_STUDY_STUDY_FILE_H

#include <stddef.h>
#include "wattscale/status.h"

typedef enum { WS_SCALING_CONSTANT_GBS, WS_SCALING_CONSTANT_LBS, WS_SCALING_POINTS } ws_scaling;

typedef struct {
    int gpus;                             /* world size: GPUs (cuda), processes (cpu) */
    int global_batch, local_batch, accum; /* GBS = LBS x gpus x accum, all resolved */
    double data_fraction;                 /* class-stratified fraction of train and val */
    int line;                             /* 1-based line of the file that defined it */
} ws_study_point;

typedef struct {
    char name[64];
    ws_scaling scaling;
    int growing; /* the dataset grows with the GPU count */
    ws_study_point *points;
    size_t n_points;
    int line;
} ws_study_series;

typedef enum { WS_LAUNCHER_LOCAL, WS_LAUNCHER_SLURM } ws_launcher_kind;

typedef struct {
    char key[64], value[512];
} ws_study_env;

typedef struct {
    ws_launcher_kind kind;
    /* both: extra environment of every run (NCCL_NVLS_ENABLE=0 ...) */
    ws_study_env *env;
    size_t n_env;
    /* local: mpirun template for multi-rank runs ({ranks} replaced); 1-rank runs are a
     * plain process unless mpirun_single. cpu_threads: --threads per rank on the CPU
     * backend, 0 = the machine's cores / ranks (fair: every run gets the same cores), -1 = none */
    char mpirun[512];
    int mpirun_single;
    int cpu_threads;
    /* slurm: gpus_per_node ranks per node; time_limit "HH:MM:SS"; partition, account;
     * gpu_request (e.g. "--gpus-per-node={gpus_per_node}", "" for none); srun template;
     * extra "#SBATCH" lines; poll_s between sacct/squeue polls */
    int gpus_per_node, cpus_per_task, exclusive;
    char time_limit[32], partition[128], account[128], gpu_request[128], srun[512];
    char **sbatch_lines;
    size_t n_sbatch_lines;
    double poll_s;
} ws_study_launcher;

typedef struct {
    char path[1024]; /* the file as given */
    char *text;      /* its text, stored with the study in the database */
    char name[64];
    char database[1024], runs_dir[1024];
    /* shared by every run (typed copies of what plan, runner and analysis need) */
    char model[32], data[512], device[8], precision[8];
    double data_fraction; /* base fraction (1) */
    int epochs;           /* 0 when steps */
    long steps;
    long synthetic_count; /* train samples of synthetic data (for estimates) */
    long seed;            /* repetition r (1-based) runs with seed + r - 1 */
    int repetitions;
    char **train_args; /* `wattscale train` flags from the file (without world, batches,
                        * fraction, seed, --out, --threads) */
    size_t n_train_args;
    ws_study_series *series;
    size_t n_series;
    ws_study_launcher launcher;
    /* analysis */
    char metric[16];        /* one of WS_METRICS (analysis/runset.h); val_top1 by default */
    char target_metric[16]; /* energy to target: "" none */
    double target_value;
    double degradation_tolerance; /* accuracy vs GBS: a drop beyond this is degradation (0.01) */
    /* estimate of throughput for `study plan` (samples per second per device); NAN: none */
    double estimate_samples_per_device_s;
} ws_study;

/* Parses the study file at path into *out (zeroed first). Every error is WS_EINVAL (or
 * WS_EIO when the file cannot be read) with one line "PATH:LINE:COL: KEY: PROBLEM", where
 * KEY is the dotted path of the key ("optimizer.lr", "series[2].gpus[1]"). On failure *out
 * holds nothing to free (ws_study_free is still harmless). */
ws_status ws_study_load(ws_study *out, const char *path, ws_error *err);
void ws_study_free(ws_study *s); /* NULL is a no-op; leaves *s zeroed */

const char *ws_study_scaling_name(ws_scaling k); /* constant_gbs | constant_lbs | points */

#endif

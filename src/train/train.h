/* train/train.h - one training run: the loop, evaluation, energy per epoch, checkpoints
 * and the run record.
 * defines: ws_train_opts (everything `wattscale train` takes), ws_train_opts_default,
 * ws_train_run. Implementation: train/train.c (loop), train/checkpoint.c,
 * train/run_record.c. */
#ifndef WS_TRAIN_TRAIN_H
#define WS_TRAIN_TRAIN_H

#include <stdint.h>
#include "ops/ops.h"
#include "train/lr_schedule.h"
#include "train/optim.h"

typedef struct {
    /* model */
    char model[16];            /* resnet18 | resnet34 | resnet50 | resnet101 | resnet152 */
    int small_stem;            /* -1: auto (inputs of 64 px or less), 0, 1 */
    int base_width;            /* 64 */
    int zero_init_residual;
    /* data */
    char data[512];            /* synthetic | fashion-mnist[:DIR] | mnist[:DIR] | imagenet:DIR */
    size_t synthetic_count;    /* train samples of synthetic data (val: a tenth) */
    int synthetic_c, synthetic_h, synthetic_w, synthetic_classes;
    int synthetic_on_host;     /* CUDA: generate synthetic samples on the host (the CPU's exact
                                  numbers) instead of on the GPU (data/synthetic_device.h) */
    double data_fraction;      /* class-stratified fraction of train and val */
    /* imagenet:DIR (data/dataset.h ws_imagenet_opts; the loader: data/loader.h) */
    char val_labels[512];      /* "" or the flat val folder's label file */
    int crop_size, resize_size; /* 224; val resizes the shorter side to 256 first */
    double crop_scale_min, crop_scale_max; /* RandomResizedCrop area range (0.08, 1); the study 0.5 */
    int dct_scaling;           /* 1: libjpeg decodes at reduced size where the crop allows */
    int data_threads;          /* loader decode threads; 0: all cores */
    int decoder;               /* ws_decoder: WS_DECODER_CPU (0) or WS_DECODER_NVJPEG (1) */
    /* batches: GBS = LBS x world x accum; any two determine the third (0: unknown) */
    int global_batch, local_batch, accum;
    /* stopping */
    int epochs;                /* 0 when steps is given */
    long steps;                /* total optimizer steps; 0: whole epochs */
    char target_metric[32];    /* "val_top1" ... or "" */
    double target_value;
    /* optimisation */
    ws_optim_opts optim;
    ws_lr_opts lr;
    double schedule_epochs;    /* cosine/poly horizon; 0: the run's length (epochs, or steps in epochs) */
    float label_smoothing;
    /* execution */
    ws_device device;
    ws_dtype precision;
    int threads;               /* CPU threads; 0: OpenMP default */
    int gpu;                   /* CUDA device index; -1: the local rank's (local rank % visible GPUs) */
    int deterministic;         /* CUDA: deterministic cuDNN algorithms only */
    int cuda_graph;            /* -1 auto (single micro-batch, single rank), 0 off, 1 on */
    long timing_warmup_steps;  /* the steady-state figures start after this many steps (10) */
    uint64_t seed;
    /* output */
    char out_dir[512];         /* run.json, checkpoint.wstf, power.csv */
    char resume_dir[512];      /* "" or a run's out dir to continue */
    int eval_every;            /* epochs between evaluations (1) */
    int checkpoint_every;      /* epochs between checkpoints (1); 0: only at the end */
    int log_every;             /* steps between progress lines (0: ~every 10 s) */
    long val_limit;            /* evaluate on at most this many val samples (0: all) */
    double meter_interval_ms;  /* 100 */
    double bucket_mb;          /* gradient all-reduce bucket size (25, as PyTorch DDP) */
    char step_log[512];        /* "" or a CSV of every step's global mean loss (costs an all-reduce per step) */
    double watchdog_s;         /* a rank without progress for this long ends the job (600) */
    int quiet;
} ws_train_opts;

ws_train_opts ws_train_opts_default(void);
/* Fills the missing one of global/local batch and accum (world size given); WS_EINVAL
 * with the reason when inconsistent or indivisible. */
ws_status ws_train_resolve_batches(ws_train_opts *o, int world, ws_error *err);
ws_status ws_train_run(const ws_train_opts *o, ws_error *err);

#endif

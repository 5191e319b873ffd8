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
    char model[16];            /* resnet18 | resnet34 | resnet50 | resnet101 | resnet152 | afno */
    int small_stem;            /* -1: auto (inputs of 64 px or less), 0, 1 */
    int base_width;            /* 64 */
    int zero_init_residual;
    /* data */
    char data[512];            /* synthetic | fashion-mnist[:DIR] | mnist[:DIR] | imagenet:DIR (images);
                                  swe:DIR | era5:DIR (weather fields, FourCastNet's layout) */
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
    int eval_direct;           /* 0 (default): validation batches come through a data loader of
                                  their own (data/loader.h: decode threads, prefetching); 1: each
                                  batch is loaded on the training thread when it is evaluated (the
                                  reference path, the same numbers; tests compare the two) */
    int upload_ahead;          /* CUDA: 1 copies each loader batch to the GPU while the step before
                                  computes (train/upload.h, the default); 0: when the step needs it (the
                                  same numbers: test_train_imagenet_cuda) */
    /* forecasting (--model afno on swe:DIR | era5:DIR; train/task_forecast.c): the AFNO's
     * sizes (models/afno.h; defaults FourCastNet's, the grid and channels from the data) and
     * FourCastNet's recipe */
    int img_h, img_w;          /* 0: the dataset's grid; else its first img_h rows, img_w columns */
    int afno_patch, afno_embed, afno_depth, afno_blocks;
    double afno_sparsity, afno_hard_threshold, afno_mlp_ratio;
    int forecast_steps;        /* 1: pre-training on one step (6 h); 2: fine-tuning on the sum of
                                  the rel-L2 losses of two autoregressive steps */
    int forecast_residual;     /* 1: the model predicts the change x_t+1 - x_t, trained with rel_l2 on
                                  it, forecasting x_t + f(x_t) (FourCastNet's target: residual) */
    int rollout_steps;         /* 0, or N: RMSE/ACC at leads 1..N steps, once training ends */
    char init_from[512];       /* "" or a run's out dir whose parameters this run starts from
                                  (fine-tuning a pre-trained model; optimizer state not taken) */
    /* batches: GBS = LBS x world x accum; any two determine the third (0: unknown) */
    int global_batch, local_batch, accum;
    /* stopping */
    int epochs;                /* 0 when steps is given */
    long steps;                /* total optimizer steps; 0: whole epochs */
    char target_metric[32];    /* "val_top1", "val_top5", "val_loss"; forecasting "val_rmse_norm",
                                  "val_acc"; or "" */
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
    int meter_gpus;            /* ws_meter_gpus (train/meter_gpus.h): the ranks' GPUs (used, default) or all */
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

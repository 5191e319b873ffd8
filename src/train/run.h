/* train/run.h - the state of one `wattscale train` process (internal to train/): the run's
 * parts and its per-device batch buffers.
 * defines: wsi_run, wsi_scaler, and the step machinery of train/step.c (wsi_step_setup,
 * wsi_step_free, wsi_train_step, wsi_eval_begin, wsi_eval_batch, wsi_step_sync_begin/_end, and the
 * classification task's micro-batch, wsi_classify_load_micro/_compute_micro); train/train.c
 * owns the rest (set-up, epochs, records), the tasks (train/task.h) what depends on the data.
 *
 * Memory: every buffer a step touches lives in the memory of `ex` (host memory on the CPU,
 * the GPU's on CUDA), allocated once by wsi_step_setup. On CUDA the host side of a batch
 * (loaded samples, labels, indices) is pinned, so its upload is a plain async copy, and the
 * step's scalar results (loss, correct predictions, the fp16 overflow flag) come back
 * through one pinned block. The data loader's batches reach the GPU through two upload
 * slots of their own (train/upload.h), copied while the step before computes; validation
 * batches come from a second loader (val_loader) and go up through d_eval_in. */
#ifndef WS_TRAIN_RUN_H
#define WS_TRAIN_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "dist/grad_sync.h"
#include "dist/world.h"
#include "models/model.h"
#include "ops/cuda_ctx.h"
#include "train/lr_schedule.h"
#include "train/optim.h"
#include "train/run_state.h"
#include "train/task.h"
#include "train/train.h"
#include "wattscale/energy.h"

/* Dynamic loss scaling for fp16, PyTorch's GradScaler defaults: start 2^16, halve on an
 * overflowed step (which is skipped), double after 2000 good steps in a row. */
#define WSI_MAX_GRAPH_MICRO 16 /* more micro-batches per step run eagerly */

typedef struct {
    int enabled;
    float scale;
    int good_steps;
    long skipped;
    float *d_scale;   /* device copy of scale */
    int *d_found_inf; /* set by ws_amp_unscale_check */
} wsi_scaler;

/* Results of a step that come back to the host (pinned on CUDA). */
typedef struct {
    double loss[64];  /* mean loss of each micro-batch (accum <= 64 on CUDA; the CPU writes them too) */
    double correct;   /* top-1 hits of the step, or of an evaluation batch */
    double top5;
    double eval_loss;
    /* two-step fine-tuning (forecasting): the second step's loss of each micro-batch and of
     * an evaluation batch (0 otherwise); the step's loss is loss + loss_step2 */
    double loss_step2[64];
    double eval_loss_step2;
    int found_inf;
    int pad;
} wsi_step_stats;

struct wsi_forecast; /* the forecasting task's state (train/task_forecast.c) */
struct wsi_upload;   /* batches on their way to the GPU (train/upload.h) */

/* A run of the data loader: batches first .. first+count-1 of epoch (count 0: none). */
typedef struct {
    uint64_t epoch;
    size_t first, count;
} wsi_loader_run;

typedef struct wsi_run {
    ws_train_opts o;
    const wsi_task *task;        /* classification or forecasting (train/task.h) */
    struct wsi_forecast *fc;     /* forecasting: its data, buffers, second model, metrics */
    int world;
    ws_world *w;
    ws_grad_sync *sync;
    int rank;
    ws_exec ex;
    ws_cuda_ctx *cuda;           /* NULL on the CPU */
    ws_dataset *train, *val;
    ws_sampler **train_samplers; /* one per micro-batch (virtual rank) */
    ws_sampler *val_sampler;
    ws_model *model;
    ws_optim *optim;
    ws_lr_schedule *lr;
    ws_meter *meter;
    FILE *power_csv;
    FILE *step_log;
    int phase_data, phase_compute, phase_comm;
    long steps_per_epoch;
    ws_run_state st;
    double t_session0;

    /* the batch on its way in: host side (pinned on CUDA) ... */
    float *h_x;          /* CPU: [LBS, C, H, W] fp32 NCHW, as datasets write it (the model's
                            input); CUDA: only for evaluation's direct path (eval_direct), LBS
                            samples in the evaluation's format */
    int32_t *h_labels;
    int64_t *h_indices;
    /* ... and in ex's memory (on the CPU, d_x is h_x and d_labels h_labels) */
    void *d_x;           /* model input: ex's layout and storage type */
    void *d_eval_in;     /* CUDA: an evaluation batch uploaded in its format (loader_u8:
                            uint8 NHWC, else fp32 NCHW), before its conversion into d_x */
    size_t eval_in_bytes;
    int32_t *d_labels;
    int64_t *d_indices;
    float *d_probs;
    void *d_dlogits;
    wsi_step_stats *h_stats, *d_stats;
    int synthetic_on_device; /* CUDA + synthetic data: samples generated on the GPU */
    ws_loader *loader;       /* training samples decoded ahead by threads (none when generated on the GPU) */
    wsi_loader_run loader_queued; /* the run queued behind the current one (the next epoch's) */
    int loader_u8;           /* its batches are uint8 NHWC, normalised on the GPU; evaluation
                                batches too (whichever path brings them) */
    ws_loader *val_loader;   /* validation samples decoded ahead by threads of their own (none:
                                evaluation loads each batch itself, eval_direct or synthetic
                                samples generated on the GPU) */
    struct wsi_upload *upload; /* CUDA with a loader: its batches copied to the GPU a step ahead */
    size_t in_count;     /* C*H*W */
    wsi_scaler scaler;
    /* CUDA: the captured step, its events, and what the step measured */
    int use_graph;
    /* one graph per micro-batch of a step (accumulation: the first zeroes the gradients, the
     * last holds the optimizer); graphs[0] alone without accumulation */
    ws_cuda_graph *graphs[WSI_MAX_GRAPH_MICRO];
    int graph_failed;
    ws_cuda_event *ev_in, *ev_bwd, *ev_sync, *ev_end;
    ws_cuda_event *ev_upload; /* a micro-batch's upload is done: its pinned source may be refilled
                                 (the paths without upload slots) */
    ws_cuda_event *ev_micro;  /* after a micro-batch's compute: how long the next upload may wait */
    double gpu_compute_s, gpu_comm_s; /* cumulative, from the events */
} wsi_run;

/* The classification task's step buffers, loader and CUDA state (its task->setup). */
ws_status wsi_step_setup(wsi_run *r, ws_error *err);
/* Before an epoch's steps (from the current position): the loader's run for them, and the
 * next epoch's queued behind it. */
ws_status wsi_step_begin_epoch(wsi_run *r, long steps, ws_error *err);
/* The upload slots' counts for the record (st->has_upload and the upload_ fields; the
 * exposed loader wait into st->loader_wait_s); nothing without them. */
void wsi_step_upload_facts(const wsi_run *r, ws_run_state *st);
void wsi_step_free(wsi_run *r);
/* The CUDA step's frame that every task's setup needs on a GPU (a no-op on the CPU): the
 * step's results on the device (d_stats), the events that time it, fp16 loss scaling, the
 * graph choice (--cuda-graph auto: graph_by_default); freed by wsi_step_frame_free. */
ws_status wsi_step_frame_setup(wsi_run *r, int graph_by_default, ws_error *err);
void wsi_step_frame_free(wsi_run *r);
/* Around the backward that finishes a step's gradients (last: the last micro-batch's, and of
 * it the last model pass): model m announces each final range to the all-reduce, which
 * starts reducing it meanwhile. Not last, or a single rank: nothing listens. */
void wsi_step_sync_begin(wsi_run *r, ws_model *m, int last);
void wsi_step_sync_end(ws_model *m);
/* Classification's micro-batch (task.h load_micro, compute_micro): the loader's batch (or
 * the sampler's, loaded directly) into d_x and d_labels; forward, softmax cross-entropy,
 * top-1 hits, backward. */
ws_status wsi_classify_load_micro(wsi_run *r, int micro, size_t *n_out, double *wait_s, ws_error *err);
ws_status wsi_classify_compute_micro(wsi_run *r, int micro, size_t n, int last, ws_error *err);
/* One global step: accum micro-batches forward and backward, the gradient average, the
 * optimizer with learning rate lr. Adds this rank's data/compute/comm time to *data_s,
 * *compute_s, r->st.ep_comm_s; returns this rank's summed loss, correct predictions and
 * samples. */
ws_status wsi_train_step(wsi_run *r, double lr, double *loss_out, double *correct_out, double *samples_out,
                         double *data_s, double *compute_s, ws_error *err);
/* An evaluation of the val sampler's batches 0 .. batches-1 (epoch 0: unshuffled, this
 * rank's shard): wsi_eval_begin starts the validation loader's run for them (nothing on
 * the direct path), then wsi_eval_batch(seq) for seq = 0, 1, ... in turn runs batch seq
 * forward with running statistics, adds its summed loss, top-1 and top-5 hits to
 * sums[0..3) and its samples to sums[3], and adds the time it waited for its samples (the
 * loader's wait; on the direct path the loading itself) to *data_s. */
ws_status wsi_eval_begin(wsi_run *r, size_t batches, ws_error *err);
ws_status wsi_eval_batch(wsi_run *r, size_t seq, double sums[4], double *data_s, ws_error *err);

#endif

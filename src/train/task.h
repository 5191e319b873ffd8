/* train/task.h - what a run trains for (internal to train/): the part of training that
 * depends on the kind of data, model and loss, behind one table, so that the loop
 * (train/train.c), the step's frame (train/step.c: phases, gradient all-reduce, optimizer),
 * checkpoints, the run record and the meter are the same code for every task.
 * defines: wsi_task, wsi_task_classify (train/task_classify.c), wsi_task_forecast
 *          (train/task_forecast.c), wsi_task_for.
 *
 *   classification: labelled images (data/dataset.h), ResNet, softmax cross-entropy; rows
 *       with top-1 (train and val) and top-5. Its step pieces, on the CPU and on CUDA, are in
 *       train/step.c (the loader, uploads, CUDA graphs).
 *   forecasting: weather fields in FourCastNet's layout (data/fields.h), AFNO, FourCastNet's
 *       relative L2 on one step or summed over two autoregressive steps; rows with
 *       latitude-weighted RMSE and ACC per channel beside persistence
 *       (train/forecast_metrics.h); a rollout evaluation at the end. On the CPU and on CUDA
 *       (fp32, tf32), through step.c's CUDA frame.
 *
 * Order of the calls (train.c): open_data (datasets and samplers: r->train_samplers, one
 * per micro-batch, and r->val_sampler), open_model (r->model), then after the optimizer
 * setup (step buffers); per micro-batch of a step load_micro then compute_micro (in
 * step.c, on either device); evaluate after epochs; finish once training ends; free before the model closes.
 * evaluate and finish are collective (every rank calls them; sums are all-reduced). */
#ifndef WS_TRAIN_TASK_H
#define WS_TRAIN_TASK_H

#include <stddef.h>

#include "train/run_state.h"
#include "train/train.h"

typedef struct wsi_run wsi_run;

typedef struct wsi_task {
    const char *name; /* "classification" | "forecasting" (the record's config.task) */
    ws_status (*open_data)(wsi_run *r, ws_error *err);
    ws_status (*open_model)(wsi_run *r, ws_error *err);
    ws_status (*setup)(wsi_run *r, ws_error *err);
    void (*free)(wsi_run *r); /* what setup and open_data made; NULL-safe on partial set-ups */
    /* Micro-batch `micro` of the current step: its samples in (n of them; *wait_s += time
     * spent waiting for a loader), then forward, loss (into r->h_stats->loss[micro], the
     * micro-batch's mean) and backward, the gradient carrying 1/(n x accum); `last`: its
     * backward finishes the step's gradients (wsi_step_sync_begin/_end around it). */
    ws_status (*load_micro)(wsi_run *r, int micro, size_t *n, double *wait_s, ws_error *err);
    ws_status (*compute_micro)(wsi_run *r, int micro, size_t n, int last, ws_error *err);
    /* Scores the validation split (at most o.val_limit samples) into row: evaluated,
     * val_loss and the task's metrics. */
    ws_status (*evaluate)(wsi_run *r, ws_epoch_row *row, ws_error *err);
    /* After the last step of a completed run (NULL: nothing to do). */
    ws_status (*finish)(wsi_run *r, ws_error *err);
} wsi_task;

extern const wsi_task wsi_task_classify, wsi_task_forecast;

/* The task of a configuration: forecasting for --model afno, else classification. */
const wsi_task *wsi_task_for(const ws_train_opts *o);

#endif

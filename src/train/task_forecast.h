/* train/task_forecast.h - the forecasting task's loss, apart from the run, so that tests
 * can check its gradient (internal to train/; the task itself is wsi_task_forecast in
 * train/task.h).
 * defines: wsi_forecast_loss. Implementation: train/task_forecast.c. */
#ifndef WS_TRAIN_TASK_FORECAST_H
#define WS_TRAIN_TASK_FORECAST_H

#include "models/model.h"

/* FourCastNet's training loss of n samples (train.py), and its parameter gradient added
 * (+=) into first's grads:
 *   second NULL:  L = rel_l2(f(x), t1)                                 (pre-training)
 *   second:       y1 = f(x), y2 = f(y1),
 *                 L = rel_l2(y1, t1) + rel_l2(y2, t2)                  (two-step fine-tuning)
 * with the gradient through both steps (y2's backward runs through y1 into the first
 * step). f is first (an AFNO); second is an AFNO opened with share_params = first and
 * input_grad, whose own activations keep the second forward for backward. rel_l2 is the
 * batch mean (ops/rel_l2.h), each term's gradient scaled by `scale` (1/n for the mean; the
 * trainer folds accumulation in). x, t1, t2 [n, C, H, W] fp32; dy1, dy2 [n, C, H, W] are
 * scratch (dy2 unused without second). *loss1 and *loss2 = the two terms of L before
 * scaling (batch means; loss2 written only with second). Every pointer is in ex's memory
 * (the losses too, as ops/rel_l2.h writes them), so on CUDA nothing waits for the GPU.
 * Only first's backward announces gradients (its grads_ready, set by the caller). */
ws_status wsi_forecast_loss(ws_model *first, ws_model *second, const ws_exec *ex, int n, const float *x,
                            const float *t1, const float *t2, float scale, float *dy1, float *dy2, double *loss1,
                            double *loss2, ws_error *err);

#endif

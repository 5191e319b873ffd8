/* train/checkpoint.h - saving and restoring a run so that it continues bit-identically
 * (internal to train/).
 * defines: wsi_checkpoint_save, wsi_checkpoint_load, wsi_checkpoint_load_params. The file (OUT/checkpoint.wstf, see
 * core/tensorfile.h) holds params, buffers, optimizer and schedule state, and a JSON "meta"
 * entry with the position, the epoch rows so far, the totals of earlier sessions and the
 * settings that must not change across a resume (model, data, batches, seed, optimizer). */
#ifndef WS_TRAIN_CHECKPOINT_H
#define WS_TRAIN_CHECKPOINT_H

#include "models/model.h"
#include "train/run_state.h"
#include "train/train.h"

ws_status wsi_checkpoint_save(const char *path, const ws_train_opts *o, const ws_model *m, const ws_optim *opt,
                              const ws_lr_schedule *lr, const ws_run_state *st, ws_error *err);
/* Restores into an opened model/optimizer/schedule of the same configuration; WS_EINVAL
 * naming the setting when o differs from the checkpointed run in one that matters. */
ws_status wsi_checkpoint_load(const char *path, const ws_train_opts *o, ws_model *m, ws_optim *opt, ws_lr_schedule *lr,
                              ws_run_state *st, ws_error *err);
/* Only the parameters, into a model of the same kind and size (--init-from: fine-tuning a
 * pre-trained model, whose other settings may differ); WS_EINVAL naming both when the saved
 * model is another. */
ws_status wsi_checkpoint_load_params(const char *path, const ws_train_opts *o, ws_model *m, ws_error *err);

#endif

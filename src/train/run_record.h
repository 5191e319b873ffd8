/* train/run_record.h - the run record, OUT/run.json ("schema": "wattscale.run/1"), and
 * epoch rows as JSON (internal to train/).
 * defines: wsi_run_record_write, wsi_epoch_row_json, wsi_epoch_row_from_json,
 * wsi_train_config_json. The record is the source of truth the study store ingests; it is
 * rewritten atomically after every epoch. */
#ifndef WS_TRAIN_RUN_RECORD_H
#define WS_TRAIN_RUN_RECORD_H

#include <cjson/cJSON.h>
#include "models/model.h"
#include "train/run_state.h"
#include "train/train.h"

/* meter: this node's (its devices are listed); the energy totals come from st (summed over
 * nodes by the caller). */
ws_status wsi_run_record_write(const char *path, const ws_train_opts *o, const ws_model *m, const ws_meter *meter,
                               const ws_run_state *st, double time_s, ws_error *err);
cJSON *wsi_epoch_row_json(const ws_epoch_row *row);
void wsi_epoch_row_from_json(const cJSON *j, ws_epoch_row *row);
/* The settings of a run, as given and as resolved (GBS, LBS, accum). */
cJSON *wsi_train_config_json(const ws_train_opts *o);

#endif

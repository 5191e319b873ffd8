/* train/meter_gpus.h - which GPUs a run's energy meter reads (--meter-gpus used|all).
 * defines: ws_meter_gpus (the mode), wsi_rank_gpu (one rank's entry of the gathered table),
 * wsi_meter_gpus_gather, wsi_meter_gpus_of_node, wsi_meter_gpus_name.
 *
 * One meter per node (its local rank 0). With `used` it reads the GPUs of the node's
 * ranks only, found by UUID (CUDA_VISIBLE_DEVICES renumbers devices, not UUIDs), so that
 * idle GPUs and other jobs' GPUs on a shared node are not counted; `all` reads every GPU
 * of the node (an exclusive node whose idle GPUs are part of the job's cost). A CPU run
 * uses no GPU: with `used` its meter reads none. */
#ifndef WS_TRAIN_METER_GPUS_H
#define WS_TRAIN_METER_GPUS_H

#include <stddef.h>

#include "dist/world.h"
#include "wattscale/status.h"

typedef enum { WS_METER_GPUS_USED = 0, WS_METER_GPUS_ALL = 1 } ws_meter_gpus;

/* One rank's entry, gathered as bytes: its node and its device's UUID ("" on the CPU). */
typedef struct {
    int node;
    char uuid[88]; /* with "GPU-" prepended it still fits the 96 of ws_device_info.id */
} wsi_rank_gpu;

const char *wsi_meter_gpus_name(ws_meter_gpus mode); /* "used", "all" */

/* Collective (every rank calls it, CPU runs too): table[r] = rank r's node and `uuid`
 * (NULL or "" when the rank uses no GPU). table has ws_world_size entries. */
ws_status wsi_meter_gpus_gather(ws_world *w, const char *uuid, wsi_rank_gpu *table, ws_error *err);

/* The GPUs node `node` meters with `used`: the UUIDs of its ranks, normalised
 * (ws_gpu_uuid_normalize), each once (ranks sharing a GPU), in rank order; ranks without a
 * GPU add none. out has room for `world` entries; *n_out is how many were written.
 * WS_EINVAL naming the rank when a UUID is malformed. */
ws_status wsi_meter_gpus_of_node(const wsi_rank_gpu *table, int world, int node, char (*out)[96], size_t *n_out,
                                 ws_error *err);

#endif

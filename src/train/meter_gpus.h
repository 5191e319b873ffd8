/* train/meter_gpus.h - which GPUs a run's energy meter reads (--meter-gpus used|all).
 * defines: ws_meter_gpus (the mode), wsi_rank_gpu (one rank's entry of the gathered table),
 * wsi_meter_gpus_gather, wsi_meter_gpus_of_node, wsi_meter_gpus_name; wsi_node_gpus (one
 * node's metered and left-out GPUs, for the run record), wsi_node_gpus_report,
 * wsi_node_gpus_of_world, wsi_node_gpus_gather.
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
#include "wattscale/energy.h"
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

/* ---- every node's GPU lists, for the record (energy.nodes[k].gpus) ----
 * Only a node's local rank 0 has a meter, and its device list is fixed once it is open, so
 * the lists travel once, after ws_meter_open, as fixed-size bytes (ws_world_gather_bytes to
 * the rank that writes the record: about 2.6 KB per rank). A node lists at most
 * WSI_NODE_GPUS_MAX GPUs, the metered first; past that `truncated` is set and the counts
 * still say how many there were. */
#define WSI_NODE_GPUS_MAX 16

typedef struct {
    char id[96];      /* NVML's UUID (ws_device_info.id, ws_left_out_device.id) */
    char reason[64];  /* left out: the meter's reason ("not selected"); metered: "" */
    int metered;      /* 1 metered, 0 left out */
} wsi_node_gpu;

typedef struct wsi_node_gpus {
    int has_meter;    /* 1: sent by the node's local rank 0 (the only rank with a meter) */
    int node;
    int metered, left_out; /* how many GPUs the meter read and left out, listed or not */
    int n;            /* entries in gpu[], <= WSI_NODE_GPUS_MAX, the metered first */
    int truncated;    /* metered + left_out > n */
    wsi_node_gpu gpu[WSI_NODE_GPUS_MAX];
} wsi_node_gpus;

/* This rank's report: meter's GPUs (NULL: a rank without a meter, has_meter 0). Whole
 * bytes are set (no uninitialised padding travels). Cannot fail. */
void wsi_node_gpus_report(wsi_node_gpus *out, const ws_meter *meter, int node);

/* per_node[k] (nodes entries) = the report of node k's rank with a meter (the first, in
 * rank order), its strings terminated here (bytes from other processes); has_meter 0 where
 * no rank of node k sent one. reports has `world` entries. Cannot fail. */
void wsi_node_gpus_of_world(wsi_node_gpus *per_node, int nodes, const wsi_node_gpus *reports, int world);

/* Collective (every rank, with its meter or NULL): every rank's report to rank `root`
 * (ws_world_gather_bytes), then wsi_node_gpus_of_world into root's per_node (nodes =
 * ws_world_nodes entries); per_node is left alone, and may be NULL, on the other ranks.
 * WS_EINVAL: per_node NULL on root; the world's errors otherwise. */
ws_status wsi_node_gpus_gather(ws_world *w, const ws_meter *meter, wsi_node_gpus *per_node, int nodes, int root,
                               ws_error *err);

#endif

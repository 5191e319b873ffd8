/* train/meter_gpus.c - the GPUs a node's meter reads; contract in train/meter_gpus.h. */
#include "train/meter_gpus.h"

#include "core/error.h"
#include "wattscale/energy.h"

#include <stdio.h>
#include <string.h>

const char *wsi_meter_gpus_name(ws_meter_gpus mode) { return mode == WS_METER_GPUS_ALL ? "all" : "used"; }

ws_status wsi_meter_gpus_gather(ws_world *w, const char *uuid, wsi_rank_gpu *table, ws_error *err) {
    wsi_rank_gpu mine;
    memset(&mine, 0, sizeof mine); /* whole bytes travel: no uninitialised padding */
    mine.node = ws_world_node(w);
    snprintf(mine.uuid, sizeof mine.uuid, "%s", uuid ? uuid : "");
    return ws_world_allgather_bytes(w, &mine, sizeof mine, table, err);
}

ws_status wsi_meter_gpus_of_node(const wsi_rank_gpu *table, int world, int node, char (*out)[96], size_t *n_out,
                                 ws_error *err) {
    *n_out = 0;
    for (int r = 0; r < world; r++) {
        if (table[r].node != node) continue;
        char raw[sizeof table[r].uuid + 1];
        memcpy(raw, table[r].uuid, sizeof table[r].uuid);
        raw[sizeof table[r].uuid] = '\0'; /* bytes from another process: terminate them ourselves */
        if (!raw[0]) continue;            /* a rank without a GPU */
        char id[96];
        if (ws_gpu_uuid_normalize(id, sizeof id, raw) != 0)
            return wsi_error(err, WS_EINVAL, "rank %d's GPU UUID '%s' is not one (GPU-xxxxxxxx-xxxx-...): cannot "
                             "choose the GPUs to meter; --meter-gpus all meters every GPU of the node", r, raw);
        int seen = 0;
        for (size_t k = 0; k < *n_out && !seen; k++) seen = !strcmp(out[k], id);
        if (!seen) snprintf(out[(*n_out)++], sizeof out[0], "%s", id);
    }
    return WS_OK;
}

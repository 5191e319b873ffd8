/* train/meter_gpus.c - the GPUs a node's meter reads, and every node's lists for the run
 * record; contract in train/meter_gpus.h. */
#include "train/meter_gpus.h"

#include "core/error.h"
#include "wattscale/energy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wsi_meter_gpus_name(ws_meter_gpus mode) { return mode == WS_METER_GPUS_ALL ? "all" : "used"; }

/* An allgather, not a gather to one rank: every node's meter rank (its local rank 0) needs
 * the entries of its own node's ranks, which can be any ranks (the launcher places them),
 * and dist/world.h has no node-local collective; the other ranks check the same table, so a
 * malformed UUID fails on every rank alike. At 92 bytes a rank (a node GPU list has 2.6 KB)
 * a 256-rank tcp world moves about 6 MB through rank 0, once per run. */
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

static void add_gpu(wsi_node_gpus *out, const char *id, const char *reason, int metered) {
    if (out->n == WSI_NODE_GPUS_MAX) {
        out->truncated = 1;
        return;
    }
    wsi_node_gpu *g = &out->gpu[out->n++];
    snprintf(g->id, sizeof g->id, "%s", id);
    snprintf(g->reason, sizeof g->reason, "%s", reason);
    g->metered = metered;
}

void wsi_node_gpus_report(wsi_node_gpus *out, const ws_meter *meter, int node) {
    memset(out, 0, sizeof *out);
    out->node = node;
    if (!meter) return;
    out->has_meter = 1;
    for (size_t i = 0; i < ws_meter_device_count(meter); i++) {
        const ws_device_info *d = ws_meter_device(meter, i);
        if (d->domain != WS_DOMAIN_GPU) continue;
        out->metered++;
        add_gpu(out, d->id, "", 1);
    }
    for (size_t i = 0; i < ws_meter_left_out_count(meter); i++) {
        const ws_left_out_device *d = ws_meter_left_out(meter, i);
        if (d->domain != WS_DOMAIN_GPU) continue;
        out->left_out++;
        add_gpu(out, d->id, d->reason, 0);
    }
}

void wsi_node_gpus_of_world(wsi_node_gpus *per_node, int nodes, const wsi_node_gpus *reports, int world) {
    for (int k = 0; k < nodes; k++) {
        memset(&per_node[k], 0, sizeof per_node[k]);
        per_node[k].node = k;
    }
    for (int r = 0; r < world; r++) {
        const wsi_node_gpus *x = &reports[r];
        if (!x->has_meter || x->node < 0 || x->node >= nodes || per_node[x->node].has_meter) continue;
        wsi_node_gpus *y = &per_node[x->node];
        *y = *x;
        /* another process's numbers and strings: bound and terminate them here */
        if (y->n < 0 || y->n > WSI_NODE_GPUS_MAX) y->n = y->n < 0 ? 0 : WSI_NODE_GPUS_MAX;
        if (y->metered < 0) y->metered = 0;
        if (y->left_out < 0) y->left_out = 0;
        y->truncated = y->truncated || y->metered + y->left_out > y->n;
        for (int i = 0; i < y->n; i++) {
            y->gpu[i].id[sizeof y->gpu[i].id - 1] = '\0';
            y->gpu[i].reason[sizeof y->gpu[i].reason - 1] = '\0';
            y->gpu[i].metered = y->gpu[i].metered != 0;
        }
    }
}

ws_status wsi_node_gpus_gather(ws_world *w, const ws_meter *meter, wsi_node_gpus *per_node, int nodes, int root,
                               ws_error *err) {
    int world = ws_world_size(w), on_root = ws_world_rank(w) == root;
    if (on_root && !per_node) return wsi_error(err, WS_EINVAL, "wsi_node_gpus_gather: per_node is NULL on root");
    wsi_node_gpus mine;
    wsi_node_gpus_report(&mine, meter, ws_world_node(w));
    /* the reports reach root alone (the record's writer): an allgather would move
     * world x world x 2.6 KB through a tcp world's rank 0, 170 MB at 256 ranks */
    wsi_node_gpus *all = NULL;
    if (on_root && !(all = malloc((size_t)world * sizeof *all)))
        /* root skips the collective: the caller's error aborts the world */
        return wsi_error(err, WS_ENOMEM, "no memory for %d ranks' GPU lists", world);
    ws_status st = ws_world_gather_bytes(w, &mine, sizeof mine, all, root, err);
    if (st == WS_OK && on_root) wsi_node_gpus_of_world(per_node, nodes, all, world);
    free(all);
    return st;
}

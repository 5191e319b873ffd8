/* analysis/allreduce.h - the time of a gradient all-reduce from an alpha-beta model, the
 * model's parameters (assumptions that name their source, or figures fitted to measured
 * timings), and the two files that carry them.
 * defines: ws_link, ws_network, ws_network_default, ws_allreduce_algo, ws_allreduce_algo_name,
 * ws_allreduce_parse_algo, ws_allreduce_ring_s, ws_allreduce_tree_s, ws_allreduce_s,
 * ws_allreduce_buckets, ws_ar_point, ws_ar_set, ws_ar_timings, ws_ar_timings_load,
 * ws_ar_timings_free, ws_ar_set_fit, ws_ar_fit, ws_network_fit, ws_network_load,
 * ws_network_write, ws_link_json, ws_network_describe.
 * Implementation: analysis/allreduce.c (the model), analysis/allreduce_fit.c (fits, files).
 *
 * The model. n bytes are summed over p ranks on N nodes of g = p / N GPUs each:
 *   ring: T = c + 2(p - N) a_intra + 2(N - 1) a_inter + 2(p - 1)/p n b
 *   tree: T = c + 2((g - 1) a_intra + ceil(log2 N) a_inter) + 2 n b
 * (Thakur, Rabenseifner and Gropp 2005 for the bandwidth terms; the latency terms are laid
 * out as in NCCL's own tuning model, src/graph/tuning.cc: a ring all-reduce has 2(p - 1)
 * steps of which 2(N - 1) cross a node boundary; NCCL's tree is a chain inside a node and a
 * double binary tree across nodes.) c is the per-call latency, a the latency of one step over
 * a hop, b the inverse bus bandwidth (s/byte) of the slowest link the data crosses: b_intra
 * on one node, max(b_intra, b_inter) across nodes. A ring pushes the same bytes through each
 * node's network interfaces as through each GPU, so b_inter = 1 / (the node's NIC bandwidth).
 * NCCL's "bus bandwidth" (nccl-tests: algbw x 2(p-1)/p) is 1/b for a large ring all-reduce.
 * p = 1 costs nothing. AUTO takes the faster of the two, as NCCL's tuner does.
 *
 * Gradients are averaged in buckets (dist/grad_sync.h: 25 MB, PyTorch DDP's bucket_cap_mb);
 * each bucket is one all-reduce, so a step pays the latency once per bucket. */
#ifndef WS_ANALYSIS_ALLREDUCE_H
#define WS_ANALYSIS_ALLREDUCE_H

#include <stddef.h>

#include "analysis/fit.h"
#include "wattscale/status.h"

typedef struct {
    double call_s;                                    /* per-call latency c, s */
    double alpha_s;                                   /* per-step latency a of one hop, s */
    double beta_s_per_byte;                           /* inverse bus bandwidth b, s/byte */
    double call_se_s, alpha_se_s, beta_se_s_per_byte; /* standard errors of a fit; NAN: not fitted */
    int measured;     /* 1: fitted to timings measured on a machine (source says which); 0: assumed */
    char source[480]; /* where each figure comes from, in words */
} ws_link;

typedef struct {
    ws_link intra; /* GPUs of one node (NVLink, PCIe; shared memory on the CPU backend) */
    ws_link inter; /* between nodes (InfiniBand, Ethernet) */
} ws_network;

/* Assumptions, not measurements, each naming its source: intra-node bus bandwidth 329 GB/s
 * (facts.md: NCCL all-reduce of 1 GiB over 2 H100s with NVLink, measured in an earlier
 * session; its only measured figure), latencies from NCCL's tuning model (per call 8.4 us,
 * per NVLink ring step 3.4 us, per network ring step 14 us: Simple protocol), inter-node
 * bandwidth inter_gbit_s Gb/s per node (InfiniBand HDR: 200) at line rate. */
ws_network ws_network_default(double inter_gbit_s);

typedef enum { WS_ALLREDUCE_AUTO = 0, WS_ALLREDUCE_RING, WS_ALLREDUCE_TREE } ws_allreduce_algo;
const char *ws_allreduce_algo_name(ws_allreduce_algo a); /* "auto", "ring", "tree" */
/* "auto" | "ring" | "tree" (NCCL's spelling "Ring", "Tree" too) -> 0; -1 for anything else */
int ws_allreduce_parse_algo(const char *s, ws_allreduce_algo *out);

/* The closed forms above; gpus >= 1, 1 <= nodes <= gpus, nodes dividing gpus. */
double ws_allreduce_ring_s(const ws_network *net, double bytes, int gpus, int nodes);
double ws_allreduce_tree_s(const ws_network *net, double bytes, int gpus, int nodes);
/* algo's time; for AUTO the faster one, named in *used (may be NULL). */
double ws_allreduce_s(const ws_network *net, double bytes, int gpus, int nodes, ws_allreduce_algo algo,
                      ws_allreduce_algo *used);

/* A step's gradients, total_bytes in buckets of bucket_bytes: full buckets first (the order
 * backward finishes them), the remainder last. *total_s is the sum of the buckets' times,
 * *last_s the time of the last bucket (the one that cannot overlap backward), *n_buckets their
 * count; *used the algorithm of the largest bucket. */
void ws_allreduce_buckets(const ws_network *net, double total_bytes, double bucket_bytes, int gpus, int nodes,
                          ws_allreduce_algo algo, double *total_s, double *last_s, int *n_buckets,
                          ws_allreduce_algo *used);

/* ---- measured timings (bench/dist/allreduce_nccl.c writes them) and the fit ---- */

typedef struct {
    double bytes, time_s; /* message size; median time of one all-reduce */
} ws_ar_point;

typedef struct {
    int gpus, nodes;
    char algo[16]; /* NCCL_ALGO during the set: "Ring", "Tree", or "default" */
    ws_ar_point *points;
    size_t n_points;
} ws_ar_set;

typedef struct {
    char gpu[128], host[128], written_at[32], library[64];
    ws_ar_set *sets;
    size_t n_sets;
} ws_ar_timings;

/* Reads a "wattscale.allreduce-timings/1" file; WS_EFORMAT names the field that is wrong. */
ws_status ws_ar_timings_load(const char *path, ws_ar_timings *out, ws_error *err);
void ws_ar_timings_free(ws_ar_timings *t); /* NULL is a no-op */

typedef struct {
    int gpus, nodes;
    ws_linfit line;          /* time_s = intercept + slope x bytes over the sizes used */
    double max_rel_residual; /* largest |measured - line| / measured over those sizes */
} ws_ar_set_fit;

typedef struct {
    ws_link intra, inter; /* fitted links; measured = 0 where no set informed one */
    int have_intra, have_inter;
    ws_ar_set_fit sets[32];
    size_t n_sets;
    char note[512]; /* what could not be separated, and what was assumed for it */
} ws_ar_fit;

/* Fits the ring model to the sets whose algo is "Ring" (else, when there are none, every
 * set, noted), over sizes in [min_bytes, max_bytes]: per set a line T = A + B n (GSL, at least
 * 3 sizes); on one node b = B p / (2(p - 1)) and A = c + 2(p - 1) a, c and a separated by a
 * second line over the GPU counts when there are two or more (else a = A / (2(p - 1)), c = 0,
 * noted); across nodes b_inter from B and a_inter from A with the intra-node figures (fitted,
 * or taken from `assumed` when no one-node set exists). WS_EINVAL when no set has 3 sizes in
 * the window or more than one GPU. */
ws_status ws_network_fit(const ws_ar_timings *t, double min_bytes, double max_bytes, const ws_network *assumed,
                         ws_ar_fit *out, ws_error *err);

/* A link as the model file holds it (cJSON object, the caller's): call_s, alpha_s,
 * beta_s_per_byte, bus_gb_per_s, their standard errors (null: not fitted), measured, source. */
struct cJSON;
struct cJSON *ws_link_json(const ws_link *l);

/* Writes a "wattscale.allreduce-model/1" file with the fitted links and each set's line. */
ws_status ws_network_write(const char *path, const ws_ar_fit *fit, const ws_ar_timings *from, const char *from_path,
                           double min_bytes, double max_bytes, ws_error *err);
/* Reads a "wattscale.allreduce-model/1" file into net: the links it holds ("intra_node",
 * "inter_node") replace net's, the others stay as they were. WS_EFORMAT on a bad field. */
ws_status ws_network_load(const char *path, ws_network *net, ws_error *err);

/* One line per link: "intra-node: c 8.4 us, a 3.4 us/step, 329 GB/s bus (assumed: ...)". */
void ws_network_describe(const ws_network *net, char *out, size_t size);

#endif

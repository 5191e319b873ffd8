/* analysis/allreduce.c - the alpha-beta all-reduce model and its assumed parameters;
 * contract and formulas in analysis/allreduce.h. Fits and files: analysis/allreduce_fit.c. */
#include "analysis/allreduce.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* NCCL's tuning model (src/graph/tuning.cc, NCCL 2.x): baseLat of Ring/Simple, and hwLat of
 * Ring/Simple over NVLink and over the network, in microseconds. Large gradient buckets use
 * the Simple protocol. */
#define NCCL_BASE_LAT_RING_SIMPLE_US 8.4
#define NCCL_HWLAT_NVLINK_RING_SIMPLE_US 3.4
#define NCCL_HWLAT_NET_RING_SIMPLE_US 14.0
/* facts.md: NCCL all-reduce of 1 GiB over 2 H100 80GB (NVLink), bus bandwidth */
#define FACTS_H100_PAIR_BUS_GB_S 329.0

ws_network ws_network_default(double inter_gbit_s) {
    ws_network n;
    memset(&n, 0, sizeof n);
    ws_link *l = &n.intra;
    l->call_s = NCCL_BASE_LAT_RING_SIMPLE_US * 1e-6;
    l->alpha_s = NCCL_HWLAT_NVLINK_RING_SIMPLE_US * 1e-6;
    l->beta_s_per_byte = 1 / (FACTS_H100_PAIR_BUS_GB_S * 1e9);
    snprintf(l->source, sizeof l->source,
             "assumed: bus bandwidth 329 GB/s from facts.md (NCCL all-reduce of 1 GiB over 2 H100s with NVLink, "
             "measured in an earlier session; not measured on this card or for more GPUs); latencies %.1f us per "
             "call and %.1f us per step from NCCL's tuning model (Ring, Simple, NVLink), not measured",
             NCCL_BASE_LAT_RING_SIMPLE_US, NCCL_HWLAT_NVLINK_RING_SIMPLE_US);
    l = &n.inter;
    l->call_s = NCCL_BASE_LAT_RING_SIMPLE_US * 1e-6;
    l->alpha_s = NCCL_HWLAT_NET_RING_SIMPLE_US * 1e-6;
    l->beta_s_per_byte = 8 / (inter_gbit_s * 1e9);
    snprintf(l->source, sizeof l->source,
             "assumed: %g Gb/s per node at line rate (%s), latency %.1f us per step from NCCL's tuning model (Ring, "
             "Simple, network), not measured",
             inter_gbit_s, fabs(inter_gbit_s - 200) < 1e-9 ? "InfiniBand HDR, one 200 Gb/s port per node" : "given",
             NCCL_HWLAT_NET_RING_SIMPLE_US);
    n.intra.call_se_s = n.intra.alpha_se_s = n.intra.beta_se_s_per_byte = NAN;
    n.inter.call_se_s = n.inter.alpha_se_s = n.inter.beta_se_s_per_byte = NAN;
    return n;
}

const char *ws_allreduce_algo_name(ws_allreduce_algo a) {
    return a == WS_ALLREDUCE_RING ? "ring" : a == WS_ALLREDUCE_TREE ? "tree" : "auto";
}

int ws_allreduce_parse_algo(const char *s, ws_allreduce_algo *out) {
    if (!strcasecmp(s, "auto"))
        *out = WS_ALLREDUCE_AUTO;
    else if (!strcasecmp(s, "ring"))
        *out = WS_ALLREDUCE_RING;
    else if (!strcasecmp(s, "tree"))
        *out = WS_ALLREDUCE_TREE;
    else
        return -1;
    return 0;
}

/* the inverse bandwidth of the slowest link crossed */
static double beta_of(const ws_network *net, int nodes) {
    double b = net->intra.beta_s_per_byte;
    if (nodes > 1 && net->inter.beta_s_per_byte > b) b = net->inter.beta_s_per_byte;
    return b;
}

static double call_of(const ws_network *net, int nodes) { return nodes > 1 ? net->inter.call_s : net->intra.call_s; }

double ws_allreduce_ring_s(const ws_network *net, double bytes, int gpus, int nodes) {
    if (gpus <= 1) return 0;
    double p = gpus, N = nodes < 1 ? 1 : nodes;
    return call_of(net, nodes) + 2 * (p - N) * net->intra.alpha_s + 2 * (N - 1) * net->inter.alpha_s +
           2 * (p - 1) / p * bytes * beta_of(net, nodes);
}

double ws_allreduce_tree_s(const ws_network *net, double bytes, int gpus, int nodes) {
    if (gpus <= 1) return 0;
    double N = nodes < 1 ? 1 : nodes, g = gpus / N;
    return call_of(net, nodes) + 2 * ((g - 1) * net->intra.alpha_s + ceil(log2(N)) * net->inter.alpha_s) +
           2 * bytes * beta_of(net, nodes);
}

double ws_allreduce_s(const ws_network *net, double bytes, int gpus, int nodes, ws_allreduce_algo algo,
                      ws_allreduce_algo *used) {
    double ring = ws_allreduce_ring_s(net, bytes, gpus, nodes), tree = ws_allreduce_tree_s(net, bytes, gpus, nodes);
    ws_allreduce_algo a = algo != WS_ALLREDUCE_AUTO ? algo : tree < ring ? WS_ALLREDUCE_TREE : WS_ALLREDUCE_RING;
    if (used) *used = a;
    return a == WS_ALLREDUCE_TREE ? tree : ring;
}

void ws_allreduce_buckets(const ws_network *net, double total_bytes, double bucket_bytes, int gpus, int nodes,
                          ws_allreduce_algo algo, double *total_s, double *last_s, int *n_buckets,
                          ws_allreduce_algo *used) {
    *total_s = *last_s = 0;
    *n_buckets = 0;
    if (used) *used = algo == WS_ALLREDUCE_AUTO ? WS_ALLREDUCE_RING : algo;
    if (!(total_bytes > 0) || gpus <= 1) return;
    if (!(bucket_bytes > 0) || bucket_bytes > total_bytes) bucket_bytes = total_bytes;
    double full = floor(total_bytes / bucket_bytes), rest = total_bytes - full * bucket_bytes;
    /* a remainder below a millionth of a bucket is rounding, not a bucket */
    if (rest <= 1e-6 * bucket_bytes) rest = 0;
    double t_full = ws_allreduce_s(net, bucket_bytes, gpus, nodes, algo, used);
    double t_rest = rest > 0 ? ws_allreduce_s(net, rest, gpus, nodes, algo, NULL) : 0;
    *n_buckets = (int)full + (rest > 0);
    *total_s = full * t_full + t_rest;
    *last_s = rest > 0 ? t_rest : t_full;
}

void ws_network_describe(const ws_network *net, char *out, size_t size) {
    const ws_link *l[2] = {&net->intra, &net->inter};
    const char *name[2] = {"intra-node", "inter-node"};
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < 2 && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s: %.3g us per call, %.3g us per step, %.4g GB/s bus (%s)",
                              i ? "\n" : "", name[i], l[i]->call_s * 1e6, l[i]->alpha_s * 1e6,
                              1e-9 / l[i]->beta_s_per_byte, l[i]->source);
}

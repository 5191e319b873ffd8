/* analysis/perf.h - what the performance model reads from a run: its step time, energy,
 * phases, memory and start-up, taken from its record ("wattscale.run/1").
 * defines: ws_perf_run, ws_perf_set, ws_perf_from_record, ws_perf_set_free, ws_perf_data_kind.
 * Implementation: analysis/perf.c. The study layer fills a set from a database
 * (study/store_perf.h); tests fill one by hand.
 *
 * Figures not in the record are NAN, never 0. The window is the record's steady state
 * (totals.steady: after the warm-up steps, without start-up) where it has one, else all of
 * its epochs (steady = 0). Energies count every metered domain unless named *_gpu_*. */
#ifndef WS_ANALYSIS_PERF_H
#define WS_ANALYSIS_PERF_H

#include <stddef.h>
#include "wattscale/status.h"

enum { WS_PHASE_OTHER, WS_PHASE_DATA, WS_PHASE_COMPUTE, WS_PHASE_ALLREDUCE_WAIT, WS_PHASES };

typedef struct {
    char run_key[128], status[24];
    char model[32], data[256], data_kind[32]; /* data_kind: "imagenet" of "imagenet:/path" */
    char precision[8], device[8], device_kind[16], hardware[128];
    int world, nodes, ranks_per_node;
    int global_batch, local_batch, accum;
    double data_fraction;
    double parameters; /* of the model */
    /* the window */
    int steady;
    double win_steps, win_time_s, win_samples, win_energy_j, win_energy_gpu_j;
    /* the epochs, summed (rank 0's phase times; phase energies summed over every device) */
    int epochs_run, evals; /* epoch rows; rows with a validation figure */
    double ep_steps, ep_samples, ep_time_s, ep_data_s, ep_compute_s, ep_comm_s;
    double ep_energy_j, ep_energy_gpu_j;
    double phase_j[WS_PHASES];
    /* the whole run (totals) */
    double run_time_s, run_energy_j, run_energy_gpu_j;
    double run_energy_host_j; /* CPU + DRAM: NAN when neither was measured */
    double peak_memory_bytes; /* device.peak_memory_bytes (CUDA runs) */
    double samples_per_epoch; /* of a full epoch (a run given epochs, not steps); NAN otherwise */
} ws_perf_run;

typedef struct {
    ws_perf_run *runs;
    size_t n;
} ws_perf_set;

/* Parses a run record's text; run_key names it in errors (and in out). WS_EFORMAT for text
 * that is not a "wattscale.run/1" object with config, world and totals. */
ws_status ws_perf_from_record(const char *json, const char *run_key, ws_perf_run *out, ws_error *err);
void ws_perf_set_free(ws_perf_set *s); /* NULL is a no-op */

/* "imagenet" for "imagenet:/data/x", "synthetic" for "synthetic". */
void ws_perf_data_kind(const char *data, char *out, size_t size);

#endif

/* train/run_state.h - the state of one run that outlives a step: position, history of
 * epoch rows, running totals (internal to train/).
 * defines: WS_RUN_MAX_CHANNELS, ws_forecast_skill, ws_epoch_row, ws_run_state; used by
 * train.c (fills it), the tasks (train/task.h: their metrics), checkpoint.c (saves and
 * restores it) and run_record.c (writes it as run.json). */
#ifndef WS_TRAIN_RUN_STATE_H
#define WS_TRAIN_RUN_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "wattscale/energy.h"
#include "ops/cuda_ctx.h" /* ws_cuda_conv_planning */

/* Forecast channels the record scores one by one (ERA5's FourCastNet set has 20). */
#define WS_RUN_MAX_CHANNELS 64

/* A forecast's skill at one lead time on the validation split (train/forecast_metrics.h):
 * latitude-weighted RMSE per channel in physical units and ACC per channel, beside
 * persistence's ("the field does not change") on the same samples; the means over channels
 * take RMSE/std (normalised units: channels of different units can be averaged). */
typedef struct {
    int channels;               /* 0: no forecast (a classification row) */
    double samples;
    double rmse_norm, acc, persist_rmse_norm, persist_acc;
    double rmse[WS_RUN_MAX_CHANNELS], acc_c[WS_RUN_MAX_CHANNELS];
    double persist_rmse[WS_RUN_MAX_CHANNELS], persist_acc_c[WS_RUN_MAX_CHANNELS];
} ws_forecast_skill;

typedef struct {
    int epoch;                  /* 1-based */
    long steps;                 /* optimizer steps in this epoch */
    double samples;
    double train_loss, train_top1;
    int evaluated;
    double val_loss, val_top1, val_top5;
    double lr;                  /* at the end of the epoch */
    /* time_s: the epoch's wall time; data_s: the steps' time getting their input, on the host's
     * clock: waiting for the data loader (source -> CPU) and, on CUDA, for uploads not done yet
     * (CPU -> GPU; a batch copied while the step before computed costs nothing here, its
     * hidden loader wait is the record's data.loader_wait_overlapped_s); compute_s: CPU, the
     * host's time in forward, backward and the optimizer; CUDA, the GPU's (events), from the
     * input's conversion to the step's end; comm_s: blocked in the gradient all-reduce */
    double time_s, data_s, compute_s, comm_s;
    /* with evaluated: eval_s, the evaluation's wall time after the epoch (not in time_s:
     * from the broadcast of rank 0's buffers to the scores reduced); eval_data_s, its time
     * waiting for validation samples (the validation loader's wait, or on the direct path,
     * eval_direct, the loading itself) */
    double eval_s, eval_data_s;
    int has_energy;
    double energy_j;            /* all measured devices */
    double energy_by_domain_j[WS_DOMAIN_COUNT];
    int domain_measured[WS_DOMAIN_COUNT];
    char energy_source[24];     /* counter | power_integral | mixed | none */
    /* energy attributed from the power samples to what the ranks were doing (meter phases):
     * 0 other (evaluation, checkpoints), 1 data loading, 2 compute, 3 waiting for the
     * gradient all-reduce; valid with has_energy */
    double phase_energy_j[4];
    ws_forecast_skill skill;    /* forecasting: the evaluation's scores at the first lead (valid
                                   with evaluated); classification leaves channels 0 */
} ws_epoch_row;

typedef struct {
    /* position: the next step to run */
    int epoch;                  /* 0-based epoch in progress */
    long step_in_epoch;
    long total_steps;
    double total_samples;
    /* the epoch in progress (partial sums, kept across a mid-epoch checkpoint) */
    double ep_loss_sum, ep_correct, ep_samples, ep_time_s, ep_data_s, ep_compute_s, ep_comm_s;
    double phase_mark_j[4];     /* cumulative phase energies at the start of the epoch */
    long ep_steps;
    /* totals of earlier sessions of this run (before a resume) */
    double prior_time_s;
    double prior_energy_by_domain_j[WS_DOMAIN_COUNT];
    int prior_domain_measured[WS_DOMAIN_COUNT];
    /* history */
    ws_epoch_row *rows;
    size_t n_rows, cap_rows;
    char status[32];            /* running | completed | target_reached | failed */
    /* energy of the session so far, summed over nodes (filled before each record write) */
    double session_energy_by_domain_j[WS_DOMAIN_COUNT];
    int session_domain_measured[WS_DOMAIN_COUNT];
    /* the world, for the record */
    int world_size, nodes, ranks_per_node;
    char world_backend[16];
    double *node_energy;        /* nodes x (WS_DOMAIN_COUNT energies, WS_DOMAIN_COUNT flags) */
    char *node_hosts;           /* nodes x 64 bytes */
    struct wsi_node_gpus *node_gpus; /* nodes: each node's metered and left-out GPUs (train/meter_gpus.h),
                                 * gathered to rank 0 (the record's writer) once the meters are
                                 * open; NULL before, and always on the other ranks */
    int resumed_times;
    /* this session's steady state, from step `steady_from` (after warm-up: algorithm
     * search, graph capture, caches) to the last training step; not checkpointed */
    int steady_done;
    long steady_from, steady_steps;
    double steady_time_s, steady_samples;
    double steady_data_s;       /* of it, rank 0's data phase (the epochs' data_s) */
    int steady_has_energy;
    double steady_energy_j;
    char steady_energy_source[24];
    /* the device this rank trained on (rank 0's is recorded) */
    char device_name[128], device_uuid[64], device_versions[160];
    double device_peak_bytes;
    ws_cuda_conv_planning conv_planning; /* its choices_file NULL: the copy below */
    char conv_choices_file[4096];
    int cuda_graph;             /* steps ran as a captured graph */
    double gpu_compute_s, gpu_comm_s; /* GPU-clock time of the session's steps */
    double loss_scale;          /* fp16: the final loss scale */
    /* the training data of this session: unreadable files skipped (their samples replaced),
     * and the loader's waiting and decoding time (data/loader.h) */
    double data_corrupt_files, data_substituted, loader_wait_s, loader_decode_s, gpu_decoded;
    int data_threads;
    /* CUDA: the loader's batches through the upload slots (train/upload.h): how many, how
     * many of them were copied while the step before computed, the host's waits for copies
     * (exposed), and its waits for the loader while the GPU computed (hidden; loader_wait_s
     * is then the exposed part only) */
    int has_upload;
    double upload_batches, upload_ahead, upload_wait_s, loader_wait_overlapped_s;
    long skipped_steps;         /* fp16: overflowed steps the optimizer skipped */
    /* forecasting: the channels scored, and the rollout evaluation at the end of training
     * (lead k+1 steps in rollout[k]; recomputed by every session that ends the run, so not
     * checkpointed) */
    int fc_channels;
    char fc_names[WS_RUN_MAX_CHANNELS][16];
    double fc_std[WS_RUN_MAX_CHANNELS];
    double fc_dt_hours;
    ws_forecast_skill *rollout;
    int n_rollout;
} ws_run_state;

#endif
